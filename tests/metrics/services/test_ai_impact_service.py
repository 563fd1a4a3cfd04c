"""AI impact (issue 13 §2): one statement cold at any size, 0 warm, equal to the sort-in-Python baseline.

The baseline (``apps.perflab.baselines.compute_ai_impact``) loads the PRs, groups them by the survey
answer in Python and interpolates with ``statistics.quantiles(method="inclusive")``; the service has
PostgreSQL's ``percentile_cont`` do it. Hand-computed figures pin both to the definition.
"""

import datetime as dt
from decimal import Decimal

import pytest

from apps.metrics.factories import PRSurveyFactory, PullRequestFactory, TeamMemberFactory
from apps.metrics.models import PRSurvey, PullRequest
from apps.metrics.services import ai_impact_service
from apps.metrics.services.numbers import two_places
from apps.metrics.services.percentiles import PercentileCont
from apps.metrics.services.team_cache import bump_team_data_version
from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.testing import assert_constant_queries, assert_max_queries
from apps.teams.factories import TeamFactory
from apps.teams.models import Team
from tests.metrics.services.generated import END, HISTORY_DAYS, START, generated_team

pytestmark = pytest.mark.django_db

GROUPS = ("ai_assisted", "not_ai_assisted", "unanswered")
FIGURES = ("cycle_time", "review_time", "pr_size")


def _at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def _merged_pr(team, author, merged_at: dt.datetime, *, answer="no survey", **fields) -> PullRequest:
    pr = PullRequestFactory(
        team=team, author=author, pr_created_at=merged_at - dt.timedelta(hours=30), merged_at=merged_at, **fields
    )
    if answer != "no survey":
        PRSurveyFactory(pull_request=pr, author_ai_assisted=answer)
    return pr


