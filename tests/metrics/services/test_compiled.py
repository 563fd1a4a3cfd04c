"""CompiledQuery: compiled once, re-run with new values, the same rows Django would return."""

import datetime as dt

import pytest
from django.db.models import Count

from apps.metrics.factories import PullRequestFactory, TeamMemberFactory
from apps.metrics.models import PullRequest, TeamMember
from apps.metrics.services.compiled import CompiledQuery, UnusedParameter
from apps.perflab.capture import capture_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db


def _members(team_id, name):
    return TeamMember.objects.filter(team_id=team_id, display_name=name).order_by("id").values("id", "display_name")


def test_rows_equal_the_querysets_and_the_sql_is_compiled_once():
    query = CompiledQuery(_members, team_id=int, name=str)
    first, second = TeamFactory(), TeamFactory()
    TeamMemberFactory(team=first, display_name="Ada")
    TeamMemberFactory(team=first, display_name="Bob")
    TeamMemberFactory(team=second, display_name="Ada")
    for team in (first, second):
        assert query.rows(team_id=team.id, name="Ada") == list(_members(team.id, "Ada"))
        assert len(query.rows(team_id=team.id, name="Ada")) == 1
    sql = query.sql()
    assert query.sql() is sql  # compiled once, reused
    with capture_queries() as capture:
        query.rows(team_id=first.id, name="Bob")
    assert capture.count == 1


def test_datetimes_and_aggregates():
    def merged_since(team_id, since):
        return (
            PullRequest.objects.filter(team_id=team_id, merged_at__gte=since)
            .order_by()
            .values("team_id")
            .annotate(merged=Count("id"))
        )

    query = CompiledQuery(merged_since, team_id=int, since=dt.datetime)
    team = TeamFactory()
    moment = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    PullRequestFactory(team=team, pr_created_at=moment - dt.timedelta(days=2), merged_at=moment)
    PullRequestFactory(team=team, pr_created_at=moment - dt.timedelta(days=9), merged_at=moment - dt.timedelta(days=5))
    assert query.rows(team_id=team.id, since=moment - dt.timedelta(days=1)) == [{"team_id": team.id, "merged": 1}]
    assert query.rows(team_id=team.id, since=moment - dt.timedelta(days=7)) == [{"team_id": team.id, "merged": 2}]
    assert query.rows(team_id=team.id, since=moment + dt.timedelta(days=1)) == []


def test_a_parameter_the_query_ignores_is_an_error():
    query = CompiledQuery(lambda team_id, unused: TeamMember.objects.filter(team_id=team_id).values("id"),
                          team_id=int, unused=int)
    with pytest.raises(UnusedParameter, match="unused"):
        query.rows(team_id=1, unused=2)


def test_a_lookup_that_rewrites_its_value_is_refused():
    # startswith sends "value%": the sentinel never appears as such, so compiling must fail loudly
    def starting(team_id, prefix):
        return TeamMember.objects.filter(team_id=team_id, display_name__startswith=prefix).values("id")

    with pytest.raises(UnusedParameter, match="prefix"):
        CompiledQuery(starting, team_id=int, prefix=str).sql()


def test_a_value_used_both_as_is_and_rewritten_is_refused():
    def both(team_id, name):
        return TeamMember.objects.filter(team_id=team_id, display_name=name, email__startswith=name).values("id")

    with pytest.raises(UnusedParameter, match="rewrote"):
        CompiledQuery(both, team_id=int, name=str).sql()


def test_wrong_parameters_are_refused():
    query = CompiledQuery(_members, team_id=int, name=str)
    with pytest.raises(TypeError, match="expected parameters"):
        query.rows(team_id=1)
    with pytest.raises(TypeError, match="no sentinel"):
        CompiledQuery(_members, team_id=float, name=str).sql()
