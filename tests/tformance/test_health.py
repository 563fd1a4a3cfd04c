"""/healthz and /readyz: what they answer, what they read, how long they take, and each failing check named.

The failures are real: a Redis port nobody listens on, a Redis that accepts and never answers (a socket
of the test's own), a migration marked unapplied in the test's transaction.
"""

import socket
import statistics
import threading
import time

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext

from tformance import health

POLLS = 200


@pytest.fixture(autouse=True)
def _migrations_not_yet_confirmed(monkeypatch):
    """Each test starts as a fresh process does: the migrations not yet confirmed, no Redis client made."""
    monkeypatch.setattr(health, "_migrations_applied", False)
    monkeypatch.setattr(health, "_redis_clients", {})


def _median_ms(client, path: str) -> float:
    timings = []
    for _ in range(POLLS):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
    return statistics.median(timings)


def test_healthz_answers_ok_without_a_database_session_or_login(client):
    # No django_db mark: any statement would fail this test. Anonymous, and no cookie comes back.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Content-Type"].startswith("text/plain")
    assert "no-cache" in response["Cache-Control"]
    assert not response.cookies
    assert client.post("/healthz").status_code == 405  # GET and HEAD only


@pytest.mark.django_db
def test_healthz_sends_no_statement_and_is_cheap(client):
    with CaptureQueriesContext(connection) as queries:
        client.get("/healthz")
    assert len(queries) == 0, [q["sql"] for q in queries]
    median = _median_ms(client, "/healthz")
    print(f"/healthz median over {POLLS} requests (test client): {median:.2f} ms")
    assert median < 20


@pytest.mark.django_db
def test_readyz_checks_everything_once_then_sends_one_statement(client):
    with CaptureQueriesContext(connection) as first:
        response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "migrations": "ok"}}
    assert "no-cache" in response["Cache-Control"]
    print(f"/readyz first request: {len(first)} statements (SELECT 1 and the migration check)")
    assert len(first) >= 2

    with CaptureQueriesContext(connection) as warm:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert [q["sql"] for q in warm] == [f"SET LOCAL statement_timeout = {health.READY_DATABASE_TIMEOUT_MS}; SELECT 1"]

    median = _median_ms(client, "/readyz")
    print(f"/readyz median over {POLLS} requests (test client, migrations confirmed): {median:.2f} ms")
    assert median < 30


@pytest.mark.django_db(transaction=True)
def test_the_statement_timeout_covers_the_check_alone(client):
    # Autocommit, as in production: the SET LOCAL ends with its message, the pooled connection keeps nothing.
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        before = cursor.fetchone()[0]
    assert client.get("/readyz").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == before


@pytest.mark.django_db
def test_readyz_names_an_unapplied_migration(client):
    # A release whose newest migration was not applied yet: its row removed, rolled back with the test.
    newest = next(name for app, name in MigrationLoader(connection).graph.leaf_nodes() if app == "metrics")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'metrics' AND name = %s", [newest])
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["migrations"]
    assert body["checks"] == {"database": "ok", "redis": "ok", "migrations": "failed: RuntimeError"}
    assert response["Retry-After"] == str(health.READY_RETRY_AFTER_SECONDS)
    assert health._migrations_applied is False  # a failure is never remembered


@pytest.mark.django_db
def test_readyz_names_redis_when_nothing_listens(client, settings):
    with socket.socket() as probe:  # a free port, closed again: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert response.json()["checks"]["redis"] == "failed: ConnectionError"


@pytest.fixture
def silent_port():
    """A loopback TCP port that accepts connections and never answers: a hung server, as its clients see it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.django_db
def test_readyz_gives_up_on_a_hung_redis_within_its_timeout(client, settings, silent_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{silent_port}/0"
    started = time.perf_counter()
    response = client.get("/readyz")
    elapsed = time.perf_counter() - started
    print(f"/readyz with a Redis that never answers: {response.status_code} in {elapsed * 1000:.0f} ms")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "failed: TimeoutError"
    assert health.READY_REDIS_TIMEOUT_SECONDS <= elapsed < health.READY_REDIS_TIMEOUT_SECONDS + 0.5
