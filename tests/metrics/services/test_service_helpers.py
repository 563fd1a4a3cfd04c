"""Dates, rounding, PR filters and CSV cells: the shared helpers every implementation uses."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.metrics.factories import PullRequestFactory, TeamMemberFactory
from apps.metrics.services.dates import isoformat_of_postgres_text, monday_of, previous_period, range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.metrics.services.pr_list_service import csv_safe, filter_pull_requests
from apps.teams.factories import TeamFactory


def test_range_bounds_are_half_open_utc_days():
    lower, upper = range_bounds(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert lower == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert upper == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert range_bounds(None, None) == (None, None)


def test_previous_period_has_equal_length_and_ends_the_day_before():
    assert previous_period(dt.date(2026, 3, 1), dt.date(2026, 3, 31)) == (dt.date(2026, 1, 29), dt.date(2026, 2, 28))
    assert previous_period(dt.date(2026, 3, 5), dt.date(2026, 3, 5)) == (dt.date(2026, 3, 4), dt.date(2026, 3, 4))


@pytest.mark.parametrize(
    ("day", "monday"),
    [(dt.date(2026, 3, 9), dt.date(2026, 3, 9)), (dt.date(2026, 3, 15), dt.date(2026, 3, 9))],
)
def test_monday_of(day, monday):
    assert monday_of(day) == monday


def test_two_places_rounds_half_up_without_float_noise():
    assert two_places(None) is None
    assert two_places(2.675) == Decimal("2.68")  # float 2.675 is 2.67499..., but str() keeps 2.675
    assert two_places(Decimal("1.005")) == Decimal("1.01")
    assert percent(1, 3) == Decimal("33.33")
    assert percent(2, 3) == Decimal("66.67")
    assert percent(0, 0) is None


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("fine", "fine"),
        (None, ""),
        (12, "12"),
    ],
)
def test_csv_safe_neutralises_formula_triggers(value, cell):
    assert csv_safe(value) == cell


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        (None, ""),
        ("2026-03-02 10:00:00+00", "2026-03-02T10:00:00+00:00"),
        ("2026-03-02 10:00:00.12+00", "2026-03-02T10:00:00.120000+00:00"),
        ("2026-03-02 10:00:00.000001+00", "2026-03-02T10:00:00.000001+00:00"),
        ("2026-03-02 23:30:00.5+01", "2026-03-02T22:30:00.500000+00:00"),  # another session time zone: to UTC
        ("2026-03-02 00:15:00-05:30", "2026-03-02T05:45:00+00:00"),
    ],
)
def test_isoformat_of_postgres_text_writes_what_isoformat_writes(text, iso):
    assert isoformat_of_postgres_text(text) == iso
    if text:
        assert iso == dt.datetime.fromisoformat(text).astimezone(dt.UTC).isoformat()


@pytest.mark.django_db
def test_timestamps_read_as_text_equal_the_datetimes_isoformat():
    from django.db.models import TextField
    from django.db.models.functions import Cast

    team = TeamFactory()
    moments = [dt.datetime(2026, 3, 2, 10, 0, 0, micro, tzinfo=dt.UTC) for micro in (0, 1, 120000, 999999, 500)]
    for moment in moments:
        PullRequestFactory(team=team, pr_created_at=moment, state="open", merged_at=None)
    rows = team.pull_requests.annotate(text=Cast("pr_created_at", TextField())).values_list("pr_created_at", "text")
    assert len(rows) == len(moments)
    for moment, text in rows:
        assert isoformat_of_postgres_text(text) == moment.isoformat()


@pytest.mark.django_db
def test_filter_pull_requests_scopes_to_team_and_filters():
    team, other = TeamFactory(), TeamFactory()
    ada = TeamMemberFactory(team=team)
    created = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    merged = PullRequestFactory(team=team, author=ada, github_repo="acme/api", pr_created_at=created)
    open_pr = PullRequestFactory(
        team=team, state="open", merged_at=None, github_repo="acme/web", pr_created_at=created + dt.timedelta(days=1)
    )
    PullRequestFactory(team=other, pr_created_at=created)
    assert list(filter_pull_requests(team)) == [open_pr, merged]  # newest first, other team excluded
    assert list(filter_pull_requests(team, state="merged")) == [merged]
    assert list(filter_pull_requests(team, author_id=ada.id)) == [merged]
    assert list(filter_pull_requests(team, repo="acme/web")) == [open_pr]
    assert list(filter_pull_requests(team, start=dt.date(2026, 3, 11), end=dt.date(2026, 3, 11))) == [open_pr]
    assert list(filter_pull_requests(team, end=dt.date(2026, 3, 10))) == [merged]
