"""The chart service: one statement per chart at any size, values against a plain Python computation.

Budget (DESIGN.md): each chart series 1 statement. Weeks are ISO weeks in UTC; every week of the
range is present, empty or not, and every size bucket too.
"""

import datetime as dt
import statistics
from collections import defaultdict
from decimal import Decimal

import pytest

from apps.metrics.factories import PRSurveyFactory, PullRequestFactory, TeamMemberFactory
from apps.metrics.models import PRSurvey, PullRequest
from apps.metrics.services import chart_service
from apps.metrics.services.dates import monday_of, range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import TeamFactory
from tests.metrics.services.generated import END, HISTORY_DAYS, START, generated_team, merged_pr, operation

pytestmark = pytest.mark.django_db


# --- statement counts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "function",
    [chart_service.weekly_cycle_time, chart_service.weekly_ai_share, chart_service.pr_size_distribution],
    ids=lambda f: f.__name__,
)
def test_each_chart_is_one_statement_at_any_size(function):
    prepare, results = operation(function)
    captures = assert_constant_queries(prepare, sizes=(5, 50))
    assert captures[0].count == 1, captures[0].statements()
    assert results[50]


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
        pr = merged_pr(team, author, merged_at, additions=lines - lines // 3, deletions=lines // 3)
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
    assert [w["week"] for w in cycle] == [
        dt.date(2025, 6, 2),
        dt.date(2025, 6, 9),
        dt.date(2025, 6, 16),
        dt.date(2025, 6, 23),
    ]
    assert [w["prs_merged"] for w in cycle] == [0, 1, 4, 4]
    assert cycle[0]["avg_cycle_time"] is None  # the week without merges is there, empty
    assert [(w["answered"], w["ai_assisted"], w["ai_assisted_pct"]) for w in share] == [
        (0, 0, None),
        (1, 1, Decimal("100.00")),
        (2, 1, Decimal("50.00")),
        (4, 3, Decimal("75.00")),
    ]
    assert [(row["bucket"], row["prs"]) for row in sizes] == [("XS", 1), ("S", 2), ("M", 2), ("L", 2), ("XL", 2)]
    assert [row["description"] for row in sizes] == [
        "<10 lines",
        "10-49 lines",
        "50-249 lines",
        "250-999 lines",
        "1000+ lines",
    ]


def test_every_size_bucket_is_present_when_nothing_merged():
    team = TeamFactory()
    assert chart_service.pr_size_distribution(team, START, END) == [
        {"bucket": name, "description": description, "prs": 0}
        for name, description in [
            ("XS", "<10 lines"),
            ("S", "10-49 lines"),
            ("M", "50-249 lines"),
            ("L", "250-999 lines"),
            ("XL", "1000+ lines"),
        ]
    ]
    assert all(w["prs_merged"] == 0 for w in chart_service.weekly_cycle_time(team, START, END))


@pytest.mark.parametrize("seed", [5, 99])
def test_chart_values_on_generated_data(seed):
    team = generated_team(15, seed=seed, prs_per_member=10)
    for start, end in [(START, END), (END - dt.timedelta(days=HISTORY_DAYS - 1), END), (END, END)]:
        expected = _expected_charts(team, start, end)
        assert chart_service.weekly_cycle_time(team, start, end) == expected["cycle"]
        assert chart_service.weekly_ai_share(team, start, end) == expected["share"]
        sizes = chart_service.pr_size_distribution(team, start, end)
        assert {row["bucket"]: row["prs"] for row in sizes} == expected["sizes"]
        assert sum(w["prs_merged"] for w in expected["cycle"]) == sum(expected["sizes"].values())
