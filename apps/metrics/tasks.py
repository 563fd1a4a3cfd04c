"""Celery tasks of the metrics app: thin interfaces over the aggregation service."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from apps.metrics.services.dates import monday_of
from apps.teams.models import Team
from tformance.celery import enqueue_on_commit


@shared_task
def aggregate_team_weekly_metrics_task(team_id: int, week_start: str) -> int:
    """Rebuild one team's per-member rows for the week of ``week_start`` (YYYY-MM-DD)."""
    from apps.metrics.services.aggregation_service import aggregate_team_weekly_metrics

    team = Team.objects.get(pk=team_id)
    return aggregate_team_weekly_metrics(team, dt.date.fromisoformat(week_start))


@shared_task
def aggregate_all_teams_last_week(today: str | None = None) -> int:
    """Fan out: one aggregation task per team for the last complete week."""
    day = dt.date.fromisoformat(today) if today else dt.datetime.now(dt.UTC).date()
    last_monday = monday_of(day) - dt.timedelta(days=7)
    team_ids = list(Team.objects.values_list("id", flat=True))
    for team_id in team_ids:
        enqueue_on_commit(aggregate_team_weekly_metrics_task, team_id, last_monday.isoformat())
    return len(team_ids)
