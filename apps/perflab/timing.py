"""Timing: repeated runs with warm-up, database time apart from Python time, and A/B comparisons.

Benchmarks report medians of repeated runs; ``compare`` alternates A and B and takes the ratio
pair by pair, so that drift and noise on a shared machine cancel instead of favouring one side.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.perflab.capture import capture_queries


def milliseconds(seconds: float) -> float:
    return seconds * 1000


def ms_text(value: float | None) -> str:
    """A time in milliseconds as the lab's tables print it: ``12.34 ms``, or ``-`` when there is none."""
    return "-" if value is None else f"{value:.2f} ms"


class DifferentAnswers(AssertionError):
    """Two variants of one operation (a fix and its baseline, or its floor) answered differently on the same data."""


@dataclass(frozen=True)
class Timing:
    """Wall-clock and database seconds of each measured run (warm-up runs excluded)."""

    wall: tuple[float, ...]
    database: tuple[float, ...]
    statements: tuple[int, ...]
    label: str = ""

    @property
    def runs(self) -> int:
        return len(self.wall)

    @property
    def median_ms(self) -> float:
        return milliseconds(statistics.median(self.wall))

    @property
    def p95_ms(self) -> float:
        return milliseconds(float(np.percentile(self.wall, 95)))

    @property
    def min_ms(self) -> float:
        return milliseconds(min(self.wall))

    @property
    def db_median_ms(self) -> float:
        return milliseconds(statistics.median(self.database))

    @property
    def python_median_ms(self) -> float:
        """Median of (wall - database) per run: time spent outside the database driver."""
        return milliseconds(statistics.median(w - d for w, d in zip(self.wall, self.database, strict=True)))

    @property
    def statements_per_run(self) -> int:
        """Statements of the last run (equal across runs for a deterministic operation)."""
        return self.statements[-1] if self.statements else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "runs": self.runs,
            "median_ms": round(self.median_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "min_ms": round(self.min_ms, 3),
            "db_median_ms": round(self.db_median_ms, 3),
            "python_median_ms": round(self.python_median_ms, 3),
            "statements": self.statements_per_run,
        }

    def __str__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return (
            f"{name}median {self.median_ms:.2f} ms (p95 {self.p95_ms:.2f}, min {self.min_ms:.2f}) "
            f"over {self.runs} runs; "
            f"database {self.db_median_ms:.2f} ms, Python {self.python_median_ms:.2f} ms; "
            f"{self.statements_per_run} statements"
        )


def _run_once(fn: Callable[[], Any], using: str) -> tuple[float, float, int]:
    with capture_queries(using, call_sites=False) as capture:
        started = time.perf_counter()
        fn()
        wall = time.perf_counter() - started
    return wall, capture.total_time, capture.count


def _check_counts(repeat: int, warmup: int) -> None:
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    if warmup < 0:
        raise ValueError(f"warmup must not be negative, not {warmup}")


def measure(
    fn: Callable[[], Any], *, repeat: int = 15, warmup: int = 2, label: str = "", using: str = "default"
) -> Timing:
    """Run ``fn`` ``warmup`` times unmeasured, then ``repeat`` times measured."""
    _check_counts(repeat, warmup)
    for _ in range(warmup):
        fn()
    runs = [_run_once(fn, using) for _ in range(repeat)]
    return Timing(
        wall=tuple(r[0] for r in runs),
        database=tuple(r[1] for r in runs),
        statements=tuple(r[2] for r in runs),
        label=label,
    )


@dataclass(frozen=True)
class Comparison:
    """A and B measured alternately; ``ratios[i]`` = A's run i / B's run i."""

    a: Timing
    b: Timing
    ratios: tuple[float, ...]

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a.as_dict(), "b": self.b.as_dict(), "median_ratio": round(self.median_ratio, 3)}

    def __str__(self) -> str:
        names = f"{self.a.label or 'A'} / {self.b.label or 'B'}"
        return f"{self.a}\n{self.b}\n{names}: {self.median_ratio:.1f}x (median of pairs)"


def compare(
    a: Callable[[], Any],
    b: Callable[[], Any],
    *,
    repeat: int = 15,
    warmup: int = 2,
    labels: tuple[str, str] = ("baseline", "fix"),
    using: str = "default",
) -> Comparison:
    """Measure A and B side by side: pairs alternate their order (AB, BA, AB, ...)."""
    _check_counts(repeat, warmup)
    for _ in range(warmup):
        a()
        b()
    a_runs, b_runs = [], []
    for i in range(repeat):
        if i % 2 == 0:
            a_runs.append(_run_once(a, using))
            b_runs.append(_run_once(b, using))
        else:
            b_runs.append(_run_once(b, using))
            a_runs.append(_run_once(a, using))

    def timing(runs, label):
        return Timing(tuple(r[0] for r in runs), tuple(r[1] for r in runs), tuple(r[2] for r in runs), label)

    ratios = tuple(ra[0] / rb[0] for ra, rb in zip(a_runs, b_runs, strict=True))
    return Comparison(a=timing(a_runs, labels[0]), b=timing(b_runs, labels[1]), ratios=ratios)
