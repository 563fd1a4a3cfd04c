"""Problem 3, the PR export: the audited rows (a statement per PR and more) against the shipped stream.

Notebook 03 charts ``scale`` (statements and latency by rows, a digest of the CSV compared across variants)
and measures the view's throughput and peak memory with ``throughput`` and ``peak_mib``; ``perf_bench``
calls ``bench_row`` for its ``pr_list_export`` row, with the same two.
"""

from __future__ import annotations

import csv
import hashlib
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from apps.perflab import baselines, series
from apps.perflab.bench import Row, settle
from apps.perflab.capture import capture_queries
from apps.perflab.datagen import DatasetSpec
from apps.perflab.variants import END_DATE, first_team

BOTH_UP_TO = (100, 1_000, 10_000)  # the baseline's statement per PR: past 10,000 rows it takes minutes
FIX_ONLY = (100_000,)
THROUGHPUT_BUDGET = 50_000  # rows per second, timed from 100,000 rows


class Echo:
    """A pseudo-buffer: csv.writer returns each line instead of storing it."""

    def write(self, line):
        return line


def csv_digest(rows) -> tuple[int, str]:
    """Rows and SHA-256 of the CSV text: equal digests mean the same rows, in the same order."""
    writer, digest, count = csv.writer(Echo()), hashlib.sha256(), 0
    for row in rows:
        digest.update(writer.writerow(row).encode())
        count += 1
    return count - 1, digest.hexdigest()  # the header is not a row


def spec_for(rows: int) -> DatasetSpec:
    return DatasetSpec(teams=1, members_per_team=50, prs_per_member=rows // 50, days=100, seed=3, end_date=END_DATE)


def variant(export: Callable):
    def make(seeded):
        team = first_team(seeded)
        return lambda: csv_digest(export(team, start=seeded.spec.start_date, end=seeded.spec.end_date))

    return make


def scale(both=BOTH_UP_TO, fix_only=FIX_ONLY) -> pd.DataFrame:
    """Baseline and fix up to 10,000 rows, the fix alone past that; each export run once (no warm-up)."""
    from apps.metrics.services.pr_list_service import export_rows

    runs = {"repeat": 1, "warmup": 0, "progress": False}
    together = series.scale_series(
        both, spec_for, {"baseline": variant(baselines.pr_export_rows), "fix": variant(export_rows)}, **runs
    )
    alone = series.scale_series(fix_only, spec_for, {"fix": variant(export_rows)}, **runs)
    return pd.concat([together, alone], ignore_index=True)


def peak_mib(operation: Callable[[], Any]) -> float:
    """The most memory Python held while ``operation`` ran, in MiB."""
    tracemalloc.start()
    try:
        operation()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@dataclass(frozen=True)
class Throughput:
    rows: int
    median_s: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.median_s


def throughput(export: Callable[[], Any], rows: int, runs: int) -> Throughput:
    """The median of ``runs`` whole exports (no warm-up: the caller has run it once), as rows per second."""
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        export()
        durations.append(time.perf_counter() - started)
    return Throughput(rows, statistics.median(durations))


def bench_row(team, log: Callable[[str], None]) -> Row:
    """The shipped export streamed as the view streams it: one statement, throughput from 100,000 rows, peak memory."""
    from apps.metrics.services.pr_list_service import csv_chunks, export_rows

    def stream() -> int:
        return sum(len(chunk) for chunk in csv_chunks(export_rows(team)))

    with capture_queries(call_sites=False) as capture:
        stream()
    rows = sum(1 for _ in export_rows(team)) - 1
    peak = peak_mib(stream)
    timed = rows >= 100_000

    def measured(runs: int) -> Row:
        timing = throughput(stream, rows, runs)
        rate = timing.rows_per_s
        return Row(
            "pr_list_export",
            f"{rows:,} rows",
            capture.count,
            "1",
            capture.count == 1,
            median_ms=timing.median_s * 1000,
            time_budget=">= 50k rows/s" if timed else "(reported)",
            time_ok=rate >= THROUGHPUT_BUDGET if timed else None,
            extra={"rows": rows, "rows_per_s": round(rate), "peak_mib": round(peak, 2)},
            time_figure="throughput",
            time_unit="rows/s",
            time_attempts=[rate],
        )

    return settle(measured(3), lambda: measured(7), log)
