"""Dashboard and chart services: statement budgets at two sizes, equality with the baselines, the cache.

Budgets (DESIGN.md): ``get_team_breakdown`` <= 2; ``get_key_metrics`` 2 cold, 0 warm;
``get_key_metrics_comparison`` <= 2 cold, 0 warm; each chart series 1. Answers equal the
pre-fix code in ``apps.perflab.baselines`` (and, for the charts, a plain Python computation)
on generated data with every awkward case present.
"""

import copy
import datetime as dt
import itertools
import logging
import statistics
from collections import defaultdict
from decimal import Decimal

import pytest

from apps.metrics.factories import (
    PRSurveyFactory,
    PRSurveyReviewFactory,
    PullRequestFactory,
    TeamMemberFactory,
)
from apps.metrics.models import PRSurvey, PullRequest, TeamMember
from apps.metrics.services import chart_service, dashboard_service
from apps.metrics.services.dates import monday_of, previous_period, range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.metrics.services.team_cache import bump_team_data_version
from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.datagen import DatasetSpec, generate
from apps.perflab.testing import assert_constant_queries, assert_max_queries
from apps.teams.factories import TeamFactory
from apps.teams.models import Team

pytestmark = pytest.mark.django_db

END = dt.date(2025, 6, 30)  # a Monday: the last week of the history has one day
HISTORY_DAYS = 70
START = END - dt.timedelta(days=27)  # the last 28 days; the 28 before them hold data too
_prefixes = itertools.count(1)


def _generated_team(members: int, *, seed: int = 11, prs_per_member: int = 4) -> Team:
    spec = DatasetSpec(
        members_per_team=members,
        prs_per_member=prs_per_member,
        days=HISTORY_DAYS,
        seed=seed,
        end_date=END,
        team_slug_prefix=f"svc{next(_prefixes)}",
    )
    return Team.objects.get(id=generate(spec, progress=False).team_ids[0])


def _merged_at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def _merged_pr(team, author, merged_at: dt.datetime, **fields) -> PullRequest:
    return PullRequestFactory(
        team=team, author=author, pr_created_at=merged_at - dt.timedelta(hours=30), merged_at=merged_at, **fields
    )


# --- statement counts ---------------------------------------------------------------------------


def _operation(function, *, warm: bool = False):
    """``prepare(size)`` for assert_constant_queries: a generated team; the call optionally warmed."""
    results = {}

    def prepare(size):
        team = _generated_team(size)

        def operation():
            results[size] = function(team, START, END)

        if warm:
            operation()
        return operation

    return prepare, results


def test_team_breakdown_statements_do_not_grow_with_the_team():
    prepare, results = _operation(dashboard_service.get_team_breakdown)
    captures = assert_constant_queries(prepare, sizes=(5, 50))
    assert captures[0].count <= 2, captures[0].statements()
    assert len(results[5]) >= 4 and len(results[50]) >= 40  # the rows are really there
    assert sum(row["prs_merged"] for row in results[50]) > 0


def test_key_metrics_two_statements_cold_none_warm():
    prepare, results = _operation(dashboard_service.get_key_metrics)
    cold = assert_constant_queries(prepare, sizes=(5, 50))
    assert cold[0].count == 2, cold[0].statements()
    assert results[50]["prs_merged"] > 0
    prepare, _ = _operation(dashboard_service.get_key_metrics, warm=True)
    warm = assert_constant_queries(prepare, sizes=(5, 50))
    assert warm[0].count == 0, warm[0].statements()


def test_key_metrics_comparison_two_statements_cold_none_warm():
    prepare, results = _operation(dashboard_service.get_key_metrics_comparison)
    cold = assert_constant_queries(prepare, sizes=(5, 50))
    assert cold[0].count <= 2, cold[0].statements()
    assert results[50]["current"]["prs_merged"] > 0 and results[50]["previous"]["prs_merged"] > 0
    prepare, _ = _operation(dashboard_service.get_key_metrics_comparison, warm=True)
    warm = assert_constant_queries(prepare, sizes=(5, 50))
    assert warm[0].count == 0, warm[0].statements()


@pytest.mark.parametrize(
    "function",
    [chart_service.weekly_cycle_time, chart_service.weekly_ai_share, chart_service.pr_size_distribution],
    ids=lambda f: f.__name__,
)
def test_each_chart_is_one_statement_at_any_size(function):
    prepare, results = _operation(function)
    captures = assert_constant_queries(prepare, sizes=(5, 50))
    assert captures[0].count == 1, captures[0].statements()
    assert results[50]


# --- equality with the baselines ------------------------------------------------------------------


