"""The integrations' Celery tasks: retry timing, on-commit fan-outs, the team sync's chord, and real workers
completing a sync (moved from tests/tformance/test_celery.py, which keeps the Celery app's configuration)."""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import override_settings

from apps.integrations.factories import GitHubIntegrationFactory
from apps.integrations.github import GitHubUnavailable, RateLimited
from apps.integrations.tasks import retry_countdown, sync_all_copilot_metrics, sync_copilot_metrics_task
from apps.metrics.factories import TeamMemberFactory
from apps.metrics.models import AIUsageDaily
from apps.perflab.github_stub import GitHubStub
from apps.teams.factories import TeamFactory
from tests.support import worker_env

REPO = Path(__file__).resolve().parents[2]


def test_retry_countdown_honours_the_rate_limit_wait_else_backs_off():
    assert retry_countdown(RateLimited(wait_seconds=42), retries=0) == 43
    assert retry_countdown(GitHubUnavailable("503"), retries=0) == 30
    assert retry_countdown(GitHubUnavailable("503"), retries=3) == 240
    assert retry_countdown(GitHubUnavailable("503"), retries=20) == 3600


@pytest.mark.django_db
def test_fan_out_waits_for_the_commit(django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(sync_copilot_metrics_task, "apply_async", lambda args, kwargs: sent.append(args))
    integrations = GitHubIntegrationFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert sync_all_copilot_metrics() == 3
    assert sent == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert sorted(sent) == sorted((i.team_id,) for i in integrations)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_completes_a_sync():
    team = TeamFactory()
    logins = ["ada", "grace", "linus"]
    for login in logins:
        TeamMemberFactory(team=team, github_username=login)
    GitHubIntegrationFactory(team=team, organization_slug="acme", copilot_synced_through=None)
    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with GitHubStub(org="acme") as github:
        for back in range(30):
            day = yesterday - dt.timedelta(days=back)
            github.set_day(
                day,
                [
                    {
                        "user_login": login,
                        "day": day.isoformat(),
                        "code_generation_activity_count": 5,
                        "code_acceptance_activity_count": 2,
                    }
                    for login in logins
                ],
            )
        command = [
            sys.executable, "-m", "celery", "-A", "tformance", "worker", "-Q", queue, "--pool", "solo",
            "--concurrency", "1", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        worker = subprocess.Popen(
            command,
            cwd=REPO,
            env=worker_env(queue, github.base_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            outcome = sync_copilot_metrics_task.apply_async(args=[team.id], queue=queue).get(timeout=120)
        finally:
            worker.terminate()
            output, _ = worker.communicate(timeout=60)
    assert outcome["rows_written"] == AIUsageDaily.objects.filter(team=team).count() > 0, output
    assert outcome["unknown_count"] == 0


@pytest.mark.django_db
def test_a_github_outage_is_retried_then_the_sync_completes(settings):
    team = TeamFactory()
    TeamMemberFactory(team=team, github_username="ada")
    GitHubIntegrationFactory(team=team, organization_slug="acme")
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with GitHubStub(org="acme") as github:
        for back in range(30):
            day = yesterday - dt.timedelta(days=back)
            github.set_day(day, [{"user_login": "ada", "day": day.isoformat(), "code_generation_activity_count": 3}])
        settings.GITHUB_API_URL = github.base_url
        github.fail_next(503)
        outcome = sync_copilot_metrics_task.apply(args=[team.id])  # eager: the retry runs at once
        assert github.requests[0].status == 503
    assert outcome.get()["rows_written"] == AIUsageDaily.objects.filter(team=team).count() > 0


# --- the team's GitHub sync ----------------------------------------------------------------------

GITHUB_TOKEN = "ghp_celerysync00000000000000000000000000"


@pytest.fixture
def organization(start_github):
    """A running stand-in for "acme" with a small organisation; the API URL points at it."""
    return start_github(GITHUB_TOKEN, members=6, repositories=3, prs_per_repository=7)


def _tracked_team():
    from apps.integrations import team_sync
    from apps.integrations.models import TrackedRepository
    from apps.integrations.repository_sync import set_tracked

    team = TeamFactory()
    GitHubIntegrationFactory(team=team, organization_slug="acme", access_token=GITHUB_TOKEN)
    team_sync.refresh_repositories(team)
    names = list(TrackedRepository.objects.filter(team=team).values_list("name_with_owner", flat=True))
    set_tracked(team=team, names=names)
    return team


@pytest.mark.django_db
def test_the_team_task_syncs_members_then_a_chord_of_repositories(
    organization, eager_celery, django_capture_on_commit_callbacks
):
    from apps.integrations.models import SyncStatus
    from apps.integrations.tasks import sync_team_github_task
    from apps.metrics.models import PullRequest

    team = _tracked_team()
    organization.reset_log()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = sync_team_github_task.apply(args=[team.id]).get()
    assert outcome["outcome"] == "started" and outcome["tracked"] == 3
    assert organization.count_operation("PullRequests") == 3  # 7 PRs: one page per repository
    assert PullRequest.objects.filter(team=team).count() == organization.organization.pull_request_count
    status = SyncStatus.objects.get(team=team, kind=SyncStatus.Kind.PULL_REQUESTS)
    assert status.state == SyncStatus.State.DONE
    assert status.counts["pull_requests"] == organization.organization.pull_request_count
    assert status.counts["repositories"] == 3


@pytest.mark.django_db
def test_a_spent_rate_limit_is_retried_at_the_reset(organization, monkeypatch):
    from celery.exceptions import Retry

    from apps.integrations.models import SyncStatus, TrackedRepository
    from apps.integrations.tasks import sync_repository_task
    from apps.metrics.models import PullRequest

    team = _tracked_team()
    repository = TrackedRepository.objects.filter(team=team).first()
    reset_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=30)
    organization.set_rate_limit(remaining=0, reset_at=reset_at)
    scheduled = []

    def retry(*, exc=None, countdown=None, **options):  # record what the worker would schedule
        scheduled.append(countdown)
        return Retry(exc=exc, when=countdown)

    monkeypatch.setattr(sync_repository_task, "retry", retry)
    result = sync_repository_task.apply(args=[team.id, repository.pk])
    assert result.state == "RETRY"
    [countdown] = scheduled
    assert abs(countdown - 30 * 60) <= 3  # GitHub's resetAt, +1 s
    assert PullRequest.objects.filter(team=team).count() == 0
    status = SyncStatus.objects.get(team=team, kind=SyncStatus.Kind.PULL_REQUESTS)
    assert status.state == SyncStatus.State.RATE_LIMITED
    assert abs((status.retry_at - reset_at).total_seconds()) <= 2  # from GitHub's X-RateLimit-Reset


@pytest.mark.django_db
def test_a_refused_token_is_not_retried(organization, monkeypatch):
    from apps.integrations import team_sync
    from apps.integrations.models import SyncStatus, TrackedRepository
    from apps.integrations.tasks import sync_repository_task, sync_team_github_task

    team = _tracked_team()
    repository = TrackedRepository.objects.filter(team=team).first()
    organization.token = "ghp_revoked"
    organization.reset_log()
    monkeypatch.setattr(sync_repository_task, "retry", lambda **kw: pytest.fail("retried a 401"))
    monkeypatch.setattr(sync_team_github_task, "retry", lambda **kw: pytest.fail("retried a 401"))
    assert sync_repository_task.apply(args=[team.id, repository.pk]).get()["outcome"] == "token_refused"
    assert sync_team_github_task.apply(args=[team.id]).get()["outcome"] == "token_refused"
    assert organization.request_count == 2  # one each
    for kind in (SyncStatus.Kind.PULL_REQUESTS, SyncStatus.Kind.MEMBERS):
        status = SyncStatus.objects.get(team=team, kind=kind)
        assert (status.state, status.detail) == (SyncStatus.State.FAILED, team_sync.TOKEN_REFUSED)


@pytest.mark.django_db
def test_a_second_task_on_a_locked_repository_exits_at_once(organization):
    from apps.integrations import team_sync
    from apps.integrations.models import TrackedRepository
    from apps.integrations.tasks import sync_repository_task

    team = _tracked_team()
    repository = TrackedRepository.objects.filter(team=team).first()
    held = team_sync.repository_lock(repository.pk)
    assert held.acquire(blocking=False)
    organization.reset_log()
    try:
        assert sync_repository_task.apply(args=[team.id, repository.pk]).get()["outcome"] == "locked"
    finally:
        held.release()
    assert organization.request_count == 0


@pytest.mark.django_db
def test_the_daily_fan_out_and_the_first_sync_wait_for_the_commit(django_capture_on_commit_callbacks, monkeypatch):
    from apps.integrations.tasks import start_team_sync, sync_all_github_task, sync_team_github_task

    sent = []
    monkeypatch.setattr(sync_team_github_task, "apply_async", lambda args, kwargs: sent.append(args))
    with_token = GitHubIntegrationFactory.create_batch(2)
    GitHubIntegrationFactory(access_token="")  # nothing to sync with
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert sync_all_github_task() == 2
        start_team_sync(with_token[0].team_id)
    assert sent == []
    for callback in callbacks:
        callback()
    assert sorted(sent) == sorted([(i.team_id,) for i in with_token] + [(with_token[0].team_id,)])


@pytest.mark.django_db
def test_the_copilot_task_records_its_status(settings):
    from apps.integrations.models import SyncStatus

    team = TeamFactory()
    TeamMemberFactory(team=team, github_username="ada")
    GitHubIntegrationFactory(team=team, organization_slug="acme", access_token=GITHUB_TOKEN)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with GitHubStub(org="acme", token=GITHUB_TOKEN) as github:
        github.set_day(
            yesterday, [{"user_login": "ada", "day": yesterday.isoformat(), "code_generation_activity_count": 3}]
        )
        settings.GITHUB_API_URL = github.base_url
        outcome = sync_copilot_metrics_task.apply(args=[team.id]).get()
        status = SyncStatus.objects.get(team=team, kind=SyncStatus.Kind.COPILOT)
        assert status.state == SyncStatus.State.DONE
        assert status.counts["rows_written"] == outcome["rows_written"] > 0
        github.token = "ghp_revoked"
        assert "token was refused" in sync_copilot_metrics_task.apply(args=[team.id]).get()["skipped"]
    status.refresh_from_db()
    assert (status.state, status.detail) == (
        SyncStatus.State.FAILED,
        "the token was refused; enter a new one in settings",
    )


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_team_sync_chord():
    from apps.integrations.models import SyncStatus
    from apps.integrations.tasks import sync_team_github_task
    from apps.metrics.models import PullRequest

    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    with GitHubStub.with_organization("acme", GITHUB_TOKEN, members=5, repositories=2, prs_per_repository=60) as stub:
        with override_settings(GITHUB_API_URL=stub.base_url):
            team = _tracked_team()
        command = [
            sys.executable, "-m", "celery", "-A", "tformance", "worker", "-Q", queue, "--pool", "threads",
            "--concurrency", "2", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        worker = subprocess.Popen(
            command, cwd=REPO, env=worker_env(queue, stub.base_url),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            started = sync_team_github_task.apply_async(args=[team.id], queue=queue).get(timeout=120)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                status = SyncStatus.objects.filter(team=team, kind=SyncStatus.Kind.PULL_REQUESTS).first()
                if status and status.state != SyncStatus.State.RUNNING:
                    break
                time.sleep(0.2)
        finally:
            worker.terminate()
            output, _ = worker.communicate(timeout=60)
    assert started["tracked"] == 2, output
    assert status.state == SyncStatus.State.DONE, (status.detail, output)
    assert status.counts["pull_requests"] == PullRequest.objects.filter(team=team).count() == 120
    assert status.counts["pages"] == 4  # 60 PRs a repository, 50 a page


@pytest.mark.django_db
def test_a_malformed_page_fails_that_repository_and_the_chord_still_finishes(
    organization, eager_celery, django_capture_on_commit_callbacks
):
    from apps.integrations.models import SyncStatus, TrackedRepository
    from apps.integrations.tasks import sync_team_github_task

    team = _tracked_team()
    organization.fail_next(200, {"Content-Type": "application/json"}, b"{not json", operation="PullRequests")
    with django_capture_on_commit_callbacks(execute=True):
        sync_team_github_task.apply(args=[team.id]).get()
    status = SyncStatus.objects.get(team=team, kind=SyncStatus.Kind.PULL_REQUESTS)
    assert status.state == SyncStatus.State.FAILED and "MalformedResponse" in status.detail
    assert status.counts["failed"] == 1 and status.counts["repositories"] == 3
    statuses = sorted(TrackedRepository.objects.filter(team=team).values_list("status", flat=True))
    assert statuses == ["failed", "ok", "ok"]


@pytest.mark.django_db
def test_a_second_team_sync_while_one_runs_exits_at_once(organization):
    from apps.integrations import team_sync
    from apps.integrations.tasks import sync_team_github_task

    team = _tracked_team()
    held = team_sync.team_lock(team.id)
    assert held.acquire(blocking=False)
    organization.reset_log()
    try:
        assert sync_team_github_task.apply(args=[team.id]).get() == {"outcome": "locked"}
    finally:
        held.release()
    assert organization.request_count == 0
    assert team_sync.team_lock(team.id).acquire(blocking=False)
