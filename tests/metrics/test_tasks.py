"""The metrics tasks: Monday's fan-out catches every team up through the last complete week, in capped runs.

The tasks run eagerly; the weekly fan-out's enqueueing is checked with ``apply_async`` replaced.
"""

import datetime as dt

import pytest

from apps.metrics.factories import TeamMemberFactory
from apps.metrics.models import WeeklyMetrics
from apps.metrics.services.aggregation_service import MAX_CATCH_UP_WEEKS, last_complete_week
from apps.metrics.tasks import aggregate_all_teams_last_week, aggregate_team_weekly_metrics_task
from apps.teams.factories import TeamFactory
from apps.teams.models import Team

pytestmark = pytest.mark.django_db


def _team_through(watermark: dt.date | None, members: int = 2) -> Team:
    team = TeamMemberFactory().team
    TeamMemberFactory.create_batch(members - 1, team=team)
    Team.objects.filter(pk=team.pk).update(weekly_metrics_through=watermark)
    return team


def _weeks(team) -> list[dt.date]:
    return sorted(set(WeeklyMetrics.objects.filter(team=team).values_list("week_start", flat=True)))


def test_the_fan_out_fills_the_weeks_each_team_missed(eager_celery, django_capture_on_commit_callbacks):
    last = last_complete_week()
    behind = _team_through(last - dt.timedelta(weeks=3))  # two Mondays missed
    current = _team_through(last)
    with django_capture_on_commit_callbacks(execute=True):
        assert aggregate_all_teams_last_week() == 2
    assert _weeks(behind) == [last - dt.timedelta(weeks=n) for n in (2, 1, 0)]
    assert _weeks(current) == []  # already through last week: nothing rebuilt
    assert set(Team.objects.values_list("weekly_metrics_through", flat=True)) == {last}


def test_a_long_catch_up_enqueues_itself_again_until_done(django_capture_on_commit_callbacks, monkeypatch):
    last = last_complete_week()
    team = _team_through(last - dt.timedelta(weeks=MAX_CATCH_UP_WEEKS + 5))
    sent = []
    monkeypatch.setattr(aggregate_team_weekly_metrics_task, "apply_async", lambda args, kwargs: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert aggregate_team_weekly_metrics_task(team.id, last.isoformat()) == MAX_CATCH_UP_WEEKS * 2
    team.refresh_from_db()
    assert team.weekly_metrics_through == last - dt.timedelta(weeks=5)
    assert sent == [(team.id, last.isoformat())]  # the rest: once this run has committed
    with django_capture_on_commit_callbacks(execute=True):
        assert aggregate_team_weekly_metrics_task(*sent[0]) == 5 * 2
    assert len(sent) == 1  # done: not enqueued again
    team.refresh_from_db()
    assert team.weekly_metrics_through == last and len(_weeks(team)) == MAX_CATCH_UP_WEEKS + 5


def test_a_deleted_team_is_skipped():
    assert aggregate_team_weekly_metrics_task(987654321, last_complete_week().isoformat()) == 0


def test_weekly_fan_out_targets_last_complete_week(django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(aggregate_team_weekly_metrics_task, "apply_async", lambda args, kwargs: sent.append(args))
    team = TeamFactory()
    with django_capture_on_commit_callbacks(execute=True):
        aggregate_all_teams_last_week(today="2026-03-11")  # a Wednesday
    assert sent == [(team.id, "2026-03-02")]
