"""Celery tasks of the GitHub integration: thin interfaces over the Copilot sync and the team sync.

The team sync (``apps.integrations.team_sync`` holds the logic):

- ``sync_team_github_task(team_id)``: members, then the repository list, then a chord: one
  ``sync_repository_task(team_id, repository_id)`` per tracked repository (a group, so the
  repositories sync in parallel on as many workers as there are), whose outcomes
  ``finish_pull_request_sync_task`` sums into the team's pull-request ``SyncStatus``.
- ``sync_repository_task``: one repository, under its Redis lock (a second run of the same one
  returns ``outcome="locked"`` at once). A spent rate limit is retried at GitHub's ``resetAt`` with
  ``self.retry(countdown=...)``, never a sleep; a refused token (401) is never retried. It always ends
  with an outcome (the chord needs one from each), "failed" when retries are exhausted.
- ``sync_all_github_task``: the daily beat entry, one team task per team with a credential (a token or a
  GitHub App installation).
- ``prune_webhook_deliveries_task``: the daily beat entry that forgets deliveries too old to be replayed.
- ``create_surveys_and_comments_task(team_id)``: what a webhook that stored a merge queues: surveys, then the
  survey comments on the PRs when the team asked for them.
- ``start_team_sync(team_id)``: what the team pages call after connecting or replacing a token.

In production (README, "Celery in production"): every task has Celery's soft and hard time limits
(``CELERY_TASK_SOFT_TIME_LIMIT``/``CELERY_TASK_TIME_LIMIT``; the team, repository and Copilot syncs set longer ones
below). ``acks_late`` is global (a task is acknowledged when it ends, so one whose worker died is delivered
again); ``reject_on_worker_lost`` is set on the tasks that may safely run twice: every sync (upserts, and
a Redis lock per team and per repository), the fan-outs (they only queue those) and the pruning. Not on
``create_surveys_and_comments_task`` nor ``finish_pull_request_sync_task``: they post PR comments, which a
second run could post again. A sync task that fails, or is stopped by a time limit, leaves its
``SyncStatus`` ``failed`` with the reason (``SyncTask.on_failure``, ``sync_status.failure_detail``).
"""

from __future__ import annotations

import contextlib
import logging

from celery import Task, chord, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction

from apps.integrations.github import GitHubError, GitHubUnavailable, RateLimited
from apps.integrations.models import HAS_CREDENTIAL, GitHubIntegration, SyncStatus
from apps.integrations.sync_status import fail_running_statuses, failure_detail
from tformance.celery import enqueue_on_commit

logger = logging.getLogger(__name__)

MAX_RETRIES = 6
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
COPILOT_SOFT_TIME_LIMIT = 15 * 60  # 28 days of reports, each a download, from a slow GitHub
COPILOT_TIME_LIMIT = 17 * 60


class SyncTask(Task):
    """A task that syncs one team (``team_id`` its first argument) and keeps its ``sync_kinds`` statuses.

    The sync records its own errors, soft time limit included; a hard time limit kills the process first,
    and the worker's parent process then calls ``on_failure`` (Celery 5.3+ does it for hard limits too),
    which marks the statuses the run left ``running`` as ``failed`` with the reason."""

    sync_kinds: tuple[str, ...] = ()

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        team_id = args[0] if args else kwargs.get("team_id")
        if team_id is None or not self.sync_kinds:
            return
        try:
            fail_running_statuses(team_id=team_id, kinds=list(self.sync_kinds), detail=failure_detail(exc))
        except Exception:  # the database may be why it failed: log, never break the worker
            logger.exception("could not record the failure of %s for team %s", self.name, team_id)


IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True}  # acks_late is global; said again beside it


def retry_countdown(error: Exception, retries: int) -> int:
    """Seconds to wait before the next try: GitHub's own wait for a rate limit, else exponential backoff."""
    if isinstance(error, RateLimited):
        return max(1, int(error.wait_seconds) + 1)  # +1: the reset instant itself may still be limited
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)


