"""The member page's reads: 4 statements whatever the weeks, PRs and reviews; the same answer as the baseline."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from apps.metrics.factories import (
    AIUsageDailyFactory,
    PRReviewFactory,
    PullRequestFactory,
    TeamMemberFactory,
    WeeklyMetricsFactory,
)
from apps.metrics.models import TeamMember
from apps.metrics.services.aggregation_service import aggregate_team_weekly_metrics
from apps.metrics.services.member_service import MAX_WEEKS, MemberNotFound, get_member_page
from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.datagen import DatasetSpec, generate
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import TeamFactory
from apps.teams.models import Team

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 25)  # a Wednesday: the last complete week is Monday March 16
LAST_WEEK = dt.date(2026, 3, 16)
_prefixes = itertools.count(1)


def _member_with(weeks: int, prs: int):
    team = TeamFactory()
    ada = TeamMemberFactory(team=team, display_name="Ada Lovelace", github_username="ada")
    reviewer = TeamMemberFactory(team=team)
    for n in range(weeks):
        WeeklyMetricsFactory(team=team, member=ada, week_start=LAST_WEEK - dt.timedelta(weeks=n))
        AIUsageDailyFactory(team=team, member=ada, date=LAST_WEEK - dt.timedelta(weeks=n) + dt.timedelta(days=2))
    start = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    for n in range(prs):
        pr = PullRequestFactory(team=team, author=ada, pr_created_at=start + dt.timedelta(hours=n),
                                merged_at=start + dt.timedelta(hours=n + 5))
        PRReviewFactory(team=team, pull_request=pr, reviewer=reviewer)
        mine = PullRequestFactory(team=team, author=reviewer, pr_created_at=start + dt.timedelta(hours=n),
                                  merged_at=start + dt.timedelta(hours=n + 5))
        PRReviewFactory(team=team, pull_request=mine, reviewer=ada, submitted_at=start + dt.timedelta(hours=n + 1))
    return team, ada


def test_four_statements_whatever_the_weeks_and_prs():
    pages = {}

    def prepare(size):
        weeks, prs = {1: (10, 5), 2: (80, 60)}[size]
        team, ada = _member_with(weeks, prs)

        def run():
            pages[size] = get_member_page(team, ada.id, today=TODAY)

        return run

    captures = assert_constant_queries(prepare, sizes=(1, 2))
    assert captures[0].without_savepoints().count == 4, captures[0].statements()
    assert [len(pages[1]["weeks"]), len(pages[2]["weeks"])] == [10, 80]
    assert [len(pages[1]["recent_prs"]), len(pages[2]["recent_prs"])] == [5, 20]
    assert [len(pages[1]["recent_reviews"]), len(pages[2]["recent_reviews"])] == [5, 20]
    assert [len(pages[1]["copilot_weeks"]), len(pages[2]["copilot_weeks"])] == [10, 80]


def test_the_figures_newest_first_and_the_lists_with_their_prs():
    team, ada = _member_with(3, 25)
    page = get_member_page(team, ada.id, today=TODAY)
    assert page["member"]["display_name"] == "Ada Lovelace" and page["member"]["initials"] == "AL"
    assert page["last_week"] == LAST_WEEK and page["first_week"] == LAST_WEEK - dt.timedelta(weeks=103)
    assert [w["week_start"] for w in page["weeks"]] == [LAST_WEEK - dt.timedelta(weeks=n) for n in range(3)]
    assert page["weeks"][0]["avg_cycle_time_hours"] == Decimal("20.50") and page["weeks"][0]["prs_merged"] == 3
    created = [pr["pr_created_at"] for pr in page["recent_prs"]]
    assert created == sorted(created, reverse=True) and len(created) == 20
    review = page["recent_reviews"][0]
    assert review["pull_request"]["title"] and review["pr_author"] != "Ada Lovelace"
    week = page["copilot_weeks"][0]
    assert week == {
        "week_start": LAST_WEEK, "days": 1, "suggestions_shown": 100, "suggestions_accepted": 30,
        "lines_suggested": 200, "lines_accepted": 60, "chat_interactions": 5, "acceptance_rate": Decimal("30.00"),
    }


def test_the_range_bounds_the_weeks():
    team, ada = _member_with(12, 1)
    page = get_member_page(team, ada.id, weeks=4, today=TODAY)
    assert [w["week_start"] for w in page["weeks"]] == [LAST_WEEK - dt.timedelta(weeks=n) for n in range(4)]
    assert len(page["copilot_weeks"]) == 4
    for bad in (0, MAX_WEEKS + 1, "4", None):
        with pytest.raises(ValueError):
            get_member_page(team, ada.id, weeks=bad, today=TODAY)


def test_a_member_without_weeks_still_has_a_page():
    team = TeamFactory()
    cy = TeamMemberFactory(team=team, display_name="Cy", github_username="")
    page = get_member_page(team, cy.id, today=TODAY)
    assert page["member"]["id"] == cy.id and page["weeks"] == [] and page["recent_prs"] == []
    assert page["copilot_weeks"] == [] and page["recent_reviews"] == []


def test_another_teams_or_an_unknown_or_impossible_member_is_not_found():
    team, ada = _member_with(1, 1)
    other = TeamFactory()
    for member_id in (ada.id + 1000, 0, -1, 2**63, 10**30):
        with capture_queries() as capture, pytest.raises(MemberNotFound):
            get_member_page(team, member_id, today=TODAY)
        assert capture.count <= 1
    with pytest.raises(MemberNotFound):
        get_member_page(other, ada.id, today=TODAY)


def _generated(members: int, prs_per_member: int) -> Team:
    end = dt.date(2026, 3, 22)
    spec = DatasetSpec(members_per_team=members, prs_per_member=prs_per_member, days=70, seed=members, end_date=end,
                       team_slug_prefix=f"member{next(_prefixes)}")
    team = Team.objects.get(id=generate(spec, progress=False).team_ids[0])
    week = dt.date(2026, 3, 16)
    for _ in range(12):  # every week of the range compared: the rollup's rows exist for each
        aggregate_team_weekly_metrics(team, week)
        week -= dt.timedelta(weeks=1)
    return team


@pytest.mark.parametrize(("members", "prs_per_member"), [(5, 6), (12, 30)])
def test_the_same_answer_as_the_baseline_on_generated_data(members, prs_per_member):
    team = _generated(members, prs_per_member)
    people = TeamMember.objects.filter(team=team, is_active=True, is_bot=False).exclude(github_username="")
    compared = 0
    for member in people:
        shipped = get_member_page(team, member.id, weeks=12, today=TODAY)
        with capture_queries() as capture:
            baseline = baselines.get_member_page(team, member.id, weeks=12, today=TODAY)
        assert shipped == baseline, member
        assert capture.count > 4 * 12  # the baseline's loop: statements per week
        compared += bool(shipped["recent_prs"]) and any(w["prs_merged"] for w in shipped["weeks"])
    assert compared >= 2  # the data really had PRs and merged weeks to compare
