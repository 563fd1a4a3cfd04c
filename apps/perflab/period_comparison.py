"""Problem 5, the period comparison: the audited eight statements, both periods in one round (cold), the pair warm.

Notebook 05 charts ``scale``; ``perf_bench`` calls ``bench_rows`` for ``get_key_metrics_comparison`` and the
same round planned as a stock PostgreSQL would.
"""

from __future__ import annotations

from apps.perflab import baselines, series
from apps.perflab.bench import Row, count_statements, require_same
from apps.perflab.datagen import DatasetSpec
from apps.perflab.planner import POSTGRES_DEFAULTS, planner_settings
from apps.perflab.timing import compare
from apps.perflab.variants import END_DATE, RANGE, first_team, on_team

SIZES = (5, 25, 50, 100, 200)


def spec_for(members: int) -> DatasetSpec:
    return DatasetSpec(teams=1, members_per_team=members, prs_per_member=20, days=90, seed=5, end_date=END_DATE)


def one_round(team):
    """Both periods' figures computed in one round of statements, whatever Redis holds."""
    from apps.metrics.services import dashboard_service
    from apps.metrics.services.dates import previous_period

    periods = [RANGE, previous_period(*RANGE)]

    def run():
        current, previous = dashboard_service.compute_key_metrics(team, periods)
        return {"current": current, "previous": previous}

    return run


def warm_pair(seeded):
    from apps.metrics.services import dashboard_service

    team = first_team(seeded)
    dashboard_service.get_key_metrics_comparison(team, *RANGE)

    def run():
        pair = dashboard_service.get_key_metrics_comparison(team, *RANGE)
        return {"current": pair["current"], "previous": pair["previous"]}

    return run


def variants() -> dict:
    return {
        "baseline": on_team(baselines.get_key_metrics_comparison),
        "fix, cold": lambda seeded: one_round(first_team(seeded)),
        "fix, warm": warm_pair,
    }


def scale(sizes=SIZES, *, repeat: int = 9, progress: bool = False):
    return series.scale_series(sizes, spec_for, variants(), repeat=repeat, progress=progress)


def bench_rows(team, size: str, repeat: int) -> list[Row]:
    cold = one_round(team)

    def cold_stock_planner():
        with planner_settings(**POSTGRES_DEFAULTS):
            return cold()

    statements, fixed = count_statements(cold)
    baseline_statements, expected = count_statements(lambda: baselines.get_key_metrics_comparison(team, *RANGE))
    require_same("period comparison", fixed, expected, cold_stock_planner())
    versus_baseline = compare(lambda: baselines.get_key_metrics_comparison(team, *RANGE), cold, repeat=repeat)
    versus_stock = compare(cold_stock_planner, cold, repeat=repeat, labels=("stock planner", "shipped"))
    return [
        Row(
            "get_key_metrics_comparison",
            size,
            statements,
            "<= 2",
            statements <= 2,
            median_ms=versus_baseline.b.median_ms,
            p95_ms=versus_baseline.b.p95_ms,
            baseline_statements=baseline_statements,
            baseline_median_ms=versus_baseline.a.median_ms,
            speedup=versus_baseline.median_ratio,
        ),
        Row(
            "comparison, stock PG planner",
            size,
            None,
            "",
            None,
            median_ms=versus_stock.a.median_ms,
            p95_ms=versus_stock.a.p95_ms,
            time_budget=f"{versus_stock.median_ratio:.1f}x shipped",
            extra={
                "settings": POSTGRES_DEFAULTS,
                "shipped_median_ms": versus_stock.b.median_ms,
                "stock_over_shipped": versus_stock.median_ratio,
            },
        ),
    ]
