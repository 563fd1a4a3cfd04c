"""The organisation's repositories into ``TrackedRepository``, and the choice of which are synced.

``store_repositories`` keeps one row per ``owner/name`` (the string ``PullRequest.github_repo``
holds), in at most three statements whatever the number of repositories: one ``SELECT`` of the
team's rows, one upsert on ``(team, name_with_owner)`` of the new and changed ones (new ones are
not tracked until ``set_tracked`` says so), one ``UPDATE`` of the statuses that change: a
repository missing from the list becomes ``not_found`` (kept, with its watermark and its PRs), one
that is listed again gets back ``ok`` (or ``pending`` if it never completed a sync). Unchanged
repositories are not written. Repositories are keyed by name, as PRs are: a renamed repository is
a new row (and the old name goes ``not_found``); one deleted and created again under the same name
keeps its row and watermark.

``set_tracked`` makes exactly the named repositories tracked (names compare case-insensitively, as
on GitHub) and refuses, before writing anything, names that are not among the organisation's
repositories (``UnknownRepositories``).

Neither changes a team's figures, so neither bumps the team's cache version.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from apps.integrations.github_records import Repository
from apps.integrations.models import TrackedRepository

Status = TrackedRepository.Status
GONE_DETAIL = "no longer in the organisation"
REPOSITORY_FIELDS = ["github_id", "is_archived", "is_private", "updated_at"]


class UnknownRepositories(ValueError):
    """Names that are not repositories of the team's organisation (as last stored)."""

    def __init__(self, names: Iterable[str]):
        self.names = sorted(names)
        super().__init__("not repositories of the organisation: " + ", ".join(self.names))


def store_repositories(*, team, repositories: Iterable[Repository]) -> dict[str, int]:
    """Store the organisation's repositories; returns ``repositories``, ``created``, ``updated``, ``gone``, ``back``."""
    listed = {repository.name_with_owner: repository for repository in repositories}
    with transaction.atomic(savepoint=False):
        existing = {row.name_with_owner: row for row in TrackedRepository.objects.filter(team=team)}
        now = timezone.now()
        writes = [
            TrackedRepository(
                team=team,
                name_with_owner=name,
                github_id=repository.database_id,
                is_archived=repository.is_archived,
                is_private=repository.is_private,
                updated_at=now,
            )
            for name, repository in listed.items()
            if name not in existing or _changed(existing[name], repository)
        ]
        if writes:
            TrackedRepository.objects.bulk_create(
                writes,
                update_conflicts=True,
                unique_fields=["team", "name_with_owner"],
                update_fields=REPOSITORY_FIELDS,
            )
        gone = [row.pk for name, row in existing.items() if name not in listed and row.status != Status.NOT_FOUND]
        back = [row.pk for name, row in existing.items() if name in listed and row.status == Status.NOT_FOUND]
        if gone or back:
            TrackedRepository.objects.filter(pk__in=gone + back).update(
                status=Case(
                    When(pk__in=gone, then=Value(Status.NOT_FOUND)),
                    When(pr_watermark__isnull=True, then=Value(Status.PENDING)),
                    default=Value(Status.OK),
                ),
                status_detail=Case(When(pk__in=gone, then=Value(GONE_DETAIL)), default=Value("")),
                updated_at=now,
            )
    created = sum(name not in existing for name in listed)
    return {
        "repositories": len(listed),
        "created": created,
        "updated": len(writes) - created,
        "gone": len(gone),
        "back": len(back),
    }


def _changed(row: TrackedRepository, repository: Repository) -> bool:
    stored = (row.github_id, row.is_archived, row.is_private)
    return stored != (repository.database_id, repository.is_archived, repository.is_private)


def set_tracked(*, team, names: Iterable[str]) -> dict[str, int]:
    """Track exactly ``names`` (and no other repository of the team); returns ``tracked`` and ``changed``.

    Two statements: the team's repository names, then one ``UPDATE`` (a transaction of its own) of
    the rows whose choice changes. Raises ``UnknownRepositories`` (nothing written) for a name that is not one of the
    organisation's repositories, or one no longer in it (``not_found``).
    """
    wanted = {name.strip().lower(): name for name in names}
    # checked before any write, outside a transaction: refusing the names must not break the caller's
    known = TrackedRepository.objects.filter(team=team).exclude(status=Status.NOT_FOUND)
    by_lower = {name.lower(): pk for name, pk in known.values_list("name_with_owner", "id")}
    unknown = [name for lower, name in wanted.items() if lower not in by_lower]
    if unknown:
        raise UnknownRepositories(unknown)
    chosen = [by_lower[lower] for lower in wanted]
    changed = (
        TrackedRepository.objects.filter(team=team)
        .filter(Q(pk__in=chosen, is_tracked=False) | (~Q(pk__in=chosen) & Q(is_tracked=True)))
        .update(
            is_tracked=Case(When(pk__in=chosen, then=Value(True)), default=Value(False)),
            updated_at=timezone.now(),
        )
    )
    return {"tracked": len(chosen), "changed": changed}
