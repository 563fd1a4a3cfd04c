"""``PercentileCont``: PostgreSQL's percentile_cont equals statistics.quantiles(method="inclusive") at p50 and p75.

That equality is what lets ``apps.perflab.baselines.compute_ai_impact`` (sorting in Python) check the
shipped AI impact (percentiles in PostgreSQL); it is verified here on random data, not assumed.
"""

import random
import statistics
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F, Q

from apps.metrics.factories import PullRequestFactory, TeamMemberFactory
from apps.metrics.models import PullRequest
from apps.metrics.services.percentiles import PercentileCont
from apps.perflab.capture import capture_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db


def _quartiles(values):
    """statistics.quantiles' p50 and p75; one value is both (Python 3.11 wants two points)."""
    if len(values) == 1:
        return values[0], values[0]
    _, median, p75 = statistics.quantiles(sorted(values), n=4, method="inclusive")
    return median, p75


def _prs(team, author, sizes, hours=None):
    hours = hours or [None] * len(sizes)
    return PullRequest.objects.bulk_create(
        PullRequestFactory.build(team=team, author=author, additions=size, deletions=0, cycle_time_hours=h)
        for size, h in zip(sizes, hours, strict=True)
    )


@pytest.fixture
def team_and_author():
    team = TeamFactory()
    return team, TeamMemberFactory(team=team)


def _percentiles(team, expression, **filters):
    return PullRequest.objects.filter(team=team, **filters).aggregate(
        median=PercentileCont(0.5, expression), p75=PercentileCont(0.75, expression)
    )


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 200])
def test_percentile_cont_equals_inclusive_quantiles_on_integers(team_and_author, count):
    team, author = team_and_author
    rng = random.Random(count)
    sizes = [rng.randint(0, 5_000) for _ in range(count)]
    _prs(team, author, sizes)
    got = _percentiles(team, "additions")
    median, p75 = _quartiles(sizes)
    assert isinstance(got["median"], float)
    assert (got["median"], got["p75"]) == (median, p75)  # exactly: interpolation at 1/4 steps of integers


@pytest.mark.parametrize("count", [2, 4, 7, 50])
def test_over_hundredths_two_place_decimals_are_exact(team_and_author, count):
    team, author = team_and_author
    rng = random.Random(100 + count)
    hours = [Decimal(rng.randint(1, 99_999)) / 100 for _ in range(count)]
    _prs(team, author, [1] * count, hours)
    got = _percentiles(team, F("cycle_time_hours") * 100)
    median, p75 = _quartiles(hours)  # Decimal arithmetic: exact
    assert Decimal(str(got["median"])) / 100 == median
    assert Decimal(str(got["p75"])) / 100 == p75


def test_hand_computed_values(team_and_author):
    team, author = team_and_author
    _prs(team, author, [3, 1000, 20, 100])  # sorted 3, 20, 100, 1000
    got = _percentiles(team, "additions")
    assert got == {"median": 60.0, "p75": 325.0}  # (20 + 100) / 2; 100 + 0.25 * (1000 - 100)


def test_filter_becomes_the_filter_clause_and_nulls_are_skipped(team_and_author):
    team, author = team_and_author
    _prs(team, author, [1, 2, 3, 10, 20], [Decimal("1"), None, Decimal("3"), None, Decimal("5")])
    with capture_queries() as capture:
        got = PullRequest.objects.filter(team=team).aggregate(
            small=PercentileCont(0.5, "additions", filter=Q(additions__lt=10)),
            large=PercentileCont(0.75, "additions", filter=Q(additions__gte=10)),
            hours=PercentileCont(0.5, "cycle_time_hours"),  # the NULLs are not values
            nothing=PercentileCont(0.5, "additions", filter=Q(additions__gt=1_000_000)),
        )
    assert got == {"small": 2.0, "large": 17.5, "hours": 3.0, "nothing": None}
    assert capture.count == 1
    sql = capture.statements()
    assert "percentile_cont(0.5) WITHIN GROUP (ORDER BY" in sql and "FILTER (WHERE" in sql


def test_no_rows_is_none_not_zero(team_and_author):
    team, _ = team_and_author
    assert _percentiles(team, "additions") == {"median": None, "p75": None}


@pytest.mark.parametrize("fraction", [-0.1, 1.5, "0.5", None, True])
def test_a_fraction_outside_zero_to_one_is_refused(fraction):
    with pytest.raises(ValueError, match="fraction"):
        PercentileCont(fraction, "additions")


def test_extreme_fractions_are_the_minimum_and_maximum(team_and_author):
    team, author = team_and_author
    _prs(team, author, [7, 3, 9, 4])
    got = PullRequest.objects.filter(team=team).aggregate(
        low=PercentileCont(0, "additions"), high=PercentileCont(1, "additions")
    )
    assert got == {"low": 3.0, "high": 9.0}
    assert connection.vendor == "postgresql"
