"""Health endpoints for a load balancer or an orchestrator, cheap enough to poll every second.

``/healthz`` (liveness): the process answers. No database, no Redis, no session, no login: a
200 "ok" means "do not restart me", whatever the servers behind it are doing.

``/readyz`` (readiness): this process can serve requests now. Three checks, each bounded in time:

- ``database``: ``SELECT 1`` with a ``statement_timeout`` of ``READY_DATABASE_TIMEOUT_MS``, sent in the
  same message as a ``SET LOCAL`` (PostgreSQL runs a multi-statement message as one implicit
  transaction, so the timeout covers that ``SELECT`` alone and never outlives it on a pooled
  connection): one round trip, one statement;
- ``redis``: ``PING`` on a client of its own with a socket timeout of ``READY_REDIS_TIMEOUT_SECONDS``
  (the cache's client waits longer, and swallows errors);
- ``migrations``: nothing left in ``MigrationExecutor.migration_plan`` for the project's leaf nodes.
  Once true it stays true for the life of the process (migrations are applied before a deploy
  starts new processes, never under a running one), so a warm ``/readyz`` sends only the ``SELECT 1``.

200 with ``{"status": "ok", "checks": {...}}`` when all pass; else 503 with the failing checks named in
``failing`` (and ``Retry-After``). Check results name the error's class only; the details are logged on
``tformance.health``, not shown to whoever polls.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger("tformance.health")

READY_DATABASE_TIMEOUT_MS = 500
READY_REDIS_TIMEOUT_SECONDS = 0.5
READY_RETRY_AFTER_SECONDS = 5

_migrations_applied = False
_redis_clients: dict[str, redis.Redis] = {}
_redis_clients_lock = threading.Lock()


def check_database() -> None:
    """``SELECT 1`` under a statement timeout of its own; raises on any failure."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL statement_timeout = {int(READY_DATABASE_TIMEOUT_MS)}; SELECT 1")
        cursor.cursor.nextset()  # past the SET's empty result, to the SELECT's row (psycopg 3)
        if cursor.fetchone() != (1,):
            raise RuntimeError("SELECT 1 did not answer 1")


def _redis_client() -> redis.Redis:
    """One client per process and URL, with short timeouts of its own (``from_url`` reads unix:// too)."""
    url = settings.REDIS_URL
    client = _redis_clients.get(url)
    if client is None:
        with _redis_clients_lock:
            client = _redis_clients.setdefault(
                url,
                redis.Redis.from_url(
                    url,
                    socket_timeout=READY_REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=READY_REDIS_TIMEOUT_SECONDS,
                    retry_on_timeout=False,
                ),
            )
    return client


def check_redis() -> None:
    if not _redis_client().ping():
        raise RuntimeError("PING did not answer PONG")


def check_migrations() -> None:
    """Raises ``RuntimeError`` naming the first unapplied migration; remembers success for the process."""
    global _migrations_applied
    if _migrations_applied:
        return
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        migration, _backwards = plan[0]
        raise RuntimeError(f"{len(plan)} unapplied, first {migration.app_label}.{migration.name}")
    _migrations_applied = True


CHECKS = {"database": check_database, "redis": check_redis, "migrations": check_migrations}


def readiness() -> dict[str, str]:
    """Each check's result: "ok", or the error's class (the message is logged). Migrations are skipped
    when the database is down (they read it, and the answer would only repeat the database's)."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        if name == "migrations" and results.get("database") != "ok":
            results[name] = "skipped"
            continue
        started = time.perf_counter()
        try:
            check()
        except Exception as error:  # noqa: BLE001 - any failure means "not ready", reported by name
            logger.warning("readiness check %s failed after %.0f ms: %s: %s", name,
                           (time.perf_counter() - started) * 1000, type(error).__name__, error)  # fmt: skip
            results[name] = f"failed: {type(error).__name__}"
        else:
            results[name] = "ok"
    return results


@login_not_required
@require_safe
@never_cache
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
@require_safe
@never_cache
def readyz(request):
    checks = readiness()
    failing = [name for name, result in checks.items() if result.startswith("failed")]
    if not failing:
        return JsonResponse({"status": "ok", "checks": checks})
    response = JsonResponse({"status": "unavailable", "failing": failing, "checks": checks}, status=503)
    response["Retry-After"] = str(READY_RETRY_AFTER_SECONDS)
    return response
