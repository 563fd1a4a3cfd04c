"""Pull requests with their reviews and commits, one GraphQL page per transaction, behind a watermark.

**A page** (``store_pull_request_page``) is stored in one transaction of at most six statements,
whatever the number of PRs, reviews and commits on it (eight in a test, whose outer transaction
turns the page's into a savepoint and its release):

1. one ``SELECT`` of the members behind every author, reviewer and committer on the page, by
   GitHub id or lower-cased login (``member_sync.resolve_people``);
2. one upsert creating the people who are not members yet: inactive (outside contributors), bots
   with ``is_bot``. A ghost (deleted account, ``author: null``) is nobody: the row keeps no author;
3. one ``INSERT ... ON CONFLICT (team, github_repo, github_pr_id) DO UPDATE`` of the PRs, with
   their derived fields (below);
4. one upsert of the reviews on ``(team, github_review_id)``;
5. one upsert of the commits on ``(team, github_sha)``, each linked to its PR;
6. (``sync_repository`` only) one ``UPDATE`` of the repository's bookkeeping, in the same
   transaction, so that it never claims more than what is committed.

Statements 2, 4 and 5 are skipped when there is nothing for them. Storing a page again writes the
same values (idempotent); ``is_ai_assisted`` is never written by the sync (the surveys own it).
The team's cache version is bumped once per committed page.

**Derived fields.** ``state`` is GitHub's, lower-cased (``merged``, ``open``, ``closed``).
``cycle_time_hours``: created -> merged. ``first_review_at``: the earliest submitted review by
someone other than the author and not a bot (a bot's instant review says nothing about the team's
review speed); a ghost's review counts. ``review_time_hours``: created -> first review. Hours are
rounded half-up to two places. ``is_revert`` and ``is_hotfix``: see ``derive_flags``.

**A repository** (``sync_repository``) is read newest update first (``orderBy: UPDATED_AT DESC``):

- ``pr_watermark`` (W) is the newest ``updatedAt`` such that every PR updated at or before it is
  stored. A run stores the PRs newer than W and stops at the first page holding a PR that is not
  (or at the last page). Nothing is newer on the first page: nothing is written at all.
- A **fresh** run (no ``resume_cursor``) notes the newest ``updatedAt`` of its first page (N).
  After each committed page that is not the last one, the same transaction stores
  ``resume_cursor`` = that page's ``endCursor`` and ``pending_watermark`` = N; W does not move,
  because the PRs between that page and W are not stored yet. When the run reaches W (or the
  end), the last page's transaction sets W = N and clears both.
- A run that **fails** (the client raises while fetching page 7, or page 7 cannot be stored)
  keeps pages 1-6: their transactions are committed, and the cursor says where page 7 begins.
  The repository's ``status`` records the error (``not_found``, ``forbidden`` or ``failed``; a
  retryable GitHub error such as a rate limit leaves it alone: the task retries) and the error
  propagates.
- The next run **resumes**: the caller must feed it pages starting after ``resume_cursor``
  (``client.pull_request_pages(repo, after=repository.resume_cursor)``). It stores what is newer
  than W, keeps N, and on reaching W sets W = N. PRs updated while the run was interrupted moved
  to the top of the list, above the cursor: they are newer than N, so the next fresh run (which
  a task may start at once when ``resumed`` is true) stores them. PRs that moved past the cursor
  are only read twice, never skipped: updating a PR only ever moves it to the top.
- To abandon a resume (say, GitHub refuses the cursor), clear ``resume_cursor`` and
  ``pending_watermark``: the fresh run from the top covers everything above W again.

Same-second edge: GitHub's times have a one-second resolution, and a PR updated in the same second
as W, after the run that set W read it, is not newer than W. The webhook (next step) covers it.
Two runs of the same repository at once are the orchestration's to prevent (a lock per repository).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from django.db import DatabaseError, transaction
from django.utils import timezone

from apps.integrations.github import GitHubError, InvalidToken, MissingPermission, NotFound
from apps.integrations.github_records import GitHubUser, PullRequestPage, PullRequestRecord
from apps.integrations.member_sync import PersonKey, person_key, resolve_people
from apps.integrations.models import TrackedRepository
from apps.metrics.models import Commit, PRReview, PullRequest
from apps.metrics.services.team_cache import bump_team_data_version

PR_FIELDS = [
    "author",
    "title",
    "state",
    "pr_created_at",
    "merged_at",
    "closed_at",
    "github_updated_at",
    "first_review_at",
    "cycle_time_hours",
    "review_time_hours",
    "additions",
    "deletions",
    "is_revert",
    "is_hotfix",
]
REVIEW_FIELDS = ["pull_request", "reviewer", "state", "submitted_at"]
COMMIT_FIELDS = ["github_repo", "author", "pull_request", "committed_at", "additions", "deletions"]
PR_STATES = {"OPEN": PullRequest.State.OPEN, "MERGED": PullRequest.State.MERGED, "CLOSED": PullRequest.State.CLOSED}
REVIEW_STATES = {
    "APPROVED": PRReview.State.APPROVED,
    "CHANGES_REQUESTED": PRReview.State.CHANGES_REQUESTED,
    "COMMENTED": PRReview.State.COMMENTED,
    "DISMISSED": PRReview.State.DISMISSED,
}
_REVERT = re.compile(r"revert\b", re.IGNORECASE)  # at the start of the title
_HOTFIX_TITLE = re.compile(r"\bhot-?fix", re.IGNORECASE)
_HOTFIX_BRANCH = ("hotfix/", "hotfix-", "hot-fix/")
_HOUR = dt.timedelta(hours=1)


class MalformedPullRequest(ValueError):
    """A record the models cannot hold (an unknown state, a merged PR without its merge time)."""


@dataclass(frozen=True)
class PageResult:
    """What storing one page did. ``newest_updated_at``: the newest ``updatedAt`` on the page (stored or not)."""

    pull_requests: int = 0
    reviews: int = 0
    commits: int = 0
    members_created: int = 0
    skipped: int = 0  # PRs on the page not newer than the watermark
    newest_updated_at: dt.datetime | None = None

    @property
    def reached_watermark(self) -> bool:
        """A PR on the page was not newer than the watermark: the run has come down to it."""
        return self.skipped > 0


@dataclass(frozen=True)
class RepositorySyncResult:
    repository: str
    pages: int = 0  # pages read
    pages_stored: int = 0  # pages committed
    requests: int = 0  # HTTP requests the pages took (PullRequestPage.requests)
    pull_requests: int = 0
    reviews: int = 0
    commits: int = 0
    members_created: int = 0
    resumed: bool = False  # continued an unfinished run (from resume_cursor)
    completed: bool = False  # came down to the watermark (or the end): the watermark moved
    unchanged: bool = False  # nothing newer than the watermark: nothing written
    watermark: dt.datetime | None = None  # the repository's pr_watermark after the run

    def as_dict(self) -> dict:
        """JSON-ready (a Celery result, SyncStatus.counts)."""
        return {
            "repository": self.repository,
            "pages": self.pages,
            "pages_stored": self.pages_stored,
            "requests": self.requests,
            "pull_requests": self.pull_requests,
            "reviews": self.reviews,
            "commits": self.commits,
            "members_created": self.members_created,
            "resumed": self.resumed,
            "completed": self.completed,
            "unchanged": self.unchanged,
            "watermark": self.watermark.isoformat() if self.watermark else None,
        }


# --- derived fields -----------------------------------------------------------------------------


def derive_flags(title: str, head_ref_name: str) -> tuple[bool, bool]:
    """``(is_revert, is_hotfix)``.

    A revert's title starts with "Revert" as a word (GitHub's revert button writes
    ``Revert "<original title>"``). A hotfix's head branch starts with ``hotfix/``, ``hotfix-`` or
    ``hot-fix/``, or its title contains "hotfix" or "hot-fix" at the start of a word. Case never matters.
    """
    is_revert = bool(_REVERT.match(title.strip()))
    is_hotfix = head_ref_name.lower().startswith(_HOTFIX_BRANCH) or bool(_HOTFIX_TITLE.search(title))
    return is_revert, is_hotfix


def hours_between(start: dt.datetime, end: dt.datetime | None) -> Decimal | None:
    """Hours from ``start`` to ``end``, rounded half-up to two places; None without an end."""
    if end is None:
        return None
    return (Decimal((end - start) // dt.timedelta(microseconds=1)) / 3_600_000_000).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def first_review_at(record: PullRequestRecord) -> dt.datetime | None:
    """The earliest submitted review by someone other than the author, bots left out."""
    author = person_key(record.author) if record.author else None
    times = [
        review.submitted_at
        for review in record.reviews
        if review.submitted_at is not None
        and not (review.author and (review.author.looks_like_bot or person_key(review.author) == author))
    ]
    return min(times, default=None)


# --- one page -----------------------------------------------------------------------------------


def store_pull_request_page(*, team, page: PullRequestPage, watermark: dt.datetime | None) -> PageResult:
    """Store the page's PRs newer than ``watermark`` (all with None) in one transaction; see the module doc.

    At most 5 statements inside the transaction, the same at any page size; none when nothing on
    the page is newer than the watermark. Raises ``MalformedPullRequest`` before writing anything.
    """
    records, result = _newer(page, watermark)
    if not records:
        return result
    with transaction.atomic():
        return _store(team, records, result)


def _newer(page: PullRequestPage, watermark: dt.datetime | None) -> tuple[list[PullRequestRecord], PageResult]:
    records = [pr for pr in page.pull_requests if watermark is None or pr.updated_at > watermark]
    newest = max((pr.updated_at for pr in page.pull_requests), default=None)
    return records, PageResult(skipped=len(page.pull_requests) - len(records), newest_updated_at=newest)


def _store(team, records: list[PullRequestRecord], result: PageResult) -> PageResult:
    """The page's writes, inside the caller's transaction."""
    records = _latest_per_number(records)
    rows = [pull_request_row(team, record) for record in records]  # checks every record before any statement
    people = [record.author for record in records]
    people += [review.author for record in records for review in record.reviews]
    people += [commit.author for record in records for commit in record.commits]
    members, created = resolve_people(team, people)
    for row, record in zip(rows, records, strict=True):
        row.author_id = member_id(members, record.author)
    PullRequest.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["team", "github_repo", "github_pr_id"],
        update_fields=PR_FIELDS,
    )
    reviews = review_rows(team, records, rows, members)
    if reviews:
        PRReview.objects.bulk_create(
            reviews, update_conflicts=True, unique_fields=["team", "github_review_id"], update_fields=REVIEW_FIELDS
        )
    commits = _commit_rows(team, records, rows, members)
    if commits:
        Commit.objects.bulk_create(
            commits, update_conflicts=True, unique_fields=["team", "github_sha"], update_fields=COMMIT_FIELDS
        )
    bump_team_data_version(team.id)
    return replace(result, pull_requests=len(rows), reviews=len(reviews), commits=len(commits), members_created=created)


def _latest_per_number(records: list[PullRequestRecord]) -> list[PullRequestRecord]:
    """One record per (repository, number), the latest update: one statement cannot update a row twice."""
    latest: dict[tuple[str, int], PullRequestRecord] = {}
    for record in records:
        key = (record.repository, record.number)
        if key not in latest or record.updated_at >= latest[key].updated_at:
            latest[key] = record
    return list(latest.values())


def member_id(members: dict[PersonKey, int], user: GitHubUser | None) -> int | None:
    """The member id ``resolve_people`` found for ``user``; None for nobody (a ghost)."""
    return None if user is None else members.get(person_key(user))


def pull_request_row(team, record: PullRequestRecord) -> PullRequest:
    """The unsaved row of a record, its derived fields computed; ``MalformedPullRequest`` when it cannot be one.

    The one place the derived-field rules are applied (the sync and the webhooks both store through it).
    """
    state = PR_STATES.get(record.state.upper())
    if state is None:
        raise MalformedPullRequest(f"{record.repository}#{record.number}: unknown state {record.state!r}")
    merged_at = record.merged_at if state == PullRequest.State.MERGED else None
    if state == PullRequest.State.MERGED and merged_at is None:
        raise MalformedPullRequest(f"{record.repository}#{record.number}: merged without a merge time")
    first_review = first_review_at(record)
    is_revert, is_hotfix = derive_flags(record.title, record.head_ref_name)
    return PullRequest(
        team=team,
        github_pr_id=record.number,
        github_repo=record.repository,
        title=record.title[:500],
        state=state,
        pr_created_at=record.created_at,
        merged_at=merged_at,
        closed_at=record.closed_at,
        github_updated_at=record.updated_at,
        first_review_at=first_review,
        cycle_time_hours=hours_between(record.created_at, merged_at),
        review_time_hours=hours_between(record.created_at, first_review),
        additions=record.additions,
        deletions=record.deletions,
        is_revert=is_revert,
        is_hotfix=is_hotfix,
    )


def review_rows(team, records, rows, members) -> list[PRReview]:
    """The unsaved reviews of ``records`` (submitted, in a known state), linked to ``rows``' ids, one per GitHub id."""
    reviews: dict[int, PRReview] = {}
    for record, row in zip(records, rows, strict=True):
        for review in record.reviews:
            if review.submitted_at is None:
                continue
            state = REVIEW_STATES.get(review.state.upper())
            if state is None:
                continue  # PENDING (never listed) or a state this version does not know: not a review yet
            reviews[review.database_id] = PRReview(
                team=team,
                pull_request_id=row.pk,
                reviewer_id=member_id(members, review.author),
                state=state,
                submitted_at=review.submitted_at,
                github_review_id=review.database_id,
            )
    return list(reviews.values())