def _d(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


# --- statement counts -------------------------------------------------------------------------------


def test_one_statement_cold_at_both_sizes_and_none_warm():
    results = {}

    def prepare(size, warm=False):
        team = generated_team(size)

        def operation():
            results[size] = ai_impact_service.get_ai_impact(team, START, END)

        if warm:
            operation()
        return operation

    cold = assert_constant_queries(prepare, sizes=(5, 50))
    assert cold[0].count == 1, cold[0].statements()
    assert "percentile_cont" in cold[1].statements()  # PostgreSQL interpolates, not Python
    assert results[50]["ai_assisted"]["prs"] > results[5]["ai_assisted"]["prs"] > 0  # the data is really there
    warm = assert_constant_queries(lambda size: prepare(size, warm=True), sizes=(5, 50))
    assert warm[0].count == 0, warm[0].statements()


# --- equality with the baseline -------------------------------------------------------------------------


def _add_awkward_rows(team: Team) -> None:
    """Cases a small generated team may lack: a bot's PRs, a PR without author, unreviewed and unsurveyed PRs."""
    day = END - dt.timedelta(days=3)
    bot = TeamMemberFactory(team=team, github_username="renovate[bot]", is_bot=True)
    for hour, answer in ((8, True), (9, False), (10, None)):
        _merged_pr(team, bot, _at(day, hour), answer=answer, cycle_time_hours=Decimal("9999.99"))
    _merged_pr(team, None, _at(day, 11), answer=False, github_repo="acme/ghosts")
    person = TeamMemberFactory(team=team)
    _merged_pr(team, person, _at(day, 13), answer=None, first_review_at=None, review_time_hours=None)
    _merged_pr(team, person, _at(day, 14), first_review_at=None, review_time_hours=None)


def _ranges():
    return [
        ("last 28 days", START, END),
        ("whole history", END - dt.timedelta(days=HISTORY_DAYS - 1), END),
        ("one day", END - dt.timedelta(days=3), END - dt.timedelta(days=3)),
        ("before any data", dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
    ]


@pytest.mark.parametrize("size", [5, 50])
def test_equals_the_baseline_at_two_sizes(size):
    team = generated_team(size, seed=size)
    _add_awkward_rows(team)
    merged = PullRequest.objects.filter(team=team, state="merged")
    assert merged.filter(survey__author_ai_assisted=True).exists()
    assert merged.filter(survey__author_ai_assisted=False).exists()
    assert merged.filter(survey__isnull=True).exists()
    assert PRSurvey.objects.filter(team=team, author_ai_assisted__isnull=True).exists()
    assert merged.filter(review_time_hours__isnull=True).exists()
    for name, start, end in _ranges():
        got = ai_impact_service.compute_ai_impact(team, start, end)
        assert got == baselines.compute_ai_impact(team, start, end), name
        if name == "whole history":
            assert all(got[group]["cycle_time"]["median"] is not None for group in GROUPS)
            # some median is not a whole number of hours: the interpolation is really exercised
            assert any(got[g][f]["median"] % 1 for g in GROUPS for f in ("cycle_time", "review_time"))
        if name == "before any data":
            assert all(got[group]["prs"] == 0 and got[group]["review_time"]["median"] is None for group in GROUPS)


# --- definitions, by hand -------------------------------------------------------------------------------


@pytest.fixture
def hand_team():
    """Four AI-assisted PRs, one not, two unanswered; known times and sizes."""
    team = TeamFactory()
    author = TeamMemberFactory(team=team)
    day = END - dt.timedelta(days=2)
    ai = [("10", "1.25", 3, 0), ("20", "1.26", 10, 10), ("30", None, 100, 0), ("45", None, 500, 500)]
    for hour, (cycle, review, additions, deletions) in enumerate(ai):
        _merged_pr(
            team, author, _at(day, hour), answer=True, cycle_time_hours=_d(cycle),
            review_time_hours=_d(review), first_review_at=None if review is None else _at(day, hour),
            additions=additions, deletions=deletions,
        )
    _merged_pr(team, author, _at(day, 10), answer=False, cycle_time_hours=Decimal("7.5"),
               review_time_hours=Decimal("0.5"), additions=100, deletions=50)
    _merged_pr(team, author, _at(day, 11), cycle_time_hours=Decimal("2"), review_time_hours=Decimal("1"))
    _merged_pr(team, author, _at(day, 12), answer=None, cycle_time_hours=Decimal("4"), review_time_hours=Decimal("3"))
    return team, author


def test_hand_computed_example(hand_team):
    team, _ = hand_team
    got = ai_impact_service.compute_ai_impact(team, START, END)
    assert got["ai_assisted"] == {
        "prs": 4,
        # 10, 20, 30, 45: median (20 + 30) / 2; p75 at position 2.25: 30 + 0.25 * 15
        "cycle_time": {"count": 4, "median": _d("25.00"), "p75": _d("33.75")},
        # two reviewed: 1.255 and 1.2575, rounded half up
        "review_time": {"count": 2, "median": _d("1.26"), "p75": _d("1.26")},
        # 3, 20, 100, 1000: (20 + 100) / 2; 100 + 0.25 * 900
        "pr_size": {"count": 4, "median": _d("60.00"), "p75": _d("325.00")},
    }
    assert got["not_ai_assisted"] == {
        "prs": 1,
        "cycle_time": {"count": 1, "median": _d("7.50"), "p75": _d("7.50")},
        "review_time": {"count": 1, "median": _d("0.50"), "p75": _d("0.50")},
        "pr_size": {"count": 1, "median": _d("150.00"), "p75": _d("150.00")},
    }
    # no survey (2 h) and an unanswered one (4 h): together, apart from "not AI-assisted"
    assert got["unanswered"]["prs"] == 2
    assert got["unanswered"]["cycle_time"] == {"count": 2, "median": _d("3.00"), "p75": _d("3.50")}
    assert got["unanswered"]["review_time"] == {"count": 2, "median": _d("2.00"), "p75": _d("2.50")}
    assert got == baselines.compute_ai_impact(team, START, END)


def test_half_way_medians_round_half_up_exactly():
    """0.11 and 0.12 in double precision interpolate to 0.11499999...; in hundredths, 11.5 exactly."""
    team = TeamFactory()
    author = TeamMemberFactory(team=team)
    for hour, hours in enumerate(("0.08", "0.11", "0.12", "5.00")):
        _merged_pr(team, author, _at(END, hour), answer=False, cycle_time_hours=Decimal(hours))
    cycle = ai_impact_service.compute_ai_impact(team, START, END)["not_ai_assisted"]["cycle_time"]
    # median (0.11 + 0.12) / 2 = 0.115 -> 0.12 half up; p75 at 2.25: 0.12 + 0.25 * 4.88 = 1.34
    assert cycle == {"count": 4, "median": _d("0.12"), "p75": _d("1.34")}
    # why hundredths: over the hours themselves PostgreSQL's float arithmetic lands just under the half
    unscaled = PullRequest.objects.filter(team=team).aggregate(m=PercentileCont(0.5, "cycle_time_hours"))["m"]
    assert two_places(unscaled) == Decimal("0.11")


def test_empty_groups_are_none_not_zero():
    team = TeamFactory()
    author = TeamMemberFactory(team=team)
    _merged_pr(team, author, _at(END), answer=True, cycle_time_hours=Decimal("5"))
    got = ai_impact_service.compute_ai_impact(team, START, END)
    assert got["ai_assisted"]["cycle_time"]["median"] == Decimal("5.00")
    for group in ("not_ai_assisted", "unanswered"):
        assert got[group]["prs"] == 0
        for figure in FIGURES:
            assert got[group][figure] == {"count": 0, "median": None, "p75": None}
    nothing = ai_impact_service.compute_ai_impact(team, dt.date(2020, 1, 1), dt.date(2020, 1, 31))
    assert nothing == {
        group: {"prs": 0} | {figure: {"count": 0, "median": None, "p75": None} for figure in FIGURES}
        for group in GROUPS
    }
    assert nothing == baselines.compute_ai_impact(team, dt.date(2020, 1, 1), dt.date(2020, 1, 31))


def test_a_pr_never_reviewed_counts_but_has_no_review_time():
    team = TeamFactory()
    author = TeamMemberFactory(team=team)
    _merged_pr(team, author, _at(END), answer=True, first_review_at=None, review_time_hours=None)
    got = ai_impact_service.compute_ai_impact(team, START, END)["ai_assisted"]
    assert got["prs"] == 1 and got["cycle_time"]["count"] == 1
    assert got["review_time"] == {"count": 0, "median": None, "p75": None}


def test_only_the_teams_merged_prs_in_the_range_count(hand_team):
    team, author = hand_team
    before = ai_impact_service.compute_ai_impact(team, START, END)
    # the range's edges: the first instant is in, the midnight after the end is out
    _merged_pr(team, author, _at(START, 0), answer=True, cycle_time_hours=Decimal("1000"))
    _merged_pr(team, author, _at(END + dt.timedelta(days=1), 0), answer=True, cycle_time_hours=Decimal("1000"))
    PullRequestFactory(team=team, author=author, state="open", merged_at=None, cycle_time_hours=None)
    PullRequestFactory(team=team, author=author, state="closed", merged_at=None, cycle_time_hours=None)
    # another team's PRs in the same range, with every answer
    other = TeamFactory()
    stranger = TeamMemberFactory(team=other)
    for answer in (True, False, None, "no survey"):
        _merged_pr(other, stranger, _at(END), answer=answer, cycle_time_hours=Decimal("5000"))
    after = ai_impact_service.compute_ai_impact(team, START, END)
    assert after["ai_assisted"]["prs"] == before["ai_assisted"]["prs"] + 1  # only the PR at START 00:00
    assert after["ai_assisted"]["cycle_time"]["median"] == Decimal("30.00")  # 10, 20, 30, 45, 1000
    assert after["not_ai_assisted"] == before["not_ai_assisted"]
    assert after["unanswered"] == before["unanswered"]
    assert after == baselines.compute_ai_impact(team, START, END)
    theirs = ai_impact_service.compute_ai_impact(other, START, END)
    assert [theirs[group]["prs"] for group in GROUPS] == [1, 1, 2]
    assert theirs["unanswered"]["cycle_time"]["median"] == Decimal("5000.00")


def test_bots_prs_are_left_out_and_authorless_prs_stay():
    team = TeamFactory()
    person = TeamMemberFactory(team=team)
    bot = TeamMemberFactory(team=team, github_username="dependabot[bot]", is_bot=True)
    _merged_pr(team, person, _at(END, 1), answer=True, cycle_time_hours=Decimal("10"))
    for hour, answer in enumerate((True, False, None, "no survey"), start=2):
        _merged_pr(team, bot, _at(END, hour), answer=answer, cycle_time_hours=Decimal("900"))
    _merged_pr(team, None, _at(END, 9), answer=False, cycle_time_hours=Decimal("3"))  # a deleted account
    got = ai_impact_service.compute_ai_impact(team, START, END)
    assert [got[group]["prs"] for group in GROUPS] == [1, 1, 0]
    assert got["ai_assisted"]["cycle_time"]["median"] == Decimal("10.00")
    assert got["not_ai_assisted"]["cycle_time"]["median"] == Decimal("3.00")
    assert got == baselines.compute_ai_impact(team, START, END)


# --- the cache -------------------------------------------------------------------------------------------


def test_warm_is_zero_statements_and_a_version_bump_recomputes(hand_team, django_capture_on_commit_callbacks):
    team, author = hand_team
    first = ai_impact_service.get_ai_impact(team, START, END)
    with assert_max_queries(0):
        assert ai_impact_service.get_ai_impact(team, START, END) == first
    other_range = ai_impact_service.get_ai_impact(team, END, END)  # its own key
    assert other_range["ai_assisted"]["prs"] == 0
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _merged_pr(team, author, _at(END - dt.timedelta(days=1)), answer=False, cycle_time_hours=Decimal("1"))
    with assert_max_queries(0):  # no bump yet: the cached figure stands (the writer must bump)
        assert ai_impact_service.get_ai_impact(team, START, END) == first
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        bump_team_data_version(team.id)
    assert len(callbacks) == 1
    with capture_queries() as capture:
        after = ai_impact_service.get_ai_impact(team, START, END)
    assert capture.count == 1
    assert after["not_ai_assisted"]["prs"] == first["not_ai_assisted"]["prs"] + 1
    assert after == ai_impact_service.compute_ai_impact(team, START, END)
