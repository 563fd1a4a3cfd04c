"""A team's GitHub sync, end to end: members, the repository list, and each tracked repository's PRs.

The storage services (``member_sync``, ``repository_sync``, ``pr_sync``) write; this module reads
GitHub through ``GitHubClient`` with the team's credential (``github_app.client_for``: its token,
``GitHubIntegration.access_token`` decrypted by its field, or a GitHub App installation's token, refreshed
before it expires), feeds them, and keeps ``SyncStatus`` (what the settings page shows) up to date. The
Celery tasks (``apps.integrations.tasks``) are thin interfaces over these functions.

Errors, and what each leaves behind:

- **401** (``InvalidToken``): the kind's status becomes ``failed`` with ``TOKEN_REFUSED`` ("the token
  was refused; enter a new one in settings") and ``TokenRefused`` is raised: never retried (a new
  token is the only fix; replacing it starts a sync). For a GitHub App, the refused installation token is
  dropped (``APP_TOKEN_REFUSED``: the next run asks for a new one); an app whose key or installation GitHub
  refuses (``GitHubAppRefused``) fails the same way with the reason (``APP_REFUSED``). A token or app key that
  the configured keys cannot decrypt (``github_app.UnreadableCredential``, after a key rotation) fails the same
  way, never retried: "the stored token cannot be read with the current keys: enter it again".
- **Rate limits**: every PR page carries GraphQL's ``rateLimit``. After a page is committed, when
  the budget left is below that page's cost the next page would not fit: the run stops there (the
  pages before are kept, the repository's resume cursor says where to go on) and ``RetryAt`` (a
  ``RateLimited``) is raised with GitHub's ``resetAt``. A ``RateLimited`` from the client (GraphQL
  ``RATE_LIMITED``, 403/429 ``Retry-After``) is turned into the same ``RetryAt``. The status is
  ``rate_limited`` with ``retry_at``; the task retries then (``self.retry(countdown=...)``).
- **404** on a repository (``NotFound``): ``pr_sync`` marks it ``not_found``; the others go on.
- Anything else: the kind's status is ``failed`` with the error, and the error propagates.

A repository is synced by one run at a time: ``sync_tracked_repository`` holds a Redis lock per
repository (``repository_lock``, redis-py's lock through the cache's client, released in ``finally``
and expiring on its own after ``LOCK_SECONDS`` should a worker die). A second run finds it held and
returns ``outcome="locked"`` at once, without a request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Iterable, Iterator

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.integrations.fields import UnreadableSecret
from apps.integrations.github import (
    GitHubClient,
    GitHubError,
    InvalidToken,
    MissingPermission,
    NotFound,
    RateLimited,
)
from apps.integrations.github_app import GitHubAppRefused, client_for, forget_app_token, has_credential
from apps.integrations.github_records import PullRequestPage, Repository
from apps.integrations.member_sync import import_members
from apps.integrations.models import HAS_CREDENTIAL, GitHubIntegration, SyncStatus, TrackedRepository
from apps.integrations.pr_sync import sync_repository
from apps.integrations.repository_sync import set_tracked, store_repositories
from apps.integrations.survey_comments import post_survey_comments
from apps.integrations.sync_status import failure_detail, record_sync_state
from apps.metrics.models import TeamMember
from apps.metrics.services.survey_service import create_surveys
from apps.metrics.services.team_cache import bump_team_data_version

Kind = SyncStatus.Kind
State = SyncStatus.State

TOKEN_REFUSED = "the token was refused; enter a new one in settings"
NO_TOKEN = "no GitHub token: set one in settings"
APP_TOKEN_REFUSED = "GitHub refused the app's installation token (revoked?); the next sync asks for a new one"
APP_REFUSED = "the GitHub App was refused: {reason} Connect it again in settings"
LOCK_SECONDS = 40 * 60  # longer than the repository task's hard time limit
PR_PAGE_SIZE = 50


class TokenRefused(Exception):
    """GitHub refused the team's token (401), or there is none: nothing is retried until a new one is set."""


