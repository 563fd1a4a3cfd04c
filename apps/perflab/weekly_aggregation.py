"""Problem 7, the weekly aggregation: the audited statements per member against the shipped set-based rollup.

Notebook 07 charts ``scale`` (and checks that both variants write the same rows at every size);
``perf_bench`` calls ``bench_row`` for its ``aggregate_team_weekly_metrics`` row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from apps.perflab import baselines, series
from apps.perflab.bench import Row, count_statements, require_same, settle
from apps.perflab.datagen import DatasetSpec
from apps.perflab.timing import compare, measure
from apps.perflab.variants import END_DATE, first_team

SIZES = (5, 10, 25, 50, 100, 200)
WEEK = dt.date(2026, 3, 16)  # the notebook's week: 16 to 22 March
BENCH_WEEK = dt.date(2026, 3, 23)  # perf_bench's: the last full week of its data


def spec_for(members: int) -> DatasetSpec:
    return DatasetSpec(teams=1, members_per_team=members, prs_per_member=20, days=90, seed=7, end_date=END_DATE)


def rows_of(team, week: dt.date) -> list[tuple]:
    """The week's WeeklyMetrics rows of the team as plain tuples (no id), sorted by member."""
    from apps.metrics.models import WeeklyMetrics
    from apps.metrics.services.aggregation_service import FIGURE_FIELDS

    rows = WeeklyMetrics.objects.filter(team=team, week_start=week)
    return sorted(rows.values_list("member_id", *FIGURE_FIELDS))


def variant(name: str, aggregate: Callable, written: dict, week: dt.date = WEEK):
    """Aggregates the week once from nothing (its rows kept in ``written[members, name]``), then measures re-runs."""
    from apps.metrics.models import WeeklyMetrics

    def make(seeded):
        team = first_team(seeded)
        WeeklyMetrics.objects.filter(team=team).delete()
        aggregate(team, week)
        written[seeded.spec.members_per_team, name] = rows_of(team, week)
        return lambda: aggregate(team, week)

    return make


def scale(sizes=SIZES, *, repeat: int = 5, progress: bool = False):
    """The series, and whether baseline and fix wrote the same rows, by size."""
    from apps.metrics.services import aggregation_service

    written: dict = {}
    frame = series.scale_series(
        sizes,
        spec_for,
        {
            "baseline": variant("baseline", baselines.aggregate_team_weekly_metrics, written),
            "fix": variant("fix", aggregation_service.aggregate_team_weekly_metrics, written),
        },
        repeat=repeat,
        progress=progress,
    )
    return frame, {size: written[size, "baseline"] == written[size, "fix"] for size in sizes}


def bench_row(team, size: str, repeat: int, log: Callable[[str], None]) -> Row:
    from apps.metrics.services.aggregation_service import aggregate_team_weekly_metrics

    week = BENCH_WEEK
    baseline_statements, _ = count_statements(lambda: baselines.aggregate_team_weekly_metrics(team, week))
    expected = rows_of(team, week)
    statements, _ = count_statements(lambda: aggregate_team_weekly_metrics(team, week))
    require_same("weekly aggregation", rows_of(team, week), expected)
    versus_baseline = compare(
        lambda: baselines.aggregate_team_weekly_metrics(team, week),
        lambda: aggregate_team_weekly_metrics(team, week),
        repeat=max(3, repeat // 3),
    )
    timed_200 = "members=200" in size or size.startswith("200")

    def row(timing) -> Row:
        return Row(
            "aggregate_team_weekly_metrics",
            size,
            statements,
            "<= 6",
            statements <= 6,
            median_ms=timing.median_ms,
            p95_ms=timing.p95_ms,
            time_budget="< 150 ms" if timed_200 else "(reported)",
            time_ok=timing.median_ms < 150 if timed_200 else None,
            baseline_statements=baseline_statements,
            baseline_median_ms=versus_baseline.a.median_ms,
            speedup=versus_baseline.median_ratio,
            time_figure="median",
            time_unit="ms",
            time_attempts=[timing.median_ms],
        )

    # Measured again, the fix alone: the baseline's pairs are for the speed-up, not the budget.
    return settle(
        row(versus_baseline.b),
        lambda: row(measure(lambda: aggregate_team_weekly_metrics(team, week), repeat=repeat)),
        log,
    )
