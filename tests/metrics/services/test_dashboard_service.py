"""The dashboard service: statement budgets at two sizes, equality with the baselines, the cache.

Budgets (DESIGN.md): ``get_team_breakdown`` <= 2; ``get_key_metrics`` 2 cold, 0 warm;
``get_key_metrics_comparison`` <= 2 cold, 0 warm. Answers equal the pre-fix code in
``apps.perflab.baselines`` on generated data with every awkward case present. The chart
service's tests are ``test_chart_service.py``.
"""

import copy
import datetime as dt
import logging
import statistics
from decimal import Decimal

import pytest

from apps.metrics.factories import (
    PRSurveyFactory,
    PRSurveyReviewFactory,
    TeamMemberFactory,
)
from apps.metrics.models import PRSurvey, PullRequest, TeamMember
from apps.metrics.services import dashboard_service
from apps.metrics.services.dates import previous_period, range_bounds
from apps.metrics.services.numbers import two_places
from apps.metrics.services.team_cache import bump_team_data_version
from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.testing import assert_constant_queries, assert_max_queries
from apps.teams.factories import TeamFactory
from apps.teams.models import Team
from tests.metrics.services.generated import END, HISTORY_DAYS, START, generated_team, merged_on, merged_pr, operation

pytestmark = pytest.mark.django_db

# --- statement counts ---------------------------------------------------------------------------


def test_team_breakdown_statements_do_not_grow_with_the_team():
    prepare, results = operation(dashboard_service.get_team_breakdown)
    captures = assert_constant_queries(prepare, sizes=(5, 50))
    assert captures[0].count <= 2, captures[0].statements()
    assert len(results[5]) >= 4 and len(results[50]) >= 40  # the rows are really there
    assert sum(row["prs_merged"] for row in results[50]) > 0


def test_key_metrics_two_statements_cold_none_warm():
    prepare, results = operation(dashboard_service.get_key_metrics)
    cold = assert_constant_queries(prepare, sizes=(5, 50))
    assert cold[0].count == 2, cold[0].statements()
    assert results[50]["prs_merged"] > 0
    prepare, _ = operation(dashboard_service.get_key_metrics, warm=True)
    warm = assert_constant_queries(prepare, sizes=(5, 50))
    assert warm[0].count == 0, warm[0].statements()


def test_key_metrics_comparison_two_statements_cold_none_warm():
    prepare, results = operation(dashboard_service.get_key_metrics_comparison)
    cold = assert_constant_queries(prepare, sizes=(5, 50))
    assert cold[0].count <= 2, cold[0].statements()
    assert results[50]["current"]["prs_merged"] > 0 and results[50]["previous"]["prs_merged"] > 0
    prepare, _ = operation(dashboard_service.get_key_metrics_comparison, warm=True)
    warm = assert_constant_queries(prepare, sizes=(5, 50))
    assert warm[0].count == 0, warm[0].statements()


# --- equality with the baselines ------------------------------------------------------------------


def _add_awkward_rows(team: Team) -> dict:
    """Rows the generator may not produce at a small size, added so every case is certainly present."""
    day = END - dt.timedelta(days=3)
    inactive = TeamMemberFactory(team=team, display_name="Zed Gone", is_active=False)
    merged_pr(team, inactive, merged_on(day), github_repo="acme/legacy")
    idle = TeamMemberFactory(team=team, display_name="Idle Active", is_active=True)
    authorless = merged_pr(team, None, merged_on(day, 9), github_repo="acme/orphans")
    survey = PRSurveyFactory(pull_request=authorless, author=None, author_ai_assisted=True)
    PRSurveyReviewFactory(survey=survey, reviewer=idle, quality_rating=1)
    someone = TeamMember.objects.filter(team=team, is_active=True).exclude(id=idle.id).first()
    unanswered_pr = merged_pr(team, someone, merged_on(day, 15), github_repo="acme/quiet")
    PRSurveyFactory(pull_request=unanswered_pr, author_ai_assisted=None)
    return {"inactive": inactive, "idle": idle}