class RetryAt(RateLimited):
    """The rate limit is spent: try again at ``retry_at`` (GitHub's ``resetAt``)."""

    def __init__(self, retry_at: dt.datetime, message: str = ""):
        self.retry_at = retry_at
        wait = max(1, math.ceil((retry_at - timezone.now()).total_seconds()))
        super().__init__(message or f"rate limit spent until {retry_at.isoformat()}", wait_seconds=wait)


# --- the client -------------------------------------------------------------------------------


def has_token(team) -> bool:
    """The team has a GitHub integration with a credential, a token or an app (one statement; no secret is read)."""
    return GitHubIntegration.objects.filter(HAS_CREDENTIAL, team=team).exists()


def team_client(team) -> tuple[GitHubIntegration, GitHubClient]:
    """The team's integration and a client with its credential (``github_app.client_for``: an app's installation
    token refreshed when it expires within five minutes); ``TokenRefused`` without one, ``GitHubAppRefused`` when
    GitHub refuses the app."""
    integration = GitHubIntegration.objects.filter(team=team).first()
    if not has_credential(integration):
        raise TokenRefused(NO_TOKEN)
    return integration, client_for(integration)


def _app_refused(error: GitHubAppRefused) -> str:
    return APP_REFUSED.format(reason=error.message)


def _retry_at(error: RateLimited) -> dt.datetime:
    if isinstance(error, RetryAt):
        return error.retry_at
    return timezone.now() + dt.timedelta(seconds=max(1, int(error.wait_seconds)))


def _as_retry(error: RateLimited) -> RetryAt:
    return error if isinstance(error, RetryAt) else RetryAt(_retry_at(error), str(error))


@contextlib.contextmanager
def recording_status(team, kind: str):
    """``running`` now; on the way out ``failed``/``rate_limited`` for an error (re-raised, token 401 as
    ``TokenRefused``). The caller records ``done`` itself, with its counts."""
    record_sync_state(team=team, kind=kind, state=State.RUNNING)
    try:
        yield
    except UnreadableSecret as error:  # a key rotated without the old one: only entering it again helps
        record_sync_state(team=team, kind=kind, state=State.FAILED, detail=str(error))
        raise TokenRefused(str(error)) from error
    except (InvalidToken, TokenRefused) as error:
        if isinstance(error, InvalidToken) and forget_app_token(team):
            detail = APP_TOKEN_REFUSED
        else:
            detail = NO_TOKEN if str(error) == NO_TOKEN else TOKEN_REFUSED
        record_sync_state(team=team, kind=kind, state=State.FAILED, detail=detail)
        raise TokenRefused(detail) from error
    except GitHubAppRefused as error:
        detail = _app_refused(error)
        record_sync_state(team=team, kind=kind, state=State.FAILED, detail=detail)
        raise TokenRefused(detail) from error
    except RateLimited as error:
        retry = _as_retry(error)
        record_sync_state(team=team, kind=kind, state=State.RATE_LIMITED, detail=str(error), retry_at=retry.retry_at)
        raise retry from error
    except Exception as error:  # SoftTimeLimitExceeded too: failure_detail names the time limit
        record_sync_state(team=team, kind=kind, state=State.FAILED, detail=failure_detail(error))
        raise


# --- members and repositories -----------------------------------------------------------------


def sync_team_members(team) -> dict[str, int]:
    """The organisation's members into ``TeamMember`` (one request per 100); ``SyncStatus`` kind members."""
    with recording_status(team, Kind.MEMBERS):
        integration, client = team_client(team)
        with client:
            users = [user for page in client.organization_members(integration.organization_slug) for user in page]
            counts = import_members(team=team, users=users)
            counts["requests"] = client.requests
    record_sync_state(team=team, kind=Kind.MEMBERS, state=State.DONE, counts=counts)
    return counts