def _commit_rows(team, records, rows, members) -> list[Commit]:
    commits: dict[str, Commit] = {}
    for record, row in zip(records, rows, strict=True):
        for commit in record.commits:
            commits[commit.oid] = Commit(
                team=team,
                github_sha=commit.oid,
                github_repo=record.repository,
                author_id=member_id(members, commit.author),
                pull_request_id=row.pk,
                committed_at=commit.committed_at,
                additions=commit.additions,
                deletions=commit.deletions,
            )
    return list(commits.values())


# --- a repository -------------------------------------------------------------------------------


def sync_repository(*, team, repository: TrackedRepository, pages: Iterable[PullRequestPage]) -> RepositorySyncResult:
    """Store the repository's PRs newer than its watermark, page by page; see the module doc for the protocol.

    ``pages`` come newest update first, from the top, or after ``repository.resume_cursor`` when
    that is set. Each page is committed on its own with the repository's bookkeeping (one statement
    more); ``repository`` is updated in memory as it is in the database. An unchanged repository
    reads one page and writes nothing. Errors propagate, after the repository's status records them.
    """
    if repository.team_id != team.id:
        raise ValueError(f"{repository.name_with_owner} is not a repository of team {team.id}")
    run = _Run(repository)
    try:
        for page in pages:
            run.read(page)
            records, result = _newer(page, repository.pr_watermark)
            last = result.reached_watermark or not page.has_next_page
            if not records and not last:
                continue  # an empty page in the middle: nothing to store, nothing to move
            if not records and run.pages == 1 and not run.resumed:
                run.unchanged = True
                if repository.status != TrackedRepository.Status.OK:
                    _save(repository, status=TrackedRepository.Status.OK, status_detail="")
                break
            with transaction.atomic():
                stored = _store(team, records, result) if records else result
                _save(repository, **run.bookkeeping(page, last=last, wrote=bool(records)))
            run.add(stored)
            if last:
                break
    except Exception as exc:
        _record_failure(repository, exc)
        raise
    return run.result()


