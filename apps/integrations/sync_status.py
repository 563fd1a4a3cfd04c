"""What the settings page shows about a team's syncs: one ``SyncStatus`` row per (team, kind), updated in place.

``record_sync_state`` is one upsert on ``(team, kind)``. ``running`` stamps ``started_at`` and clears
the finish and retry times; ``done``, ``failed`` and ``rate_limited`` stamp ``finished_at`` and keep
``started_at``. The tasks that run the syncs (members, repositories, pull requests, Copilot) call
it when they start and when they stop.

A task stopped by Celery's time limits also ends ``failed``, with the reason: the soft limit raises
``SoftTimeLimitExceeded`` inside the sync, which records it like any error (``failure_detail``); the hard
limit kills the worker's child process, and the worker's parent then calls the task's ``on_failure``,
which marks the statuses the task left ``running`` (``fail_running_statuses``).
"""

from __future__ import annotations

import datetime as dt

from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.utils import timezone

from apps.integrations.models import SyncStatus

_ALWAYS = ["state", "detail", "counts", "finished_at", "retry_at", "updated_at"]


def record_sync_state(
    *,
    team,
    kind: str,
    state: str,
    detail: str = "",
    counts: dict | None = None,
    retry_at: dt.datetime | None = None,
) -> None:
    """Set the team's ``kind`` (a ``SyncStatus.Kind``) status to ``state`` (a ``SyncStatus.State``): one statement."""
    if kind not in SyncStatus.Kind.values or state not in SyncStatus.State.values:
        raise ValueError(f"unknown sync kind or state: {kind!r}, {state!r}")
    now = timezone.now()
    running = state == SyncStatus.State.RUNNING
    row = SyncStatus(
        team=team,
        kind=kind,
        state=state,
        detail=detail[:2000],
        counts=counts or {},
        started_at=now if running else None,
        finished_at=None if running else now,
        retry_at=retry_at,
        updated_at=now,
    )
    SyncStatus.objects.bulk_create(
        [row],
        update_conflicts=True,
        unique_fields=["team", "kind"],
        update_fields=[*_ALWAYS, "started_at"] if running else _ALWAYS,
    )


TIME_LIMIT_DETAIL = "stopped: the sync ran longer than its time limit{limit}; the next run goes on from there"


def failure_detail(error: BaseException) -> str:
    """What the settings page says about a failed run: the error, or a sentence for a time limit."""
    if isinstance(error, TimeLimitExceeded):  # hard: args[0] is the limit in seconds
        limit = f" ({error.args[0]:g} s)" if error.args and isinstance(error.args[0], int | float) else ""
        return TIME_LIMIT_DETAIL.format(limit=limit)
    if isinstance(error, SoftTimeLimitExceeded):
        return TIME_LIMIT_DETAIL.format(limit="")
    return f"{type(error).__name__}: {error}"


def fail_running_statuses(*, team_id: int, kinds: list[str], detail: str) -> int:
    """The team's statuses of ``kinds`` still ``running`` become ``failed`` with ``detail``: one statement.

    For a task that died without recording its end (a hard time limit); a status the run had already
    recorded (done, failed, rate limited) is left as it is. Returns how many were changed."""
    now = timezone.now()
    return SyncStatus.objects.filter(team_id=team_id, kind__in=kinds, state=SyncStatus.State.RUNNING).update(
        state=SyncStatus.State.FAILED, detail=detail[:2000], finished_at=now, retry_at=None, updated_at=now
    )