def list_repositories(team, query: str | None = None) -> list:
    """The organisation's repositories from GitHub, live (``query``: a name search); nothing is stored."""
    try:
        integration, client = team_client(team)
    except GitHubAppRefused as error:
        raise TokenRefused(_app_refused(error)) from error
    with client:
        try:
            return [
                r for page in client.organization_repositories(integration.organization_slug, query=query) for r in page
            ]
        except InvalidToken as error:
            raise TokenRefused(APP_TOKEN_REFUSED if forget_app_token(team) else TOKEN_REFUSED) from error


def refresh_repositories(team, query: str | None = None) -> dict[str, int]:
    """List the organisation's repositories and store them (``store_repositories``); kind repositories.

    With ``query`` only the matching ones are listed: they are stored without marking the others gone
    (a search is not the whole list), so a search only ever adds or updates rows.
    """
    with recording_status(team, Kind.REPOSITORIES):
        repositories = list_repositories(team, query)
        if query and query.strip():
            counts = _store_found(team, repositories)
        else:
            counts = store_repositories(team=team, repositories=repositories)
    record_sync_state(team=team, kind=Kind.REPOSITORIES, state=State.DONE, counts=counts)
    return counts


def _store_found(team, repositories: list) -> dict[str, int]:
    """Search results: ``store_repositories`` on the known list plus these, so nothing else is marked gone."""
    known = {
        row.name_with_owner: Repository(row.name_with_owner, row.github_id, row.is_archived, row.is_private)
        for row in TrackedRepository.objects.filter(team=team).exclude(status=TrackedRepository.Status.NOT_FOUND)
    }
    known.update({repository.name_with_owner: repository for repository in repositories})
    return store_repositories(team=team, repositories=known.values())


# --- one repository's pull requests -------------------------------------------------------------


def repository_lock(repository_id: int):
    """The Redis lock of one repository's PR sync (redis-py ``Lock``; ``acquire(blocking=False)``)."""
    return cache.lock(f"github-sync:repository:{repository_id}", timeout=LOCK_SECONDS)


def team_lock(team_id: int):
    """The Redis lock of a team's members-and-repositories step: two "Sync now" clicks run it once."""
    return cache.lock(f"github-sync:team:{team_id}", timeout=LOCK_SECONDS)


def within_budget(pages: Iterable[PullRequestPage]) -> Iterator[PullRequestPage]:
    """The pages, stopping before one that would not fit in the rate limit: ``RetryAt`` its reset.

    Asked for the next page after one whose ``rateLimit.remaining`` is below its ``cost``, it raises
    instead of requesting: the caller has committed the page before (``sync_repository`` asks for a
    page only once the last one is stored), and GitHub is not asked for a page it would refuse.
    """
    for page in pages:
        yield page
        limit = page.rate_limit
        if limit is not None and limit.remaining < limit.cost:
            raise RetryAt(
                limit.reset_at,
                f"rate limit: {limit.remaining} points left, a page costs {limit.cost}; "
                f"resets at {limit.reset_at.isoformat()}",
            )


