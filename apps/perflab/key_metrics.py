"""Problem 4, the key metrics cache: the audited figures, the shipped ones computed (cold) and read from Redis (warm).

Notebook 04 charts ``scale``; ``perf_bench`` calls ``bench_rows`` for its ``get_key_metrics`` rows.
"""

from __future__ import annotations

from apps.perflab import baselines, floors, series
from apps.perflab.bench import Row, count_statements, require_same
from apps.perflab.datagen import DatasetSpec
from apps.perflab.timing import compare, measure
from apps.perflab.variants import END_DATE, RANGE, first_team, on_team

SIZES = (5, 25, 50, 100, 200)


def spec_for(members: int) -> DatasetSpec:
    return DatasetSpec(teams=1, members_per_team=members, prs_per_member=20, days=90, seed=4, end_date=END_DATE)


def cold(team):
    """The shipped figures computed, whatever Redis holds."""
    from apps.metrics.services import dashboard_service

    return lambda: dashboard_service.compute_key_metrics(team, [RANGE])[0]


def warm(seeded):
    from apps.metrics.services import dashboard_service

    team = first_team(seeded)
    dashboard_service.get_key_metrics(team, *RANGE)  # the first load fills Redis
    return lambda: dashboard_service.get_key_metrics(team, *RANGE)


def variants() -> dict:
    return {
        "baseline": on_team(baselines.get_key_metrics),
        "fix, cold": lambda seeded: cold(first_team(seeded)),
        "fix, warm": warm,
    }


def scale(sizes=SIZES, *, repeat: int = 9, progress: bool = False):
    return series.scale_series(sizes, spec_for, variants(), repeat=repeat, progress=progress)


def bench_rows(team, size: str, repeat: int) -> list[Row]:
    from apps.metrics.services import dashboard_service

    args = (team, *RANGE)
    computed = cold(team)
    statements, fixed = count_statements(computed)
    baseline_statements, expected = count_statements(lambda: baselines.get_key_metrics(*args))
    require_same("key metrics", fixed, expected, floors.key_metrics_sql(*args))
    versus_baseline = compare(lambda: baselines.get_key_metrics(*args), computed, repeat=repeat)
    versus_floor = compare(computed, lambda: floors.key_metrics_sql(*args), repeat=repeat, labels=("fix", "sql"))
    dashboard_service.get_key_metrics(*args)  # fill Redis
    warm_statements, warm_answer = count_statements(lambda: dashboard_service.get_key_metrics(*args))
    require_same("key metrics (warm)", warm_answer, expected)
    warmed = measure(lambda: dashboard_service.get_key_metrics(*args), repeat=repeat)
    return [
        Row(
            "get_key_metrics (cold)",
            size,
            statements,
            "<= 2",
            statements <= 2,
            median_ms=versus_baseline.b.median_ms,
            p95_ms=versus_baseline.b.p95_ms,
            baseline_statements=baseline_statements,
            baseline_median_ms=versus_baseline.a.median_ms,
            speedup=versus_baseline.median_ratio,
            floor_ratio=versus_floor.median_ratio,
        ),
        Row(
            "get_key_metrics (warm)",
            size,
            warm_statements,
            "0",
            warm_statements == 0,
            median_ms=warmed.median_ms,
            p95_ms=warmed.p95_ms,
            baseline_statements=baseline_statements,
            baseline_median_ms=versus_baseline.a.median_ms,
            speedup=versus_baseline.a.median_ms / warmed.median_ms if warmed.median_ms else None,
        ),
    ]