class _Run:
    def __init__(self, repository: TrackedRepository):
        self.repository = repository
        self.resumed = bool(repository.resume_cursor)
        self.newest = repository.pending_watermark if self.resumed else None  # N
        self.pages = self.pages_stored = self.requests = 0
        self.totals = PageResult()
        self.completed = self.unchanged = False

    def read(self, page: PullRequestPage) -> None:
        self.pages += 1
        self.requests += page.requests
        if self.newest is None and page.pull_requests:
            self.newest = max(pr.updated_at for pr in page.pull_requests)

    def bookkeeping(self, page: PullRequestPage, *, last: bool, wrote: bool) -> dict:
        now = timezone.now()
        fields = {"status": TrackedRepository.Status.OK, "status_detail": ""}
        if wrote:
            fields["last_synced_at"] = now
        if last:
            self.completed = True
            watermark = self.repository.pr_watermark
            if self.newest is not None and (watermark is None or self.newest > watermark):
                watermark = self.newest
            return {**fields, "pr_watermark": watermark, "resume_cursor": "", "pending_watermark": None}
        return {**fields, "resume_cursor": page.end_cursor or "", "pending_watermark": self.newest}

    def add(self, stored: PageResult) -> None:
        self.pages_stored += 1
        t = self.totals
        self.totals = replace(
            t,
            pull_requests=t.pull_requests + stored.pull_requests,
            reviews=t.reviews + stored.reviews,
            commits=t.commits + stored.commits,
            members_created=t.members_created + stored.members_created,
        )

    def result(self) -> RepositorySyncResult:
        return RepositorySyncResult(
            repository=self.repository.name_with_owner,
            pages=self.pages,
            pages_stored=self.pages_stored,
            requests=self.requests,
            pull_requests=self.totals.pull_requests,
            reviews=self.totals.reviews,
            commits=self.totals.commits,
            members_created=self.totals.members_created,
            resumed=self.resumed,
            completed=self.completed,
            unchanged=self.unchanged,
            watermark=self.repository.pr_watermark,
        )


def _save(repository: TrackedRepository, **fields) -> None:
    """One UPDATE of the repository's row; the instance follows."""
    fields["updated_at"] = timezone.now()
    TrackedRepository.objects.filter(pk=repository.pk).update(**fields)
    for name, value in fields.items():
        setattr(repository, name, value)


def _record_failure(repository: TrackedRepository, exc: Exception) -> None:
    if isinstance(exc, GitHubError) and exc.retryable:
        return  # rate limits, GitHub unavailable: the task retries; the status stays what it was
    if isinstance(exc, NotFound):
        status = TrackedRepository.Status.NOT_FOUND
    elif isinstance(exc, MissingPermission | InvalidToken):
        status = TrackedRepository.Status.FORBIDDEN
    else:
        status = TrackedRepository.Status.FAILED
    try:
        with transaction.atomic():
            _save(repository, status=status, status_detail=f"{type(exc).__name__}: {exc}"[:2000])
    except DatabaseError:
        pass  # the database is what failed: the original error says more
