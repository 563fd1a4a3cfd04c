"""Copilot adoption (issue 13 §1): 2 statements cold at any size, 0 warm, equal to the per-member/per-week baseline.

The baseline (``apps.perflab.baselines.compute_copilot_adoption``) runs a query per member per period,
per week and per member again; the service runs one statement for both periods' cards and one
``UNION ALL`` for the weekly trend and the member table. Hand-made rows pin both to the definitions.
"""

import datetime as dt
from decimal import Decimal

import pytest

from apps.metrics.factories import AIUsageDailyFactory, TeamMemberFactory
from apps.metrics.models import AIUsageDaily, TeamMember
from apps.metrics.services import copilot_adoption_service as service
from apps.metrics.services.team_cache import bump_team_data_version
from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.testing import assert_constant_queries, assert_max_queries
from apps.teams.factories import TeamFactory
from tests.metrics.services.generated import END, HISTORY_DAYS, START, generated_team

pytestmark = pytest.mark.django_db


def _usage(member, day, **figures):
    return AIUsageDailyFactory(team=member.team, member=member, date=day, **figures)


# --- statement counts -------------------------------------------------------------------------------


def test_two_statements_cold_at_both_sizes_and_none_warm():
    results = {}

    def prepare(size, warm=False):
        team = generated_team(size)

        def operation():
            results[size] = service.get_copilot_adoption(team, START, END)

        if warm:
            operation()
        return operation

    cold = assert_constant_queries(prepare, sizes=(5, 50))
    assert cold[0].count == 2, cold[0].statements()
    assert "UNION ALL" in cold[1].statements()
    small, large = results[5], results[50]
    assert large["current"]["active_users"] > small["current"]["active_users"] > 0  # the data is really there
    assert large["current"]["suggestions_shown"] > small["current"]["suggestions_shown"] > 0
    assert len(large["members"]) > len(small["members"])
    warm = assert_constant_queries(lambda size: prepare(size, warm=True), sizes=(5, 50))
    assert warm[0].count == 0, warm[0].statements()


def test_the_baseline_grows_with_the_team():
    counts = []
    for size in (3, 6):
        team = generated_team(size)
        with capture_queries() as capture:
            baselines.compute_copilot_adoption(team, START, END)
        counts.append(capture.count)
    assert counts[1] > counts[0] > 2


# --- equality with the baseline ------------------------------------------------------------------------


def _add_awkward_rows(team):
    """What a generated team lacks: a bot's and a departed member's usage, Cursor rows, chat-only and unused members."""
    day = END - dt.timedelta(days=3)
    bot = TeamMemberFactory(team=team, github_username="copilot-bot[bot]", is_bot=True)
    gone = TeamMemberFactory(team=team, is_active=False)
    for member in (bot, gone):
        _usage(member, day, suggestions_shown=5000, suggestions_accepted=4000, lines_accepted=9000)
    person = TeamMember.objects.filter(team=team, is_active=True, is_bot=False, ai_usage__isnull=False).first()
    AIUsageDailyFactory(team=team, member=person, date=day, source=AIUsageDaily.Source.CURSOR, suggestions_shown=7777)
    chatter = TeamMemberFactory(team=team)
    _usage(chatter, day, suggestions_shown=0, suggestions_accepted=0, lines_accepted=0, chat_interactions=9)
    TeamMemberFactory(team=team)  # never used Copilot