def sync_tracked_repository(team, repository_id: int, *, page_size: int = PR_PAGE_SIZE) -> dict:
    """Sync one tracked repository's PRs from its resume cursor; returns ``outcome`` and the run's counts.

    Outcomes: ``done``, ``not_found`` (404: marked, the caller goes on), ``forbidden``, ``locked`` (another
    run holds it: nothing done), ``skipped`` (not tracked, or not this team's). Raises ``RetryAt`` (rate
    limit; pages before it committed) and ``TokenRefused`` (401; never retry); other errors propagate after
    the repository's status records them. The team's pull-request ``SyncStatus`` is left to the caller
    (``finish_pull_requests``), except ``failed`` on a 401 and ``rate_limited`` with its ``retry_at``.
    """
    repository = TrackedRepository.objects.filter(team=team, pk=repository_id, is_tracked=True).first()
    if repository is None:
        return {"repository_id": repository_id, "outcome": "skipped"}
    lock = repository_lock(repository.pk)
    if not lock.acquire(blocking=False):
        return {"repository": repository.name_with_owner, "outcome": "locked"}
    try:
        _integration, client = team_client(team)
        with client:
            pages = client.pull_request_pages(
                repository.name_with_owner, page_size=page_size, after=repository.resume_cursor or None
            )
            result = sync_repository(team=team, repository=repository, pages=within_budget(pages))
        return {"outcome": "done", **result.as_dict()}
    except NotFound as error:
        return {"repository": repository.name_with_owner, "outcome": "not_found", "detail": str(error)}
    except UnreadableSecret as error:
        record_sync_state(team=team, kind=Kind.PULL_REQUESTS, state=State.FAILED, detail=str(error))
        raise TokenRefused(str(error)) from error
    except InvalidToken as error:
        detail = APP_TOKEN_REFUSED if forget_app_token(team) else TOKEN_REFUSED
        record_sync_state(team=team, kind=Kind.PULL_REQUESTS, state=State.FAILED, detail=detail)
        raise TokenRefused(detail) from error
    except GitHubAppRefused as error:
        detail = _app_refused(error)
        record_sync_state(team=team, kind=Kind.PULL_REQUESTS, state=State.FAILED, detail=detail)
        raise TokenRefused(detail) from error
    except MissingPermission as error:
        return {"repository": repository.name_with_owner, "outcome": "forbidden", "detail": str(error)}
    except RateLimited as error:
        retry = _as_retry(error)
        record_sync_state(
            team=team,
            kind=Kind.PULL_REQUESTS,
            state=State.RATE_LIMITED,
            detail=f"{repository.name_with_owner}: {retry}",
            retry_at=retry.retry_at,
        )
        raise retry from error
    finally:
        with contextlib.suppress(Exception):  # expired (the run outlived LOCK_SECONDS): nothing to release
            lock.release()


SUMMED = ("pull_requests", "reviews", "commits", "requests", "pages")


def finish_pull_requests(team, outcomes: list[dict]) -> dict:
    """The team's pull-request ``SyncStatus`` from its repositories' outcomes: ``done`` with summed counts
    (repositories not found or not readable counted and named in ``detail``: the others are synced), or
    ``failed`` when a repository's sync failed or the token was refused. Surveys the merges it stored
    (``create_surveys``), then posts the survey comments the team asked for (``survey_comments``)."""
    counts = {"repositories": len(outcomes)}
    for name in SUMMED:
        counts[name] = sum(int(o.get(name) or 0) for o in outcomes)
    counts["unchanged"] = sum(bool(o.get("unchanged")) for o in outcomes)
    problems = [o for o in outcomes if o.get("outcome") not in ("done", "skipped", "locked")]
    for outcome in ("not_found", "forbidden", "failed", "token_refused", "locked"):
        found = sum(o.get("outcome") == outcome for o in outcomes)
        if found:
            counts[outcome] = found
    detail = "; ".join(
        f"{o.get('repository', o.get('repository_id'))}: {o.get('detail') or o['outcome']}" for o in problems
    )
    refused = [o for o in outcomes if o.get("outcome") == "token_refused"]
    if refused:
        state, detail = State.FAILED, refused[0].get("detail") or TOKEN_REFUSED
    elif any(o.get("outcome") == "failed" for o in outcomes):
        state = State.FAILED
    else:  # done, with the repositories GitHub no longer shows (or lets read) named in the detail
        state = State.DONE
    if counts.get("pull_requests"):  # a sync that stored PRs may have stored merges: survey them
        created = create_surveys(team)
        counts["surveys_created"] = created.surveys
    # then, when the team asked for it, comment on the newly surveyed PRs with the links; every sync, so that a
    # comment that failed last time is retried (setting off: the one lookup of the setting)
    comments = post_survey_comments(team)
    if comments.posted or comments.failed:
        counts["survey_comments_posted"] = comments.posted
        if comments.failed:
            counts["survey_comments_failed"] = comments.failed
    record_sync_state(team=team, kind=Kind.PULL_REQUESTS, state=state, detail=detail, counts=counts)
    return {"state": state, "detail": detail, **counts}


def tracked_repository_ids(team) -> list[int]:
    return list(
        TrackedRepository.objects.filter(team=team, is_tracked=True)
        .order_by("name_with_owner")
        .values_list("pk", flat=True)
    )


