"""Production serving: bin/serve-production really starts gunicorn, behind a simulated HTTPS proxy; and a
Celery task that fails or hits its time limit leaves a failed sync, with the reason, on the settings page.

The server is a subprocess (settings are read once per process) with DJANGO_DEBUG=false, this run's test
database and Redis, a strong SECRET_KEY and a STATIC_ROOT of its own; the script runs its migration check and
collectstatic, then execs gunicorn on a free loopback port. The test speaks plain HTTP to it, as the proxy
would, with ``X-Forwarded-Proto: https`` and the public host on every request but the health checks.
"""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote

import pytest
from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.urls import reverse

from apps.integrations import copilot_service
from apps.integrations.factories import GitHubIntegrationFactory
from apps.integrations.models import SyncStatus
from apps.integrations.sync_status import record_sync_state
from apps.integrations.tasks import sync_copilot_metrics_task, sync_repository_task
from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from apps.teams.models import Membership
from tests.support import worker_env
from tests.tformance.test_health import silent_port  # noqa: F401, F811 - a fixture
from tests.tformance.test_static_production import _Browser, _production_env

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"
PUBLIC_HOST = "tformance.example"
PROXIED = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https"}  # what the HTTPS proxy adds to each request
START_TIMEOUT_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str, headers: dict | None = None):
    connection = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def gunicorn_server(tmp_path, transactional_db):
    """bin/serve-production on a free port; yields (port, stdout path, stderr path); stopped with SIGTERM."""
    port = _free_port()
    env = _production_env(tmp_path / "static")
    env.update(
        ALLOWED_HOSTS=f"{PUBLIC_HOST},127.0.0.1",
        DJANGO_BEHIND_PROXY="true",
        SECURE_SSL_REDIRECT="true",  # production's default, whatever the shared helper says
        SESSION_COOKIE_SECURE="true",
        CSRF_COOKIE_SECURE="true",
        CSRF_TRUSTED_ORIGINS=f"https://{PUBLIC_HOST}",
        SECRET_KEY=secrets.token_urlsafe(50),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="2",
        PYTHONUNBUFFERED="1",
    )
    env.pop("TFORMANCE_MIGRATE_ON_START", None)
    stdout_path, stderr_path = tmp_path / "gunicorn.stdout", tmp_path / "gunicorn.stderr"
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        server = subprocess.Popen([str(REPO / "bin/serve-production")], cwd=REPO, env=env, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert server.poll() is None, f"serve-production exited {server.returncode}:\n{stderr_path.read_text()}"
            try:
                if _get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not answer:\n{stderr_path.read_text()}"
            time.sleep(0.2)
        yield port, stdout_path, stderr_path
    finally:
        server.send_signal(signal.SIGTERM)  # gunicorn's graceful stop
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _user_with_password():
    user = UserFactory()
    hasher = PBKDF2PasswordHasher()  # the tests' MD5 hasher is not among the server's PASSWORD_HASHERS
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


def test_gunicorn_serves_health_static_files_and_a_login_behind_an_https_proxy(gunicorn_server):
    port, stdout_path, stderr_path = gunicorn_server
    user = _user_with_password()
    team = TeamFactory(name="Platform")
    MembershipFactory(user=user, team=team)
    try:
        # The health checks, over plain HTTP as a load balancer sends them (never redirected to HTTPS).
        assert _get(port, "/healthz") == (200, b"ok")
        status, body = _get(port, "/readyz")
        assert status == 200, body
        assert b'"status": "ok"' in body

        browser = _Browser(port)
        # Plain HTTP that did not come through the proxy is sent to HTTPS (SECURE_SSL_REDIRECT).
        response, _ = browser.get("/accounts/login/", Host=PUBLIC_HOST)
        assert response.status == 301
        assert response.getheader("Location") == f"https://{PUBLIC_HOST}/accounts/login/"

        # The login form through the proxy: the CSRF cookie, the token, then the POST with the browser's Origin.
        response, content = browser.get("/accounts/login/", **PROXIED)
        assert response.status == 200, content[:2000]
        assert response.getheader("Strict-Transport-Security"), "HSTS on an HTTPS response"
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content).group(1).decode()
        body = f"csrfmiddlewaretoken={quote(token)}&username={quote(user.username)}&password={quote(PASSWORD)}"
        origin = {"Origin": f"https://{PUBLIC_HOST}", "Referer": f"https://{PUBLIC_HOST}/accounts/login/"}

        # Another site's form is still refused: the proxy header does not switch CSRF off.
        response, _ = browser.request("POST", "/accounts/login/", body=body,
                                      headers={**PROXIED, "Origin": "https://evil.example"})  # fmt: skip
        assert response.status == 403

        response, content = browser.request("POST", "/accounts/login/", body=body, headers={**PROXIED, **origin})
        assert response.status == 302, content[:2000]
        assert response.getheader("Location") == reverse("teams:home")
        assert "sessionid" in browser.cookies
        response, content = browser.get(reverse("teams:home"), **PROXIED)
        assert response.status == 200, content[:2000]
        assert b"Platform" in content

        # A static file, served by WhiteNoise from the STATIC_ROOT that serve-production collected into.
        icon = re.search(rb'<link[^>]+rel="icon"[^>]+href="([^"]+)"', content).group(1).decode()
        response, svg = browser.get(icon, **PROXIED)
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("image/svg+xml")
        assert b"<svg" in svg
    except AssertionError:
        print("--- gunicorn stderr ---\n" + stderr_path.read_text())
        raise

    access = stdout_path.read_text()
    assert re.search(r'"GET /healthz HTTP/1\.1" 200 2 .* \d+ms', access), access
    assert '"POST /accounts/login/ HTTP/1.1" 302' in access, access
    assert "Listening at: http://127.0.0.1:" in stderr_path.read_text()  # gunicorn's own log: stderr