def _add_awkward_rows(team: Team) -> dict:
    """Rows the generator may not produce at a small size, added so every case is certainly present."""
    day = END - dt.timedelta(days=3)
    inactive = TeamMemberFactory(team=team, display_name="Zed Gone", is_active=False)
    _merged_pr(team, inactive, _merged_at(day), github_repo="acme/legacy")
    idle = TeamMemberFactory(team=team, display_name="Idle Active", is_active=True)
    authorless = _merged_pr(team, None, _merged_at(day, 9), github_repo="acme/orphans")
    survey = PRSurveyFactory(pull_request=authorless, author=None, author_ai_assisted=True)
    PRSurveyReviewFactory(survey=survey, reviewer=idle, quality_rating=1)
    someone = TeamMember.objects.filter(team=team, is_active=True).exclude(id=idle.id).first()
    unanswered_pr = _merged_pr(team, someone, _merged_at(day, 15), github_repo="acme/quiet")
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
    team = _generated_team(12, seed=seed, prs_per_member=8)
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
        pr = _merged_pr(team, author, _merged_at(END - dt.timedelta(days=days_ago)))
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
        _merged_pr(team, author, _merged_at(END - dt.timedelta(days=1)), cycle_time_hours=Decimal("1.00"))
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
    _merged_pr(other, TeamMemberFactory(team=other), _merged_at(END - dt.timedelta(days=2)))
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


# --- chart values against a plain Python computation ------------------------------------------------


def _python_weeks(team, start: dt.date, end: dt.date) -> dict:
    """Per Monday: cycle times, answered and AI-assisted counts, line totals, from the rows themselves."""
    lower, upper = range_bounds(start, end)
    prs = PullRequest.objects.filter(team=team, state="merged", merged_at__gte=lower, merged_at__lt=upper)
    answers = dict(PRSurvey.objects.filter(pull_request__in=prs).values_list("pull_request_id", "author_ai_assisted"))
    weeks = defaultdict(lambda: {"cycles": [], "answered": 0, "ai": 0})
    sizes = []
    for pr in prs:
        week = weeks[monday_of(pr.merged_at.astimezone(dt.UTC).date())]
        if pr.cycle_time_hours is not None:
            week["cycles"].append(pr.cycle_time_hours)
        answer = answers.get(pr.id)
        if answer is not None:
            week["answered"] += 1
            week["ai"] += answer is True
        sizes.append(pr.additions + pr.deletions)
    return {"weeks": weeks, "sizes": sizes}


def _mondays(start: dt.date, end: dt.date) -> list[dt.date]:
    day, mondays = monday_of(start), []
    while day <= end:
        mondays.append(day)
        day += dt.timedelta(days=7)
    return mondays


def _expected_charts(team, start: dt.date, end: dt.date) -> dict:
    found = _python_weeks(team, start, end)
    weeks = found["weeks"]
    cycle, share = [], []
    for monday in _mondays(start, end):
        week = weeks.get(monday, {"cycles": [], "answered": 0, "ai": 0})
        cycles = week["cycles"]
        cycle.append(
            {
                "week": monday,
                "prs_merged": len(cycles),
                "median_cycle_time": two_places(statistics.median(cycles)) if cycles else None,
                "avg_cycle_time": two_places(sum(cycles) / len(cycles)) if cycles else None,
            }
        )
        share.append(
            {
                "week": monday,
                "answered": week["answered"],
                "ai_assisted": week["ai"],
                "ai_assisted_pct": percent(week["ai"], week["answered"]),
            }
        )
    limits = [("XS", 0, 10), ("S", 10, 50), ("M", 50, 250), ("L", 250, 1000), ("XL", 1000, 10**12)]
    sizes = {name: sum(low <= lines < high for lines in found["sizes"]) for name, low, high in limits}
    return {"cycle": cycle, "share": share, "sizes": sizes}


