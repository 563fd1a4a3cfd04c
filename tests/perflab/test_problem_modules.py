"""Each audit problem's lab module: the experiment its notebook charts and perf_bench reports, at small sizes.

The rows must hold their statement budgets, compare with the baseline's statements (more of them), and raise
``DifferentAnswers`` rather than report a fix that answers differently.
"""

import pytest

from apps.perflab import (
    copilot_sync,
    key_metrics,
    period_comparison,
    pr_export,
    team_breakdown,
    tour,
    weekly_aggregation,
)
from apps.perflab.datagen import DatasetSpec, generate
from apps.perflab.variants import END_DATE
from apps.teams.models import Team


def quiet(_line):
    pass


def small_team():
    spec = DatasetSpec(members_per_team=6, prs_per_member=8, days=60, seed=13, end_date=END_DATE)
    return Team.objects.get(pk=generate(spec, progress=False).team_ids[0])


@pytest.fixture
def team(db):
    return small_team()


def test_the_dashboard_reads_hold_their_budgets_and_beat_the_baseline(team):
    row = team_breakdown.bench_row(team, "6 members", repeat=2, log=quiet)
    assert (row.path, row.statements_ok) == ("get_team_breakdown", True) and row.statements <= 2
    assert row.baseline_statements > 6  # a statement per member at least
    cold, warm = key_metrics.bench_rows(team, "6 members", repeat=2)
    assert cold.statements <= 2 < cold.baseline_statements and (warm.statements, warm.statements_ok) == (0, True)
    comparison, stock = period_comparison.bench_rows(team, "6 members", repeat=2)
    assert comparison.statements <= 2 < comparison.baseline_statements
    assert stock.extra["stock_over_shipped"] > 0


def test_the_weekly_aggregation_and_the_export_hold_their_budgets(team):
    row = weekly_aggregation.bench_row(team, "6 members", repeat=3, log=quiet)
    assert row.statements_ok and row.statements <= 6 < row.baseline_statements
    export = pr_export.bench_row(team, quiet)
    assert (export.statements, export.extra["rows"]) == (1, team.pull_requests.count())
    assert export.time_ok is None  # timed from 100,000 rows only


@pytest.mark.django_db(transaction=True)
def test_the_copilot_rows_come_from_the_one_measurement():
    # committed for real: the client keeps a response's validators only once its rows are committed (on_commit)
    team = small_team()
    cold, unchanged = copilot_sync.bench_rows(team, 6, quiet)
    members = team.members.exclude(github_username="").count()
    assert cold.statements == 3 and cold.extra["rows_written"] == members * len(copilot_sync.DAYS)
    assert cold.baseline_statements >= 5 * members * len(copilot_sync.DAYS)  # + savepoints inside a test
    assert (unchanged.statements, unchanged.extra["rows_written"]) == (0, 0)
    assert unchanged.extra["not_modified"] == unchanged.extra["requests"]


@pytest.mark.django_db
def test_a_scale_series_counts_constant_statements_for_the_fix_and_growing_ones_for_the_baseline():
    frame = tour.scale((3, 6), repeat=1)
    statements = frame.pivot(index="size", columns="variant", values="statements")
    assert list(statements["fix"]) == [1, 1]
    assert list(statements["baseline"]) == [3, 6]