def test_serve_production_refuses_unapplied_migrations(tmp_path, transactional_db):
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    newest = next(name for app, name in MigrationLoader(connection).graph.leaf_nodes() if app == "teams")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'teams' AND name = %s RETURNING id", [newest])
        assert cursor.fetchone()
    try:
        env = _production_env(tmp_path / "static")
        env.update(SECRET_KEY=secrets.token_urlsafe(50), GUNICORN_BIND=f"127.0.0.1:{_free_port()}")
        env.pop("TFORMANCE_MIGRATE_ON_START", None)
        result = subprocess.run([str(REPO / "bin/serve-production")], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        assert result.returncode == 3, result.stderr
        assert "refusing to start: the database has unapplied migrations" in result.stderr
        assert f"teams.{newest}" in result.stderr or newest in result.stderr
        assert not (tmp_path / "static").exists()  # stopped before collectstatic and gunicorn
    finally:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('teams', %s, now())", [newest])


def test_production_refuses_eager_celery(tmp_path):
    env = _production_env(tmp_path / "static")
    env.update(SECRET_KEY=secrets.token_urlsafe(50), CELERY_TASK_ALWAYS_EAGER="true")
    result = subprocess.run(
        [os.environ.get("PYTHON", str(REPO / ".venv/bin/python")), "manage.py", "check"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "with CELERY_TASK_ALWAYS_EAGER=true" in result.stderr


# --- Celery: failures and time limits on the settings page -------------------------------------------


@pytest.fixture
def admin_client(client):
    def login(team):
        admin = UserFactory()
        MembershipFactory(user=admin, team=team, role=Membership.Role.ADMIN)
        client.force_login(admin)
        return client

    return login


def _sync_rows(page: str) -> str:
    return re.sub(r"\s+", " ", re.search(r"<table class=\"plain\">\s*<thead><tr><th>What</th>.*?</table>", page, re.S)
                  .group(0))  # fmt: skip


@pytest.mark.django_db
def test_a_failing_copilot_sync_shows_failed_with_its_reason(admin_client, start_github):
    stub = start_github("ghp_stub_token", organization="acme")
    integration = GitHubIntegrationFactory(organization_slug="acme", access_token="ghp_stub_token")
    stub.fail_next(200, {"Content-Type": "application/json"}, b"{this is not json")
    result = sync_copilot_metrics_task.apply(args=(integration.team_id,))  # eagerly, in this process
    assert result.failed()
    status = SyncStatus.objects.get(team=integration.team, kind=SyncStatus.Kind.COPILOT)
    assert status.state == SyncStatus.State.FAILED, status.detail

    page = admin_client(integration.team).get(reverse("teams:settings", args=[integration.team.slug]))
    rows = _sync_rows(page.content.decode())
    assert "Copilot usage</td><td>Failed" in rows, rows
    assert status.detail.split(":")[0] in rows  # the error's class, as recorded
    print("settings page:", rows)


@pytest.mark.django_db
def test_a_sync_stopped_by_the_soft_time_limit_shows_failed_with_the_reason(admin_client, monkeypatch):
    integration = GitHubIntegrationFactory()

    def runs_too_long(team):  # what the worker's SIGUSR1 handler raises inside a sync past its soft limit
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(copilot_service, "sync_copilot_metrics", runs_too_long)
    result = sync_copilot_metrics_task.apply(args=(integration.team_id,))
    assert result.failed()
    assert isinstance(result.result, SoftTimeLimitExceeded)

    page = admin_client(integration.team).get(reverse("teams:settings", args=[integration.team.slug]))
    rows = _sync_rows(page.content.decode())
    assert "Copilot usage</td><td>Failed" in rows, rows
    assert "stopped: the sync ran longer than its time limit" in rows, rows


@pytest.mark.django_db
def test_a_sync_killed_by_the_hard_time_limit_shows_failed_with_the_limit(admin_client, django_assert_num_queries):
    team = TeamFactory()
    # The repository task had set the team's pull requests running; then the worker killed its process. Celery's
    # worker (Request.on_timeout, 5.3+) then calls the task's on_failure with TimeLimitExceeded, as here.
    record_sync_state(team=team, kind=SyncStatus.Kind.PULL_REQUESTS, state=SyncStatus.State.RUNNING)
    record_sync_state(team=team, kind=SyncStatus.Kind.MEMBERS, state=SyncStatus.State.DONE)
    limit = sync_repository_task.time_limit
    with django_assert_num_queries(1):
        sync_repository_task.on_failure(TimeLimitExceeded(limit), "task-id", (team.id, 1), {}, None)

    statuses = dict(SyncStatus.objects.filter(team=team).values_list("kind", "state"))
    assert statuses == {"pull_requests": "failed", "members": "done"}  # only what the run left running
    page = admin_client(team).get(reverse("teams:settings", args=[team.slug]))
    rows = _sync_rows(page.content.decode())
    assert "Pull requests</td><td>Failed" in rows, rows
    assert f"stopped: the sync ran longer than its time limit ({limit} s)" in rows, rows


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_past_the_soft_time_limit_leaves_a_failed_sync(admin_client, silent_port):  # noqa: F811
    # A GitHub that accepts and never answers (the client would wait 30 s), a task given 3 s (hard 20 s): the
    # prefork worker signals its child, SoftTimeLimitExceeded interrupts the read inside the sync, which
    # records it. (Celery schedules the hard limit only once the soft one has fired: see the next test.)
    integration = GitHubIntegrationFactory(organization_slug="acme")
    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    command = [
        sys.executable, "-m", "celery", "-A", "tformance", "worker", "-Q", queue, "--pool", "prefork",
        "--concurrency", "1", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    env = worker_env(queue, f"http://127.0.0.1:{silent_port}")
    worker = subprocess.Popen(  # its own session: a worker stuck in its warm shutdown is killed with its children
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        start_new_session=True,
    )
    try:
        started = time.monotonic()
        result = sync_copilot_metrics_task.apply_async(
            args=[integration.team_id], queue=queue, soft_time_limit=3, time_limit=20
        )
        result.get(timeout=60, propagate=False)
        assert isinstance(result.result, SoftTimeLimitExceeded), result.result
        status = None
        while time.monotonic() - started < 90:  # on_failure runs just after the result is stored
            status = SyncStatus.objects.filter(team_id=integration.team_id, kind=SyncStatus.Kind.COPILOT).first()
            if status and status.state == SyncStatus.State.FAILED:
                break
            time.sleep(0.1)
        # 3 s, not 1: on a busy machine a 1 s limit could fire before the sync reached GitHub (a flaky failure)
        print(f"soft time limit (3 s): failed status {time.monotonic() - started:.1f} s after sending")
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:  # a warm shutdown that hangs (seen once in CI) is not this test's subject
            os.killpg(worker.pid, signal.SIGKILL)
            output, _ = worker.communicate(timeout=20)
    assert status is not None and status.state == SyncStatus.State.FAILED, output
    assert "Soft time limit (3" in output, output
    page = admin_client(integration.team).get(reverse("teams:settings", args=[integration.team.slug]))
    rows = _sync_rows(page.content.decode())
    assert "Copilot usage</td><td>Failed" in rows, rows
    assert "stopped: the sync ran longer than its time limit" in rows, rows


def test_time_limits_and_redelivery_are_configured():
    from django.conf import settings

    from apps.metrics.tasks import aggregate_team_weekly_metrics_task
    from tformance.celery import app

    app.loader.import_default_modules()
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert app.conf.task_soft_time_limit == settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    for name, task in app.tasks.items():
        if name.startswith("apps."):
            soft = task.soft_time_limit or app.conf.task_soft_time_limit
            hard = task.time_limit or app.conf.task_time_limit
            assert soft and hard and soft < hard, name
    assert aggregate_team_weekly_metrics_task.reject_on_worker_lost is True
    assert sync_repository_task.reject_on_worker_lost is True
    comments = app.tasks["apps.integrations.tasks.create_surveys_and_comments_task"]
    assert not comments.reject_on_worker_lost  # it posts PR comments: never twice
    longest_countdown = 3600
    assert app.conf.broker_transport_options["visibility_timeout"] > max(
        longest_countdown, sync_repository_task.time_limit
    )
