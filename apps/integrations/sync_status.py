"""What the settings page shows about a team's syncs: one ``SyncStatus`` row per (team, kind), updated in place.

``record_sync_state`` is one upsert on ``(team, kind)``. ``running`` stamps ``started_at`` and clears
the finish and retry times; ``done``, ``failed`` and ``rate_limited`` stamp ``finished_at`` and keep
``started_at``. The tasks that run the syncs (members, repositories, pull requests, Copilot) call
it when they start and when they stop.
"""

from __future__ import annotations

import datetime as dt

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