def _ranges():
    return [
        ("last 28 days", START, END),
        ("whole history", END - dt.timedelta(days=HISTORY_DAYS - 1), END),
        ("one day", END - dt.timedelta(days=3), END - dt.timedelta(days=3)),
        ("mid-week to mid-week", START + dt.timedelta(days=2), END - dt.timedelta(days=5)),
        ("before any data", dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
    ]


@pytest.mark.parametrize("size", [5, 40])
def test_equals_the_baseline_at_two_sizes(size):
    team = generated_team(size, seed=size)
    _add_awkward_rows(team)
    assert TeamMember.objects.filter(team=team, is_active=False).exists()
    for name, start, end in _ranges():
        got = service.compute_copilot_adoption(team, start, end)
        assert got == baselines.compute_copilot_adoption(team, start, end), name
        if name == "last 28 days":
            assert got["previous"]["suggestions_shown"] > 0  # the previous period holds data too
            assert got["change"]["suggestions_shown"]["delta"] is not None
            assert 0 < got["current"]["active_users"] < got["current"]["active_members"]
            assert any(week["acceptance_rate"] is not None for week in got["weekly"])
        if name == "before any data":
            assert got["current"]["suggestions_shown"] == 0 and got["current"]["acceptance_rate"] is None
            assert all(member["acceptance_rate"] is None for member in got["members"])


# --- definitions, by hand --------------------------------------------------------------------------------


@pytest.fixture
def hand_team():
    """Two users in the range, one chat-only member, one without usage; a bot and a departed member with usage."""
    team = TeamFactory()
    ada = TeamMemberFactory(team=team, display_name="Ada")
    bob = TeamMemberFactory(team=team, display_name="Bob")
    cy = TeamMemberFactory(team=team, display_name="Cy")
    TeamMemberFactory(team=team, display_name="Dee")
    bot = TeamMemberFactory(team=team, display_name="Bot", github_username="dependabot[bot]", is_bot=True)
    gone = TeamMemberFactory(team=team, display_name="Gone", is_active=False)
    _usage(ada, START, suggestions_shown=100, suggestions_accepted=30, lines_accepted=40, chat_interactions=2)
    _usage(ada, END, suggestions_shown=50, suggestions_accepted=20, lines_accepted=25, chat_interactions=1)
    _usage(
        bob,
        START + dt.timedelta(days=8),
        suggestions_shown=3,
        suggestions_accepted=1,
        lines_accepted=1,
        chat_interactions=0,
    )
    _usage(
        cy,
        START + dt.timedelta(days=8),
        suggestions_shown=0,
        suggestions_accepted=0,
        lines_accepted=0,
        chat_interactions=7,
    )
    for member in (bot, gone):
        _usage(member, START + dt.timedelta(days=1), suggestions_shown=1000, suggestions_accepted=900)
    # the previous period: Ada alone
    _usage(
        ada,
        START - dt.timedelta(days=1),
        suggestions_shown=40,
        suggestions_accepted=10,
        lines_accepted=8,
        chat_interactions=4,
    )
    return team, {"ada": ada, "bob": bob, "cy": cy}


def test_hand_computed_cards(hand_team):
    team, _ = hand_team
    got = service.compute_copilot_adoption(team, START, END)
    assert got["current"] == {
        "active_members": 4,  # Ada, Bob, Cy, Dee: not the bot, not the departed member
        "active_users": 2,  # Ada and Bob; Cy only chatted
        "adoption_pct": Decimal("50.00"),
        "suggestions_shown": 153,
        "suggestions_accepted": 51,
        "acceptance_rate": Decimal("33.33"),  # 51 / 153, from the sums
        "lines_accepted": 66,
        "chat_interactions": 10,
    }
    assert got["previous_range"] == (START - dt.timedelta(days=28), START - dt.timedelta(days=1))
    assert got["previous"] == {
        "active_members": 4,
        "active_users": 1,
        "adoption_pct": Decimal("25.00"),
        "suggestions_shown": 40,
        "suggestions_accepted": 10,
        "acceptance_rate": Decimal("25.00"),
        "lines_accepted": 8,
        "chat_interactions": 4,
    }
    assert got["change"]["active_users"] == {"delta": 1, "percent": Decimal("100.00")}
    assert got["change"]["suggestions_shown"] == {"delta": 113, "percent": Decimal("282.50")}
    assert got["change"]["acceptance_rate"] == {"delta": Decimal("8.33"), "percent": Decimal("33.32")}
    assert got["change"]["active_members"] == {"delta": 0, "percent": Decimal("0.00")}
    assert got == baselines.compute_copilot_adoption(team, START, END)


def test_hand_computed_members_and_weeks(hand_team):
    team, people = hand_team
    got = service.compute_copilot_adoption(team, START, END)
    by_name = {member["display_name"]: member for member in got["members"]}
    assert list(by_name) == ["Ada", "Bob", "Cy", "Dee"]  # active people only, by name
    assert by_name["Ada"] | {"avatar_url": None} == {
        "member_id": people["ada"].id,
        "display_name": "Ada",
        "github_username": people["ada"].github_username,
        "avatar_url": None,
        "suggestions_shown": 150,
        "suggestions_accepted": 50,
        "acceptance_rate": Decimal("33.33"),
        "lines_accepted": 65,
        "chat_interactions": 3,
        "days_active": 2,  # the range's first and last day are both in
    }
    assert by_name["Ada"]["avatar_url"] == people["ada"].avatar_url
    assert (by_name["Cy"]["days_active"], by_name["Cy"]["chat_interactions"], by_name["Cy"]["acceptance_rate"]) == (
        0,
        7,
        None,
    )
    assert by_name["Dee"] | {"member_id": 0, "avatar_url": "", "github_username": ""} == {
        "member_id": 0,
        "display_name": "Dee",
        "github_username": "",
        "avatar_url": "",
        "suggestions_shown": 0,
        "suggestions_accepted": 0,
        "acceptance_rate": None,
        "lines_accepted": 0,
        "chat_interactions": 0,
        "days_active": 0,
    }
    # START is a Tuesday: five weeks from the Monday before it to END's Monday, none missing
    weeks = got["weekly"]
    assert [week["week"] for week in weeks] == [dt.date(2025, 6, 2) + dt.timedelta(weeks=i) for i in range(5)]
    assert all(week["week"].weekday() == 0 for week in weeks)
    assert [week["active_users"] for week in weeks] == [1, 1, 0, 0, 1]  # Cy only chatted
    assert [week["suggestions_shown"] for week in weeks] == [100, 3, 0, 0, 50]
    assert [week["chat_interactions"] for week in weeks] == [2, 7, 0, 0, 1]
    assert [week["acceptance_rate"] for week in weeks] == [
        Decimal("30.00"),
        Decimal("33.33"),
        None,
        None,
        Decimal("40.00"),
    ]
    assert weeks[0]["lines_accepted"] == 40  # Ada's day in the previous period (the Monday) is not in this week
    assert got == baselines.compute_copilot_adoption(team, START, END)


def test_rate_is_none_when_nothing_was_shown():
    team = TeamFactory()
    member = TeamMemberFactory(team=team)
    _usage(member, END, suggestions_shown=0, suggestions_accepted=0, lines_accepted=0, chat_interactions=3)
    got = service.compute_copilot_adoption(team, END, END)
    assert got["current"]["acceptance_rate"] is None
    assert got["current"]["active_users"] == 0 and got["current"]["chat_interactions"] == 3
    assert got["weekly"] == [
        {
            "week": dt.date(2025, 6, 30),
            "active_users": 0,
            "suggestions_shown": 0,
            "suggestions_accepted": 0,
            "acceptance_rate": None,
            "lines_accepted": 0,
            "chat_interactions": 3,
        }
    ]
    assert got["change"]["acceptance_rate"] == {"delta": None, "percent": None}
    assert got == baselines.compute_copilot_adoption(team, END, END)


def test_a_team_without_active_members():
    team = TeamFactory()
    gone = TeamMemberFactory(team=team, is_active=False)
    _usage(gone, END)
    got = service.compute_copilot_adoption(team, START, END)
    assert got["current"]["active_members"] == 0 and got["current"]["adoption_pct"] is None
    assert got["current"]["suggestions_shown"] == 0
    assert got["members"] == []
    assert len(got["weekly"]) == 5 and all(week["suggestions_shown"] == 0 for week in got["weekly"])
    assert got == baselines.compute_copilot_adoption(team, START, END)


def test_only_the_teams_copilot_rows_in_the_range_count(hand_team):
    team, people = hand_team
    before = service.compute_copilot_adoption(team, START, END)
    ada = people["ada"]
    # just outside: the day after the end (the day before the start is already the previous period's)
    _usage(ada, END + dt.timedelta(days=1), suggestions_shown=999)
    # Cursor is not Copilot
    AIUsageDailyFactory(
        team=team,
        member=people["bob"],
        date=END,
        source=AIUsageDaily.Source.CURSOR,
        suggestions_shown=888,
        chat_interactions=88,
    )
    # another team's members and rows on the same days
    other = TeamFactory()
    stranger = TeamMemberFactory(team=other)
    for day in (START, END):
        _usage(stranger, day, suggestions_shown=777, suggestions_accepted=700, chat_interactions=70)
    after = service.compute_copilot_adoption(team, START, END)
    assert after == before
    assert after == baselines.compute_copilot_adoption(team, START, END)
    theirs = service.compute_copilot_adoption(other, START, END)
    assert theirs["current"]["active_members"] == 1 and theirs["current"]["suggestions_shown"] == 1554
    assert [m["member_id"] for m in theirs["members"]] == [stranger.id]


# --- the cache -------------------------------------------------------------------------------------------


def test_warm_is_zero_statements_and_a_version_bump_recomputes(hand_team, django_capture_on_commit_callbacks):
    team, people = hand_team
    first = service.get_copilot_adoption(team, START, END)
    with assert_max_queries(0):
        assert service.get_copilot_adoption(team, START, END) == first
    assert service.get_copilot_adoption(team, END, END)["current"]["suggestions_shown"] == 50  # its own key
    _usage(people["bob"], END - dt.timedelta(days=1), suggestions_shown=10, suggestions_accepted=10)
    with assert_max_queries(0):  # no bump yet: the cached figures stand (the writer must bump)
        assert service.get_copilot_adoption(team, START, END) == first
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        bump_team_data_version(team.id)
    assert len(callbacks) == 1
    with capture_queries() as capture:
        after = service.get_copilot_adoption(team, START, END)
    assert capture.count == 2
    assert after["current"]["suggestions_shown"] == first["current"]["suggestions_shown"] + 10
    assert after == service.compute_copilot_adoption(team, START, END)
