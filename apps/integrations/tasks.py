"""Celery tasks of the GitHub integration: thin interfaces over the Copilot sync service."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.integrations.github import GitHubUnavailable, RateLimited
from apps.integrations.models import GitHubIntegration
from tformance.celery import enqueue_on_commit

logger = logging.getLogger(__name__)

MAX_RETRIES = 6
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600


def retry_countdown(error: Exception, retries: int) -> int:
    """Seconds to wait before the next try: GitHub's own wait for a rate limit, else exponential backoff."""
    if isinstance(error, RateLimited):
        return max(1, int(error.wait_seconds) + 1)  # +1: the reset instant itself may still be limited
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)


@shared_task(bind=True, max_retries=MAX_RETRIES)
def sync_copilot_metrics_task(self, team_id: int) -> dict:
    """Sync one team's Copilot usage; retried on rate limits and GitHub outages."""
    from apps.integrations.copilot_service import sync_copilot_metrics

    integration = GitHubIntegration.objects.select_related("team").filter(team_id=team_id).first()
    if integration is None:
        logger.warning("no GitHub integration for team %s: nothing to sync", team_id)
        return {"skipped": "no integration"}
    try:
        result = sync_copilot_metrics(integration.team)
    except (RateLimited, GitHubUnavailable) as error:
        countdown = retry_countdown(error, self.request.retries)
        logger.warning("Copilot sync of team %s: %s; retrying in %s s", team_id, error, countdown)
        raise self.retry(exc=error, countdown=countdown) from error
    return result.as_dict()


@shared_task
def sync_all_copilot_metrics() -> int:
    """Fan out: one sync task per integration. Returns how many were enqueued."""
    team_ids = list(GitHubIntegration.objects.values_list("team_id", flat=True))
    for team_id in team_ids:
        enqueue_on_commit(sync_copilot_metrics_task, team_id)
    return len(team_ids)