@shared_task(
    bind=True,
    base=SyncTask,
    sync_kinds=(SyncStatus.Kind.COPILOT,),
    max_retries=MAX_RETRIES,
    soft_time_limit=COPILOT_SOFT_TIME_LIMIT,
    time_limit=COPILOT_TIME_LIMIT,
    **IDEMPOTENT,
)
def sync_copilot_metrics_task(self, team_id: int) -> dict:
    """Sync one team's Copilot usage; retried on rate limits and GitHub outages."""
    from apps.integrations.copilot_service import sync_copilot_metrics

    integration = GitHubIntegration.objects.select_related("team").filter(team_id=team_id).first()
    if integration is None:
        logger.warning("no GitHub integration for team %s: nothing to sync", team_id)
        return {"skipped": "no integration"}
    from apps.integrations import team_sync

    team = integration.team
    try:
        with team_sync.recording_status(team, "copilot"):  # running, then failed / rate_limited on an error
            result = sync_copilot_metrics(team)
    except team_sync.TokenRefused as refused:
        logger.warning("Copilot sync of team %s: %s; not retried", team_id, refused)
        return {"skipped": str(refused)}
    except (RateLimited, GitHubUnavailable) as error:
        countdown = retry_countdown(error, self.request.retries)
        logger.warning("Copilot sync of team %s: %s; retrying in %s s", team_id, error, countdown)
        raise self.retry(exc=error, countdown=countdown) from error
    outcome = result.as_dict()
    counts = {name: value for name, value in outcome.items() if isinstance(value, int) and not isinstance(value, bool)}
    team_sync.record_sync_state(team=team, kind="copilot", state="done", counts=counts)
    return outcome


@shared_task(**IDEMPOTENT)
def sync_all_copilot_metrics() -> int:
    """Fan out: one sync task per integration. Returns how many were enqueued."""
    team_ids = list(GitHubIntegration.objects.values_list("team_id", flat=True))
    for team_id in team_ids:
        enqueue_on_commit(sync_copilot_metrics_task, team_id)
    return len(team_ids)


# --- the team sync: members, repositories, pull requests -----------------------------------------

REPOSITORY_MAX_RETRIES = 12  # rate-limit waits are at most an hour each
REPOSITORY_SOFT_TIME_LIMIT = 25 * 60  # then the run stops between pages and goes on in a fresh task
REPOSITORY_TIME_LIMIT = 30 * 60  # below team_sync.LOCK_SECONDS: the lock outlives the task
TEAM_SOFT_TIME_LIMIT = 10 * 60
TEAM_TIME_LIMIT = 12 * 60


def start_team_sync(team_id: int) -> None:
    """Sync the team's GitHub data once the current transaction commits (teams call this, not Celery)."""
    enqueue_on_commit(sync_team_github_task, team_id)


def _team(team_id: int):
    from apps.teams.models import Team

    return Team.objects.filter(pk=team_id).first()


@shared_task(
    bind=True,
    base=SyncTask,
    sync_kinds=(SyncStatus.Kind.MEMBERS, SyncStatus.Kind.REPOSITORIES),
    max_retries=MAX_RETRIES,
    soft_time_limit=TEAM_SOFT_TIME_LIMIT,
    time_limit=TEAM_TIME_LIMIT,
    **IDEMPOTENT,
)
def sync_team_github_task(self, team_id: int) -> dict:
    """Members and the repository list now, then a chord of one task per tracked repository."""
    from apps.integrations import team_sync

    team = _team(team_id)
    if team is None:
        return {"outcome": "skipped", "detail": "no such team"}
    lock = team_sync.team_lock(team_id)
    if not lock.acquire(blocking=False):
        logger.info("team %s is being synced by another worker: nothing to do", team_id)
        return {"outcome": "locked"}
    try:
        try:
            started = team_sync.start_team_sync(team)
        finally:  # before a retry is sent (an eager retry runs inside self.retry)
            with contextlib.suppress(Exception):  # expired: nothing to release
                lock.release()
    except team_sync.TokenRefused as refused:
        logger.warning("GitHub sync of team %s: %s; not retried", team_id, refused)
        return {"outcome": "token_refused", "detail": str(refused)}
    except (RateLimited, GitHubUnavailable) as error:
        countdown = retry_countdown(error, self.request.retries)
        logger.warning("GitHub sync of team %s: %s; retrying in %s s", team_id, error, countdown)
        raise self.retry(exc=error, countdown=countdown) from error
    repository_ids = started.pop("repository_ids")
    if repository_ids:
        header = [sync_repository_task.s(team_id, repository_id) for repository_id in repository_ids]
        transaction.on_commit(lambda: chord(header)(finish_pull_request_sync_task.s(team_id)))
    return {"outcome": "started", "tracked": len(repository_ids), **started}


