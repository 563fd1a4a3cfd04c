"""What the GitHub client hands the sync: organisation members, repositories, pull requests with their
reviews and commits, and the rate-limit budget. Plain frozen dataclasses, no ORM: the client builds them
from GraphQL answers, the sync services map them to rows, and tests build them by hand.

Times are timezone-aware UTC datetimes. ``database_id`` is GitHub's numeric id (GraphQL ``databaseId``),
the one that survives a rename; logins are compared case-insensitively.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GitHubUser:
    """An actor: a user, or a bot (GraphQL ``__typename: Bot``, or a login ending in ``[bot]``)."""

    login: str
    database_id: int | None
    name: str = ""
    avatar_url: str = ""
    is_bot: bool = False

    @property
    def looks_like_bot(self) -> bool:
        return self.is_bot or self.login.lower().endswith("[bot]")


@dataclass(frozen=True)
class Repository:
    name_with_owner: str  # "owner/name", as PullRequest.github_repo stores it
    database_id: int
    is_archived: bool = False
    is_private: bool = False


@dataclass(frozen=True)
class ReviewRecord:
    database_id: int
    author: GitHubUser | None  # None: a deleted user ("ghost")
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED (PENDING reviews are never listed)
    submitted_at: dt.datetime | None


@dataclass(frozen=True)
class CommitRecord:
    oid: str  # the commit's SHA
    author: GitHubUser | None  # the GitHub user the commit is attributed to, None when unlinked
    committed_at: dt.datetime
    additions: int
    deletions: int


@dataclass(frozen=True)
class PullRequestRecord:
    database_id: int
    number: int
    repository: str  # "owner/name"
    title: str
    state: str  # OPEN, CLOSED, MERGED (GraphQL PullRequestState)
    author: GitHubUser | None
    created_at: dt.datetime
    updated_at: dt.datetime
    merged_at: dt.datetime | None
    closed_at: dt.datetime | None
    additions: int
    deletions: int
    head_ref_name: str = ""
    # complete: the client follows a nested connection's own cursor when it overflows its page
    reviews: tuple[ReviewRecord, ...] = ()
    commits: tuple[CommitRecord, ...] = ()


@dataclass(frozen=True)
class RateLimit:
    """GraphQL ``rateLimit { cost remaining resetAt }`` of the last answer."""

    cost: int
    remaining: int
    reset_at: dt.datetime


@dataclass(frozen=True)
class PullRequestPage:
    """One page of a repository's pull requests, newest update first (``orderBy: UPDATED_AT DESC``)."""

    repository: str
    pull_requests: tuple[PullRequestRecord, ...]
    end_cursor: str | None
    has_next_page: bool
    rate_limit: RateLimit | None = None
    requests: int = 1  # HTTP requests this page took (1, plus nested overflow pages)


@dataclass(frozen=True)
class AccessReport:
    """What a live token check found: who the token is, and what it may read in the organisation."""

    login: str  # the token's user (REST /user)
    organization: str  # the organisation's login as GitHub spells it
    can_read_members: bool
    can_read_pull_requests: bool
    can_read_copilot: bool
    scopes: tuple[str, ...] = field(default=())  # a classic PAT's X-OAuth-Scopes; empty for fine-grained
    notes: tuple[str, ...] = field(default=())  # why a flag is False (or could not be checked), one line each


@dataclass(frozen=True)
class AppInstallation:
    """A GitHub App's installation on an organisation (REST ``GET /orgs/{org}/installation``, asked with the JWT)."""

    id: int
    account: str  # the organisation's login, as GitHub spells it
    app_id: int
    permissions: dict = field(default_factory=dict, compare=False)  # e.g. {"members": "read", ...}


@dataclass(frozen=True)
class InstallationToken:
    """An installation access token (``POST /app/installations/{id}/access_tokens``): about an hour's worth."""

    token: str = field(repr=False)
    expires_at: dt.datetime  # aware UTC
