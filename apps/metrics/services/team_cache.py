"""Per-team cache versions: a cached figure is never older than the team's last data change.

Every cache key of a team's figures carries the team's data version. Services that change the
team's data (sync, aggregation, imports) call ``bump_team_data_version`` after they commit, so
the next read misses and recomputes; the old keys simply expire (5 minutes).

The cache is Redis (django-redis, errors swallowed) behind a circuit breaker (tformance/resilient_cache.py):
when Redis is down or hung, the first command waits one short socket timeout, then the cache is skipped
for the cool-down. Reads miss (the version reads as 0) and figures are computed from the database; bumps
are skipped, so a change written during the outage does not reach figures cached before it: once Redis
answers again they may be served up to ``KEY_METRICS_TIMEOUT`` (5 minutes) stale, until they expire.
Nothing fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

KEY_METRICS_TIMEOUT = 300  # seconds

T = TypeVar("T")


def _version_key(team_id: int) -> str:
    return f"team:{team_id}:data-version"


def team_data_version(team_id: int) -> int:
    return cache.get(_version_key(team_id)) or 0


def bump_team_data_version(team_id: int) -> None:
    """Invalidate every cached figure of the team, once the current transaction commits."""

    def bump() -> None:
        key = _version_key(team_id)
        # add() creates the counter without expiry; incr() is atomic in Redis.
        if not cache.add(key, 1, timeout=None):
            cache.incr(key)

    transaction.on_commit(bump)


def figures_key(kind: str, team_id: int, *periods: tuple[dt.date, dt.date]) -> str:
    """``kind:team:version:start..end[,start..end]``: a new version makes every old key unreachable."""
    span = ",".join(f"{start.isoformat()}..{end.isoformat()}" for start, end in periods)
    return f"{kind}:team:{team_id}:v{team_data_version(team_id)}:{span}"


def cached_figures(kind: str, team_id: int, periods: list[tuple[dt.date, dt.date]], compute: Callable[[], T]) -> T:
    """``compute()``, kept ``KEY_METRICS_TIMEOUT`` under ``figures_key``: recomputed after the team's data changes."""
    key = figures_key(kind, team_id, *periods)
    figures = cache.get(key)
    if figures is None:
        figures = compute()
        cache.set(key, figures, KEY_METRICS_TIMEOUT)
    return figures
