"""Celery tasks of the metrics app: thin interfaces over the aggregation service.

All may run twice safely (an upsert per week with a watermark that never goes back; the fan-out only queues;
surveys are inserted ``ON CONFLICT DO NOTHING``), so a task whose worker died is delivered again
(``reject_on_worker_lost`` beside the global ``acks_late``). Time limits: the global
``CELERY_TASK_SOFT_TIME_LIMIT``/``CELERY_TASK_TIME_LIMIT`` (a catch-up does at most 52 weeks a run).
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from apps.metrics.services.aggregation_service import aggregate_team_weeks, last_complete_week
from apps.teams.models import Team
from tformance.celery import enqueue_on_commit

IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(**IDEMPOTENT)
def aggregate_team_weekly_metrics_task(team_id: int, through: str) -> int:
    """Catch one team's weekly rows up through the week of ``through`` (YYYY-MM-DD): every week after its
    watermark (``Team.weekly_metrics_through``), so a week a missed run left out is filled now.

    A catch-up longer than ``MAX_CATCH_UP_WEEKS`` does the oldest weeks and enqueues this task again for
    the rest. A team deleted meanwhile is skipped. Returns the number of rows written.
    """
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    result = aggregate_team_weeks(team, through=dt.date.fromisoformat(through))
    if result.remaining:
        enqueue_on_commit(aggregate_team_weekly_metrics_task, team_id, through)
    return result.rows


@shared_task(**IDEMPOTENT)
def aggregate_all_teams_last_week(today: str | None = None) -> int:
    """Fan out: one catch-up task per team, through the last complete week (Celery beat, Mondays)."""
    day = dt.date.fromisoformat(today) if today else None
    through = last_complete_week(day).isoformat()
    team_ids = list(Team.objects.values_list("id", flat=True))
    for team_id in team_ids:
        enqueue_on_commit(aggregate_team_weekly_metrics_task, team_id, through)
    return len(team_ids)


@shared_task(**IDEMPOTENT)
def create_surveys_task(team_id: int) -> dict:
    """Surveys for the team's recently merged PRs (``survey_service.create_surveys``); a webhook queues it."""
    from apps.metrics.services.survey_service import create_surveys

    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return {"skipped": "no such team"}
    created = create_surveys(team)
    return {"surveys": created.surveys, "survey_reviews": created.survey_reviews}
