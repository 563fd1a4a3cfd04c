"""A Redis cache that a slow or hung Redis cannot stall: short timeouts and a circuit breaker.

django-redis already turns a Redis error into a cache miss (``IGNORE_EXCEPTIONS``), but each
command still waits its full socket timeout, and a page makes several: a hung Redis made every
request wait for all of them. Settings give the sockets a fraction of a second (``CACHE_SOCKET_TIMEOUT``),
and ``CircuitBreakerRedis``, the redis-py client django-redis is told to use (``REDIS_CLIENT_CLASS``),
guards every command with a pybreaker circuit breaker shared by the process: the first command that
fails opens it, and for the cool-down (``CACHE_BREAKER_COOLDOWN``, 30 s) every command fails at once
without touching the network, so reads miss and the figures come from PostgreSQL. After the
cool-down one command tries Redis again: success closes the breaker, failure opens it for another
cool-down. One log line when the breaker opens and one when it closes (logger ``tformance.cache``),
not a traceback per request.

pybreaker holds its lock while a guarded command runs, so a process's Redis commands run one at a
time: a cache round trip is a fraction of a millisecond, and while Redis hangs only the first
caller waits for the timeout; the others, queued behind it, find the breaker open.

Pipelines (``set_many``, ``delete_many``, ``delete_pattern``) run outside the breaker; the app's
reads and version bumps (``get``, ``set``, ``add``, ``incr``) are single commands. Celery's broker
is its own kombu connection and never passes through here.
"""

from __future__ import annotations

import logging
import threading
import time

import pybreaker
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("tformance.cache")

DEFAULT_COOLDOWN_SECONDS = 30.0
# The failures that mean "Redis is not answering". A ResponseError (a wrong command, a type error)
# is an answer: it neither opens the breaker nor counts against it.
OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class CacheSkipped(RedisConnectionError):
    """Raised instead of a command while the breaker is open; django-redis treats it as an outage (a miss)."""


class _OutageLog(pybreaker.CircuitBreakerListener):
    """One line when an outage starts (closed -> open), one when it ends (half-open -> closed)."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.last_error: BaseException | None = None
        self.started: float | None = None

    def failure(self, cb, exc) -> None:
        self.last_error = exc

    def state_change(self, cb, old_state, new_state) -> None:
        if new_state.name == pybreaker.STATE_OPEN and old_state.name == pybreaker.STATE_CLOSED:
            self.started = time.monotonic()
            logger.error(
                "Redis cache at %s unreachable (%s: %s): skipping the cache for %.0f s, then trying again",
                self.server,
                type(self.last_error).__name__,
                self.last_error,
                cb.reset_timeout,
            )
        elif new_state.name == pybreaker.STATE_CLOSED and self.started is not None:
            logger.info(
                "Redis cache at %s reachable again after %.1f s: the cache is used again",
                self.server,
                time.monotonic() - self.started,
            )
            self.started = None


_breakers: dict[tuple[str, float], pybreaker.CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(server: str, cooldown: float) -> pybreaker.CircuitBreaker:
    """The process's one breaker for this Redis server (every thread and cache instance shares it)."""
    key = (server, cooldown)
    with _breakers_lock:
        if key not in _breakers:
            _breakers[key] = pybreaker.CircuitBreaker(
                fail_max=1,  # each failure already cost a timeout: a second one would double the wait
                reset_timeout=cooldown,
                exclude=[lambda exc: not isinstance(exc, OUTAGE_ERRORS)],
                throw_new_error_on_trip=False,  # the tripping call raises its own error (django-redis knows it)
                listeners=[_OutageLog(server)],
                name=f"redis cache {server}",
            )
        return _breakers[key]


def _describe(pool: redis.ConnectionPool) -> str:
    kwargs = pool.connection_kwargs
    db = kwargs.get("db", 0)
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}?db={db}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


class CircuitBreakerRedis(redis.Redis):
    """redis-py's client with every command guarded by the server's circuit breaker.

    django-redis builds it (``REDIS_CLIENT_CLASS``) with ``REDIS_CLIENT_KWARGS``:
    ``circuit_breaker_cooldown``, the seconds the cache is skipped after a failure.
    """

    def __init__(self, *args, circuit_breaker_cooldown: float = DEFAULT_COOLDOWN_SECONDS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.circuit_breaker = breaker_for(_describe(self.connection_pool), float(circuit_breaker_cooldown))

    def execute_command(self, *args, **options):
        try:
            return self.circuit_breaker.call(super().execute_command, *args, **options)
        except pybreaker.CircuitBreakerError as exc:
            raise CacheSkipped(f"Redis skipped for the cool-down after a failure ({exc})") from exc