@pytest.fixture
def boundary_team():
    """Merges on both sides of a UTC week boundary and of the range's ends; sizes on every bucket edge."""
    team = TeamFactory()
    author = TeamMemberFactory(team=team)
    sunday_night = dt.datetime(2025, 6, 15, 23, 59, 59, tzinfo=dt.UTC)
    monday_morning = dt.datetime(2025, 6, 16, 0, 0, tzinfo=dt.UTC)
    for merged_at, lines, answer in [
        (sunday_night, 9, True),
        (monday_morning, 10, False),
        (monday_morning + dt.timedelta(hours=5), 49, None),
        (monday_morning + dt.timedelta(days=2), 50, True),
        (monday_morning + dt.timedelta(days=3), 249, "no survey"),
        (monday_morning + dt.timedelta(days=8), 250, True),
        (monday_morning + dt.timedelta(days=9), 999, True),
        (monday_morning + dt.timedelta(days=10), 1000, False),
        (dt.datetime(2025, 6, 28, 23, 59, 59, tzinfo=dt.UTC), 4000, True),  # last second of the range
        (dt.datetime(2025, 6, 29, 0, 0, tzinfo=dt.UTC), 5, True),  # the day after: outside
        (dt.datetime(2025, 6, 3, 23, 0, tzinfo=dt.UTC), 5, True),  # the day before: outside
    ]:
        pr = _merged_pr(team, author, merged_at, additions=lines - lines // 3, deletions=lines // 3)
        if answer != "no survey":
            PRSurveyFactory(pull_request=pr, author_ai_assisted=answer)
    PullRequestFactory(team=team, author=author, state="open", merged_at=None)  # not merged: never counted
    return team


def test_chart_values_at_the_boundaries(boundary_team):
    start, end = dt.date(2025, 6, 4), dt.date(2025, 6, 28)  # a Wednesday to a Saturday
    cycle = chart_service.weekly_cycle_time(boundary_team, start, end)
    share = chart_service.weekly_ai_share(boundary_team, start, end)
    sizes = chart_service.pr_size_distribution(boundary_team, start, end)
    expected = _expected_charts(boundary_team, start, end)
    assert cycle == expected["cycle"]
    assert share == expected["share"]
    assert {row["bucket"]: row["prs"] for row in sizes} == expected["sizes"]
    # spelled out: the Sunday merge is the week of June 9, the Monday ones the week of June 16
    assert [w["week"] for w in cycle] == [dt.date(2025, 6, 2), dt.date(2025, 6, 9), dt.date(2025, 6, 16),
                                          dt.date(2025, 6, 23)]
    assert [w["prs_merged"] for w in cycle] == [0, 1, 4, 4]
    assert cycle[0]["avg_cycle_time"] is None  # the week without merges is there, empty
    assert [(w["answered"], w["ai_assisted"], w["ai_assisted_pct"]) for w in share] == [
        (0, 0, None), (1, 1, Decimal("100.00")), (2, 1, Decimal("50.00")), (4, 3, Decimal("75.00")),
    ]
    assert [(row["bucket"], row["prs"]) for row in sizes] == [("XS", 1), ("S", 2), ("M", 2), ("L", 2), ("XL", 2)]
    assert [row["description"] for row in sizes] == [
        "<10 lines", "10-49 lines", "50-249 lines", "250-999 lines", "1000+ lines",
    ]


def test_every_size_bucket_is_present_when_nothing_merged():
    team = TeamFactory()
    assert chart_service.pr_size_distribution(team, START, END) == [
        {"bucket": name, "description": description, "prs": 0}
        for name, description in [
            ("XS", "<10 lines"), ("S", "10-49 lines"), ("M", "50-249 lines"), ("L", "250-999 lines"),
            ("XL", "1000+ lines"),
        ]
    ]
    assert all(w["prs_merged"] == 0 for w in chart_service.weekly_cycle_time(team, START, END))


@pytest.mark.parametrize("seed", [5, 99])
def test_chart_values_on_generated_data(seed):
    team = _generated_team(15, seed=seed, prs_per_member=10)
    for start, end in [(START, END), (END - dt.timedelta(days=HISTORY_DAYS - 1), END), (END, END)]:
        expected = _expected_charts(team, start, end)
        assert chart_service.weekly_cycle_time(team, start, end) == expected["cycle"]
        assert chart_service.weekly_ai_share(team, start, end) == expected["share"]
        sizes = chart_service.pr_size_distribution(team, start, end)
        assert {row["bucket"]: row["prs"] for row in sizes} == expected["sizes"]
        assert sum(w["prs_merged"] for w in expected["cycle"]) == sum(expected["sizes"].values())


# --- bots ---------------------------------------------------------------------------------------


def test_a_bot_is_not_a_breakdown_row_even_with_merged_prs_but_its_prs_count_for_the_team():
    team = TeamFactory()
    person = TeamMemberFactory(team=team, display_name="Ada")
    bot = TeamMemberFactory(team=team, display_name="dependabot", github_username="dependabot[bot]", is_bot=True)
    merged_at = _merged_at(END - dt.timedelta(days=3))
    _merged_pr(team, person, merged_at)
    _merged_pr(team, bot, merged_at)
    _merged_pr(team, bot, merged_at + dt.timedelta(hours=1))

    rows = dashboard_service.get_team_breakdown(team, START, END)
    assert [(row["display_name"], row["prs_merged"]) for row in rows] == [("Ada", 1)]
    assert dashboard_service.get_key_metrics(team, START, END)["prs_merged"] == 3  # the team's figures keep them


def test_medians_are_the_middle_of_each_members_times_not_their_average():
    """Checked against Python's statistics on the rows themselves: not only against the baseline's aggregate."""
    import statistics

    team = _generated_team(12, seed=5, prs_per_member=7)
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
