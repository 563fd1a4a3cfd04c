"""Problem 1, the team breakdown: the audited loop per member, the shipped fix and hand-written SQL.

Notebook 01 charts ``scale``; ``perf_bench`` calls ``bench_row`` for its ``get_team_breakdown`` row.
"""

from __future__ import annotations

from collections.abc import Callable

from apps.perflab import baselines, floors, series
from apps.perflab.bench import Row, count_statements, require_same, settle
from apps.perflab.datagen import DatasetSpec
from apps.perflab.timing import compare
from apps.perflab.variants import END_DATE, RANGE, on_team

SIZES = (5, 10, 25, 50, 100, 200)


def spec_for(members: int) -> DatasetSpec:
    return DatasetSpec(teams=1, members_per_team=members, prs_per_member=20, days=90, seed=11, end_date=END_DATE)


def variants() -> dict:
    from apps.metrics.services import dashboard_service

    return {
        "baseline": on_team(baselines.get_team_breakdown),
        "fix": on_team(dashboard_service.get_team_breakdown),
        "sql": on_team(floors.team_breakdown_sql),
    }


def scale(sizes=SIZES, *, repeat: int = 7, progress: bool = False):
    return series.scale_series(sizes, spec_for, variants(), repeat=repeat, progress=progress)


def bench_row(team, size: str, repeat: int, log: Callable[[str], None]) -> Row:
    """Statements against the baseline, time against the SQL floor (<= 1.5x), settled once if it misses."""
    from apps.metrics.services import dashboard_service

    args = (team, *RANGE)
    statements, fixed = count_statements(lambda: dashboard_service.get_team_breakdown(*args))
    baseline_statements, expected = count_statements(lambda: baselines.get_team_breakdown(*args))
    require_same("team breakdown", fixed, expected, floors.team_breakdown_sql(*args))
    versus_baseline = compare(
        lambda: baselines.get_team_breakdown(*args),
        lambda: dashboard_service.get_team_breakdown(*args),
        repeat=max(3, repeat // 3),
    )

    def measured(runs: int) -> Row:
        versus_floor = compare(
            lambda: dashboard_service.get_team_breakdown(*args),
            lambda: floors.team_breakdown_sql(*args),
            repeat=runs,
            labels=("fix", "sql"),
        )
        return Row(
            "get_team_breakdown",
            size,
            statements,
            "<= 2",
            statements <= 2,
            median_ms=versus_floor.a.median_ms,
            p95_ms=versus_floor.a.p95_ms,
            time_budget="<= 1.5x SQL",
            time_ok=versus_floor.median_ratio <= 1.5,
            baseline_statements=baseline_statements,
            baseline_median_ms=versus_baseline.a.median_ms,
            speedup=versus_baseline.median_ratio,
            floor_ratio=versus_floor.median_ratio,
            time_figure="fix / SQL",
            time_unit="x",
            time_attempts=[versus_floor.median_ratio],
        )

    return settle(measured(repeat), lambda: measured(2 * repeat), log)