def _comparison_ranges():
    full = (END - dt.timedelta(days=HISTORY_DAYS - 1), END)
    return [
        ("last 28 days", START, END),
        ("whole history", *full),
        ("one week mid-history", END - dt.timedelta(days=40), END - dt.timedelta(days=34)),
        ("one day", END - dt.timedelta(days=3), END - dt.timedelta(days=3)),
        ("before any data", dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
        ("reaching past the end", END - dt.timedelta(days=5), END + dt.timedelta(days=20)),
    ]


@pytest.mark.parametrize("seed", [3, 17, 2024])
def test_fixed_services_equal_their_baselines(seed):
    team = generated_team(12, seed=seed, prs_per_member=8)
    awkward = _add_awkward_rows(team)
    # every awkward case is really in the data
    assert PullRequest.objects.filter(team=team, state="merged", author__isnull=True).exists()
    assert PRSurvey.objects.filter(team=team, author_ai_assisted__isnull=True).exists()
    assert TeamMember.objects.filter(team=team, is_active=False, pull_requests__state="merged").exists()

    for name, start, end in _comparison_ranges():
        breakdown = dashboard_service.get_team_breakdown(team, start, end)
        assert breakdown == baselines.get_team_breakdown(team, start, end), name
        metrics = dashboard_service.get_key_metrics(team, start, end)
        assert metrics == baselines.get_key_metrics(team, start, end), name
        comparison = dashboard_service.get_key_metrics_comparison(team, start, end)
        expected = baselines.get_key_metrics_comparison(team, start, end)
        assert comparison["current"] == expected["current"], name
        assert comparison["previous"] == expected["previous"], name
        assert comparison["previous_range"] == previous_period(start, end)
        if name == "last 28 days":
            by_id = {row["member_id"]: row for row in breakdown}
            assert by_id[awkward["inactive"].id]["prs_merged"] == 1  # inactive, but merged in the range
            assert by_id[awkward["idle"].id]["prs_merged"] == 0  # active, nothing merged: a row of zeros
            assert by_id[awkward["idle"].id]["avg_cycle_time"] is None
        if name == "before any data":
            assert metrics["prs_merged"] == 0 and metrics["avg_cycle_time"] is None
            assert all(row["prs_merged"] == 0 for row in breakdown)


# --- the cache ------------------------------------------------------------------------------------


@pytest.fixture
def small_team():
    team = TeamFactory()
    author = TeamMemberFactory(team=team)
    for days_ago in (2, 5, 9):
        pr = merged_pr(team, author, merged_on(END - dt.timedelta(days=days_ago)))
        PRSurveyFactory(pull_request=pr, author_ai_assisted=days_ago != 5)
    return team, author


def test_a_warm_hit_runs_no_statement(small_team):
    team, _ = small_team
    first = dashboard_service.get_key_metrics(team, START, END)
    with assert_max_queries(0):
        again = dashboard_service.get_key_metrics(team, START, END)
    assert again == first == baselines.get_key_metrics(team, START, END)
    pair = dashboard_service.get_key_metrics_comparison(team, START, END)
    with assert_max_queries(0):
        assert dashboard_service.get_key_metrics_comparison(team, START, END) == pair


def test_a_data_change_with_a_version_bump_is_seen_next_time(small_team, django_capture_on_commit_callbacks):
    team, author = small_team
    before = dashboard_service.get_key_metrics(team, START, END)
    pair_before = dashboard_service.get_key_metrics_comparison(team, START, END)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        merged_pr(team, author, merged_on(END - dt.timedelta(days=1)), cycle_time_hours=Decimal("1.00"))
        bump_team_data_version(team.id)
    assert len(callbacks) == 1  # the bump waits for the commit
    with capture_queries() as capture:
        after = dashboard_service.get_key_metrics(team, START, END)
    assert capture.count == 2  # recomputed
    assert after["prs_merged"] == before["prs_merged"] + 1
    assert after == baselines.get_key_metrics(team, START, END)
    pair_after = dashboard_service.get_key_metrics_comparison(team, START, END)
    assert pair_after["current"]["prs_merged"] == pair_before["current"]["prs_merged"] + 1


def test_a_bump_leaves_other_teams_cached(small_team, django_capture_on_commit_callbacks):
    team, _ = small_team
    other = TeamFactory()
    merged_pr(other, TeamMemberFactory(team=other), merged_on(END - dt.timedelta(days=2)))
    dashboard_service.get_key_metrics(team, START, END)
    other_figures = dashboard_service.get_key_metrics(other, START, END)
    with django_capture_on_commit_callbacks(execute=True):
        bump_team_data_version(team.id)
    with assert_max_queries(0):
        assert dashboard_service.get_key_metrics(other, START, END) == other_figures
    with capture_queries() as capture:
        dashboard_service.get_key_metrics(team, START, END)
    assert capture.count == 2


def test_redis_down_falls_back_to_the_database(small_team, settings, caplog, django_capture_on_commit_callbacks):
    team, _ = small_team
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CACHES = caches  # same OPTIONS as tformance/settings.py: exceptions ignored and logged
    expected = baselines.get_key_metrics(team, START, END)
    expected_pair = baselines.get_key_metrics_comparison(team, START, END)
    with caplog.at_level(logging.WARNING):
        with capture_queries() as capture:
            assert dashboard_service.get_key_metrics(team, START, END) == expected
            assert dashboard_service.get_key_metrics(team, START, END) == expected
        pair = dashboard_service.get_key_metrics_comparison(team, START, END)
        with django_capture_on_commit_callbacks(execute=True):
            bump_team_data_version(team.id)  # no exception either
    assert capture.count == 4  # nothing cached: computed from the database each time
    assert pair["current"] == expected_pair["current"] and pair["previous"] == expected_pair["previous"]
    assert any(record.levelno >= logging.WARNING for record in caplog.records), caplog.text


# --- bots ---------------------------------------------------------------------------------------


def test_a_bot_is_not_a_breakdown_row_even_with_merged_prs_but_its_prs_count_for_the_team():
    team = TeamFactory()
    person = TeamMemberFactory(team=team, display_name="Ada")
    bot = TeamMemberFactory(team=team, display_name="dependabot", github_username="dependabot[bot]", is_bot=True)
    merged_at = merged_on(END - dt.timedelta(days=3))
    merged_pr(team, person, merged_at)
    merged_pr(team, bot, merged_at)
    merged_pr(team, bot, merged_at + dt.timedelta(hours=1))

    rows = dashboard_service.get_team_breakdown(team, START, END)
    assert [(row["display_name"], row["prs_merged"]) for row in rows] == [("Ada", 1)]
    assert dashboard_service.get_key_metrics(team, START, END)["prs_merged"] == 3  # the team's figures keep them


def test_medians_are_the_middle_of_each_members_times_not_their_average():
    """Checked against Python's statistics on the rows themselves: not only against the baseline's aggregate."""

    team = generated_team(12, seed=5, prs_per_member=7)
    breakdown = dashboard_service.get_team_breakdown(team, START, END)
    lower, upper = range_bounds(START, END)
    merged = PullRequest.objects.filter(
        team=team, state=PullRequest.State.MERGED, merged_at__gte=lower, merged_at__lt=upper
    )
    compared = 0
    for row in breakdown:
        prs = list(merged.filter(author_id=row["member_id"]))
        times = [pr.cycle_time_hours for pr in prs]
        reviews = [pr.review_time_hours for pr in prs if pr.review_time_hours is not None]
        assert row["median_cycle_time"] == (two_places(statistics.median(times)) if times else None), row
        assert row["median_review_time"] == (two_places(statistics.median(reviews)) if reviews else None), row
        compared += len(times) > 1
    assert compared >= 5  # the medians of several PRs were compared, not only single values
    metrics = dashboard_service.compute_key_metrics(team, [(START, END)])[0]
    assert metrics["median_cycle_time"] == two_places(statistics.median([pr.cycle_time_hours for pr in merged]))
    assert metrics["median_cycle_time"] != metrics["avg_cycle_time"]  # lognormal times: the two differ