def start_team_sync(team) -> dict:
    """The team sync's first part: members and the repository list, then the pull-request status ``running``
    (``done`` at once with no tracked repository). Returns ``members``, ``repositories`` and
    ``repository_ids``, the tracked repositories to sync next (one task each)."""
    members = sync_team_members(team)
    repositories = refresh_repositories(team)
    repository_ids = tracked_repository_ids(team)
    if repository_ids:
        record_sync_state(team=team, kind=Kind.PULL_REQUESTS, state=State.RUNNING)
    else:
        finish_pull_requests(team, [])
    return {"members": members, "repositories": repositories, "repository_ids": repository_ids}


def sync_team(team) -> dict:
    """The whole sync in this process, in order (what the tasks do across workers): members, the repository
    list, then each tracked repository. Raises ``TokenRefused`` and ``RetryAt`` as the steps do."""
    started = start_team_sync(team)
    outcomes = []
    for repository_id in started["repository_ids"]:
        try:
            outcomes.append(sync_tracked_repository(team, repository_id))
        except (TokenRefused, RetryAt):
            raise
        except GitHubError as error:
            outcomes.append({"repository_id": repository_id, "outcome": "failed", "detail": str(error)})
    summary = finish_pull_requests(team, outcomes) if outcomes else None
    return {"members": started["members"], "repositories": started["repositories"], "pull_requests": summary}


# --- the settings page's side ------------------------------------------------------------------

REPOSITORIES_SHOWN = 100  # rows of the repository table without a search
MAX_POSTED_NAMES = 1000


def repositories_for_settings(team, query: str = "") -> list[dict]:
    """The stored repositories for the settings table, tracked first, then by name; one statement.

    ``query`` filters by name (case-insensitive); without one, at most ``REPOSITORIES_SHOWN`` rows. The
    page never asks GitHub on its own: "List from GitHub" (``refresh_repositories``) fills this table.
    """
    rows = TrackedRepository.objects.filter(team=team)
    if query:
        rows = rows.filter(name_with_owner__icontains=query)
    rows = rows.order_by("-is_tracked", "name_with_owner").values(
        "id", "name_with_owner", "is_tracked", "is_archived", "is_private", "status", "status_detail", "last_synced_at"
    )
    return [
        {**row, "status_label": TrackedRepository.Status(row["status"]).label}
        for row in rows[: MAX_POSTED_NAMES if query else REPOSITORIES_SHOWN]
    ]


def track_repositories(*, team, shown: list[str], checked: list[str]) -> dict[str, int]:
    """The settings form: of the ``shown`` repositories, exactly the ``checked`` ones are tracked; the
    tracked ones not shown (another search) stay tracked. ``UnknownRepositories`` for a name that is
    not one of the organisation's (nothing written); ``ValueError`` for a checked name not shown."""
    shown_lower = {name.lower() for name in shown}
    if not {name.lower() for name in checked} <= shown_lower:
        raise ValueError("a repository was checked that the form did not show")
    tracked = TrackedRepository.objects.filter(team=team, is_tracked=True).values_list("name_with_owner", flat=True)
    keep = [name for name in tracked if name.lower() not in shown_lower]
    return set_tracked(team=team, names=[*keep, *checked])


def members_for_settings(team) -> list[dict]:
    """The team's people from GitHub (with a login), active first, bots last, by login; one statement."""
    return list(
        TeamMember.objects.filter(team=team)
        .exclude(github_username="")
        .order_by("is_bot", "-is_active", "github_username")
        .values("id", "display_name", "github_username", "github_id", "is_active", "is_bot")
    )


def set_member_active(*, team, member_id: int, active: bool) -> bool:
    """Make one of the team's members active or not: one ``UPDATE``; False when it is not this team's member
    (nothing written). It bumps the team's cache version on commit (figures count active members only)."""
    with transaction.atomic():
        changed = TeamMember.objects.filter(team=team, pk=member_id).update(is_active=active)
        if changed:
            bump_team_data_version(team.id)
    return bool(changed)