@shared_task(
    bind=True,
    base=SyncTask,
    sync_kinds=(SyncStatus.Kind.PULL_REQUESTS,),  # the chord's end never comes when one repository is killed
    max_retries=REPOSITORY_MAX_RETRIES,
    soft_time_limit=REPOSITORY_SOFT_TIME_LIMIT,
    time_limit=REPOSITORY_TIME_LIMIT,
    **IDEMPOTENT,
)
def sync_repository_task(self, team_id: int, repository_id: int) -> dict:
    """One tracked repository's pull requests; always returns an outcome (see the module doc)."""
    from apps.integrations import team_sync

    team = _team(team_id)
    if team is None:
        return {"repository_id": repository_id, "outcome": "skipped", "detail": "no such team"}
    try:
        outcome = team_sync.sync_tracked_repository(team, repository_id)
    except team_sync.TokenRefused as refused:
        logger.warning("PR sync of repository %s (team %s): %s; not retried", repository_id, team_id, refused)
        return {"repository_id": repository_id, "outcome": "token_refused", "detail": str(refused)}
    except (RateLimited, GitHubUnavailable, SoftTimeLimitExceeded) as error:
        if self.request.retries >= self.max_retries:
            return {"repository_id": repository_id, "outcome": "failed", "detail": f"gave up: {error}"}
        countdown = 1 if isinstance(error, SoftTimeLimitExceeded) else retry_countdown(error, self.request.retries)
        logger.warning("PR sync of repository %s (team %s): %s; retrying in %s s", repository_id, team_id,
                       error or "time limit", countdown)  # fmt: skip
        raise self.retry(exc=error, countdown=countdown) from error
    except Exception as error:  # recorded on the repository by pr_sync; the chord needs an outcome, the others go on
        log = logger.warning if isinstance(error, GitHubError) else logger.exception
        log("PR sync of repository %s (team %s) failed: %s", repository_id, team_id, error)
        return {"repository_id": repository_id, "outcome": "failed", "detail": f"{type(error).__name__}: {error}"}
    if outcome["outcome"] == "locked":
        logger.info("repository %s is being synced by another worker: nothing to do", repository_id)
    return outcome


@shared_task
def finish_pull_request_sync_task(outcomes: list[dict], team_id: int) -> dict:
    """The chord's end: the team's pull-request status from every repository's outcome."""
    from apps.integrations import team_sync

    team = _team(team_id)
    if team is None:
        return {"outcome": "skipped"}
    return team_sync.finish_pull_requests(team, outcomes)


@shared_task(**IDEMPOTENT)
def sync_all_github_task() -> int:
    """The daily fan-out: one team sync per team with a token or an app. Returns how many were enqueued."""
    team_ids = list(GitHubIntegration.objects.filter(HAS_CREDENTIAL).values_list("team_id", flat=True))
    for team_id in team_ids:
        enqueue_on_commit(sync_team_github_task, team_id)
    return len(team_ids)


@shared_task
def create_surveys_and_comments_task(team_id: int) -> dict:
    """A webhook stored a merge: survey the team's recent merges (``survey_service.create_surveys``), then post the
    survey comments the team asked for (``survey_comments.post_survey_comments``). A team deleted meanwhile is
    skipped. (``apps.metrics.tasks.create_surveys_task`` does the first half; the metrics app does not know GitHub.)"""
    from apps.integrations.survey_comments import post_survey_comments
    from apps.metrics.services.survey_service import create_surveys

    team = _team(team_id)
    if team is None:
        return {"skipped": "no such team"}
    created = create_surveys(team)
    comments = post_survey_comments(team)
    return {"surveys": created.surveys, "survey_reviews": created.survey_reviews, "comments": comments.as_dict()}


@shared_task(**IDEMPOTENT)
def prune_webhook_deliveries_task() -> int:
    """The daily beat entry: forget webhook deliveries too old to be replayed. Returns how many."""
    from apps.integrations.webhooks import prune_webhook_deliveries

    return prune_webhook_deliveries()
