"""GitHub client: HTTP only, no ORM. REST for Copilot reports and token checks, GraphQL for members,
repositories and pull requests; conditional requests, rate limits, errors a task can act on.

Every GET is conditional. The response's ``ETag`` and ``Last-Modified`` (the *validators*) and
its body are kept in the Django cache (Redis) under a key made of the URL, a hash of the token
and a *cache scope* (the service passes its team), so two tokens, two orgs or two teams never
share an entry. The next GET of that URL sends ``If-None-Match`` / ``If-Modified-Since``; a
``304 Not Modified`` (which GitHub does not count against the rate limit) answers with the
cached body, marked unchanged. Validators and body are two cache keys: when the body is gone
(evicted, Redis restarted) the request goes out unconditionally. Bodies are stored compressed
(zlib) and a cached body is decompressed and parsed only when its records are read: a sync
that finds nothing new reads none.

Validators can be saved at once (the default) or handed back as ``Fetched.pending`` and saved
by the caller with ``save_validators`` once it has stored the data: the Copilot sync saves them
when its transaction commits, so that a 304 always means "this team already stored that body".

Copilot endpoints (REST API version 2022-11-28, checked against docs.github.com):

- ``GET /orgs/{org}/copilot/metrics/reports/users-1-day?day=YYYY-MM-DD`` answers
  ``{"download_links": [...], "report_day": ...}``; each link is NDJSON, one record per user.
- ``GET /orgs/{org}/copilot/metrics/reports/organization-28-day/latest`` answers
  ``{"download_links": [...], "report_start_day", "report_end_day"}``; each link holds the
  organisation's report: ``day_totals`` per day, each nested by IDE (``totals_by_ide``), feature
  (``totals_by_feature``), language x feature, language x model and model x feature. It replaces
  ``GET /orgs/{org}/copilot/metrics``, which GitHub closed down on 2 April 2026.

Download links are signed URLs on another host whose signature changes from one links answer to
the next: a download is cached under its URL without the query string, and the GitHub token is
only ever sent to the API's own origin.

GraphQL (``POST {api_url}/graphql``; ``/api/graphql`` beside a GitHub Enterprise ``/api/v3``) pages with
cursors, never offsets; every query also asks for ``rateLimit { cost remaining resetAt }``, handed back
as a ``RateLimit`` so the sync can pace itself. The records are those of ``github_records``:

- ``organization_members(org)``: pages of ``GitHubUser``, 100 members a request.
- ``organization_repositories(org, query=None)``: pages of ``Repository`` by name; with ``query`` a
  repository search, ``org:{org} in:name {query}``.
- ``pull_request_pages(repository, ...)``: ``PullRequestPage`` s, newest update first
  (``orderBy: {field: UPDATED_AT, direction: DESC}``), each PR with its reviews and commits. A nested
  connection that overflows its ``reviews_per_pr`` / ``commits_per_pr`` is completed with its own cursor,
  100 at a time, and those requests count in ``page.requests``: a record is never truncated.
  (GitHub lists at most 250 commits of a pull request.)
- ``check_access(org)``: ``AccessReport``, or the error that says what to fix. Members and pull requests
  are required (``MissingPermission`` otherwise, naming every missing permission); Copilot metrics are
  optional (``can_read_copilot=False``, the reason in ``notes``).

Actors: ``__typename: Bot`` or a login ending in ``[bot]`` is ``GitHubUser(is_bot=True)``, and a bot's
login is given as the REST API and webhooks spell it (GraphQL's ``dependabot`` becomes
``dependabot[bot]``), so one bot has one login whichever way it arrived. A null author, or GitHub's
``ghost`` placeholder for a deleted account, is ``None``. A commit's author is the GitHub *user* it is
linked to (``commit.author.user``, which GraphQL types as ``User``: a bot's commits have none).

Errors: ``InvalidToken`` for 401; ``RateLimited(wait_seconds)`` for 403/429 with ``Retry-After`` or an
exhausted ``X-RateLimit-Remaining`` (or GitHub's secondary-limit message: wait a minute), and for a
GraphQL ``RATE_LIMITED`` error; ``Forbidden`` for any other 403 and for GraphQL ``FORBIDDEN`` /
``INSUFFICIENT_SCOPES`` (a ``MissingPermission`` naming the permission where the request tells which, and
what GitHub says the token needs); ``GitHubUnavailable`` for 5xx, timeouts
and connection errors; ``NotFound`` for 404 and GraphQL ``NOT_FOUND`` (``OrganizationNotFound`` when it is
the organisation); ``GraphQLError`` for any other ``errors`` array (an answer with errors is never used,
even with partial data); any other 4xx is a ``GitHubError`` with status and URL; unparseable JSON or
NDJSON, or an answer without the fields asked for, is ``MalformedResponse`` naming the URL (and the
line). ``retryable`` says which ones a task should retry.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import math
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache as memoize
from functools import cached_property

import httpx
from django.conf import settings
from django.core.cache import cache

from apps.integrations.github_records import (
    AccessReport,
    AppInstallation,
    CommitRecord,
    GitHubUser,
    InstallationToken,
    PullRequestPage,
    PullRequestRecord,
    RateLimit,
    Repository,
    ReviewRecord,
)

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
VALIDATOR_TIMEOUT = 35 * 86_400  # seconds: longer than the 28-day window a sync may re-check
SECONDARY_LIMIT_WAIT = 60  # GitHub: without a header, wait at least a minute
USER_AGENT = "tformance-copilot-sync"
PAGE_LIMIT = 100  # GitHub: `first` is 1..100 on every connection
REQUIRED_PERMISSIONS = ("members", "pull requests")  # check_access raises MissingPermission without them
OPTIONAL_PERMISSIONS = ("Copilot metrics",)  # reported as can_read_copilot=False
GHOST_LOGIN = "ghost"  # GitHub's placeholder for a deleted account


# --- errors ----------------------------------------------------------------------------------


class GitHubError(Exception):
    """GitHub answered with an error (or not at all). ``status`` is None without an answer."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, url: str = ""):
        super().__init__(message)
        self.status = status
        self.url = url


class NotFound(GitHubError):
    """404: no such organisation, or no report (yet) for that day."""


class RateLimited(GitHubError):
    """403/429 with a rate-limit signal: try again after ``wait_seconds``."""

    retryable = True

    def __init__(self, message: str = "", *, wait_seconds: int, status: int | None = None, url: str = ""):
        super().__init__(message or f"rate limited: retry in {wait_seconds} s", status=status, url=url)
        self.wait_seconds = wait_seconds


class InvalidToken(GitHubError):
    """401: the token is wrong, expired or revoked. Not worth retrying until someone enters a new one."""


class GraphQLError(GitHubError):
    """A GraphQL answer with an ``errors`` array that no other error class names: ``messages``, ``types``
    (GitHub's ``type`` of each, "" when absent) and the raw ``errors``."""

    def __init__(self, errors: list, *, operation: str, url: str, status: int | None = 200):
        self.errors = errors
        self.messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        self.types = [str(e.get("type", "")) if isinstance(e, dict) else "" for e in errors]
        self.operation = operation
        message = f"POST {url} ({operation}): GraphQL errors: " + "; ".join(self.messages)
        super().__init__(message, status=status, url=url)


class OrganizationNotFound(NotFound):
    """404 for the organisation: it does not exist, or this token cannot see it."""


class MissingPermission(GitHubError):
    """403 on a check: the token may not read ``permissions`` (say "members", "pull requests", "Copilot metrics").

    ``check_access`` raises it when a *required* permission is missing, and then lists every missing one,
    optional ones too, so that one new token fixes all; ``report`` holds what the check found.
    """

    def __init__(self, permissions: list[str], *, status: int | None = 403, url: str = ""):
        super().__init__("the token may not read " + ", ".join(permissions), status=status, url=url)
        self.permissions = list(permissions)
        self.report: AccessReport | None = None


class Forbidden(MissingPermission):
    """403 without a rate-limit signal, or a GraphQL FORBIDDEN / INSUFFICIENT_SCOPES error: the token may not
    read this. ``permissions`` names it where the request says which ("members", "pull requests", "Copilot
    metrics"; empty when unknown); ``accepted`` is what GitHub says would do (``X-Accepted-GitHub-Permissions``,
    or the scopes)."""

    def __init__(
        self, message: str, *, permissions: Iterable[str] = (), accepted: str = "", status: int | None = 403,
        url: str = "",
    ):
        GitHubError.__init__(self, message, status=status, url=url)
        self.permissions = list(permissions)
        self.report = None
        self.accepted = accepted


class GitHubUnavailable(GitHubError):
    """5xx, a timeout or a connection error: worth retrying later."""

    retryable = True


class MalformedResponse(GitHubError):
    """A body that is not the JSON or NDJSON it should be; ``line`` is 1-based for NDJSON."""

    def __init__(self, message: str, *, url: str, line: int | None = None, status: int | None = None):
        super().__init__(message, status=status, url=url)
        self.line = line


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Validators:
    """What ``save_validators`` stores for one URL: validators and the body they validate."""

    meta_key: str
    body_key: str
    etag: str
    last_modified: str
    body: bytes


@dataclass
class Document:
    """One downloaded body: parsed at once when fresh; from the cache, decompressed and parsed when read."""

    url: str
    raw: bytes | None = field(default=None, repr=False)
    compressed: bytes | None = field(default=None, repr=False)
    ndjson: bool = True
    _parsed: list[tuple[int, object]] | None = field(default=None, repr=False)

    @property
    def body(self) -> bytes:
        if self.raw is None:
            self.raw = zlib.decompress(self.compressed or b"")
        return self.raw

    def items(self) -> list[tuple[int, object]]:
        """``(line, value)`` pairs: NDJSON lines (1-based), or a JSON document's items (line 0)."""
        if self._parsed is None:
            self._parsed = parse_ndjson(self.body, self.url) if self.ndjson else parse_json_items(self.body, self.url)
        return self._parsed


@dataclass
class Fetched:
    """A report: its records, whether anything changed upstream, and what fetching it cost."""

    unchanged: bool
    requests: int
    not_modified: int
    bytes: int
    documents: tuple[Document, ...] = ()
    pending: tuple[Validators, ...] = field(default=(), repr=False)

    @cached_property
    def records(self) -> list:
        return [value for document in self.documents for _, value in document.items()]

    def sourced_records(self) -> Iterator[tuple[str, object]]:
        """``("<url> line <n>", record)`` for each record: where an error should point."""
        for document in self.documents:
            for line, value in document.items():
                yield (f"{document.url} line {line}" if line else document.url), value


@dataclass(frozen=True)
class _Cached:
    etag: str
    last_modified: str
    compressed: bytes  # the body, as stored: decompressed only when read

    @property
    def body(self) -> bytes:
        return zlib.decompress(self.compressed)


@dataclass(frozen=True)
class _Answer:
    url: str
    fresh: bytes | None  # the body received (None on a 304)
    cached: _Cached | None  # what the cache held for this URL before the request
    validators: Validators | None

    @property
    def not_modified(self) -> bool:
        return self.fresh is None

    @property
    def body(self) -> bytes:
        return self.cached.body if self.fresh is None else self.fresh

    def document(self, *, ndjson: bool) -> Document:
        if self.fresh is None:
            return Document(self.url, compressed=self.cached.compressed, ndjson=ndjson)
        return Document(self.url, raw=self.fresh, ndjson=ndjson)


# --- parsing ---------------------------------------------------------------------------------


def parse_json(body: bytes, url: str) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedResponse(f"{url}: malformed JSON ({exc})", url=url) from exc


def parse_ndjson(body: bytes, url: str) -> list[tuple[int, object]]:
    """Blank lines are skipped; a broken line raises ``MalformedResponse`` with its number."""
    items = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedResponse(f"{url} line {number}: malformed NDJSON ({exc})", url=url, line=number) from exc
    return items


def parse_json_items(body: bytes, url: str) -> list[tuple[int, object]]:
    """A JSON document (an array's items, or one object), else NDJSON: report files come as either."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return parse_ndjson(body, url)
    return [(0, item) for item in document] if isinstance(document, list) else [(0, document)]


# --- the client ------------------------------------------------------------------------------


class GitHubClient:
    """``GitHubClient(token)``; the API URL is ``settings.GITHUB_API_URL``, read at each call.

    ``conditional=False`` sends no validators and stores none (every GET in full). Counters
    ``requests``, ``not_modified`` and ``bytes`` (body bytes received) add up over the client's life.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        conditional: bool = True,
        transport: httpx.BaseTransport | None = None,
        cache_identity: str | None = None,
    ):
        self._token = token
        # whose cache entries these are: the token, unless the caller names a stabler identity (a GitHub App
        # installation's tokens change every hour but read the same things: "app:<id>:installation:<id>")
        self._cache_identity = token if cache_identity is None else cache_identity
        self._base_url = base_url
        self.conditional = conditional
        self._http = httpx.Client(timeout=timeout, follow_redirects=True, transport=transport, verify=_ssl_context())
        self.requests = 0
        self.not_modified = 0
        self.bytes = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def api_url(self) -> str:
        return (self._base_url or getattr(settings, "GITHUB_API_URL", DEFAULT_API_URL)).rstrip("/")

    # --- Copilot -----------------------------------------------------------------------------

    def copilot_user_day_report(
        self, org: str, day: dt.date, *, cache_scope: str = "", save_validators: bool = True
    ) -> Fetched:
        """The per-user records of ``day``: the links, then every download, each conditional.

        ``unchanged`` when every download answered 304 and the set of files is the one seen
        before (a 304 on the links, or new signatures on the same files).
        """
        links_url = self._api(f"/orgs/{org}/copilot/metrics/reports/users-1-day", day=day.isoformat())
        return self._report(links_url, cache_scope=cache_scope, save_validators=save_validators, ndjson=True)

    def copilot_org_metrics(self, org: str, *, cache_scope: str = "", save_validators: bool = True) -> Fetched:
        """The organisation's latest 28-day report; ``records`` are its report objects as GitHub nests them."""
        links_url = self._api(f"/orgs/{org}/copilot/metrics/reports/organization-28-day/latest")
        return self._report(links_url, cache_scope=cache_scope, save_validators=save_validators, ndjson=False)

    def save_validators(self, pending: Iterable[Validators]) -> None:
        """Remember validators and bodies (what ``save_validators=False`` left to the caller)."""
        values = {}
        for item in pending:
            values[item.meta_key] = {"etag": item.etag, "last_modified": item.last_modified}
            values[item.body_key] = zlib.compress(item.body, 1)
        if values:
            cache.set_many(values, timeout=VALIDATOR_TIMEOUT)

    # --- GitHub Apps: the client's token is the app's JWT (apps.integrations.github_app) ----------

    def app_installation(self, org: str) -> AppInstallation:
        """The app's installation on ``org`` (``GET /orgs/{org}/installation``): ``NotFound`` when the app is not
        installed there (or there is no such organisation), ``InvalidToken`` when GitHub refuses the JWT."""
        body, response = self._fetch_json(self._api(f"/orgs/{org}/installation"))
        url = str(response.url)
        account = body.get("account") if isinstance(body, dict) else None
        if not isinstance(account, dict):
            raise MalformedResponse(f"{url}: expected an installation with an account", url=url, status=200)
        permissions = body.get("permissions")
        return AppInstallation(
            id=_integer(body, "id", url), account=_string(account, "login", url), app_id=_integer(body, "app_id", url),
            permissions=permissions if isinstance(permissions, dict) else {},
        )

    def create_installation_token(self, installation_id: int) -> InstallationToken:
        """A new installation access token (``POST /app/installations/{id}/access_tokens``, 201) and its expiry."""
        url = self._api(f"/app/installations/{int(installation_id)}/access_tokens")
        response = self._send(url, {"Content-Type": "application/json"}, method="POST", json_body={})
        _raise_for_status(response, str(url), method="POST")
        body = parse_json(response.content, str(url))
        token = _string(body, "token", str(url))
        expires = body.get("expires_at")
        try:
            expires_at = dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
        except ValueError:
            expires_at = None
        if expires_at is None or expires_at.tzinfo is None:
            raise MalformedResponse(f"{url}: expected the expires_at of a token", url=str(url), status=200)
        return InstallationToken(token=token, expires_at=expires_at.astimezone(dt.UTC))

    def create_issue_comment(self, repository: str, number: int, body: str) -> dict:
        """``POST /repos/{owner}/{repo}/issues/{number}/comments`` (a PR is an issue): ``{"id", "html_url"}`` of the
        new comment. Raises the client's errors (``NotFound`` for an unknown PR, ``RateLimited``, ...)."""
        owner, _, name = repository.partition("/")
        url = self._api(f"/repos/{owner}/{name}/issues/{int(number)}/comments")
        response = self._send(url, {"Content-Type": "application/json"}, method="POST", json_body={"body": body})
        _raise_for_status(response, str(url), method="POST")
        comment = parse_json(response.content, str(url))
        if not isinstance(comment, dict) or not isinstance(comment.get("id"), int):
            raise MalformedResponse(f"POST {url}: expected the new comment with its id", url=str(url), status=201)
        return {"id": comment["id"], "html_url": str(comment.get("html_url") or "")[:500]}

    # --- the token check ---------------------------------------------------------------------

    def check_access(self, org: str, *, installation: bool = False) -> AccessReport:
        """What this token may read in ``org``: REST ``/user`` and ``/orgs/{org}``, then one probe per permission.

        ``InvalidToken`` on a 401, ``OrganizationNotFound`` when the organisation does not exist or the token
        cannot see it. Members (``membersWithRole(first: 1)``) and pull requests (the first repository's
        ``pullRequests(first: 1)``) are required: without either, ``MissingPermission`` names every missing
        permission, Copilot's too, with the report attached. Copilot metrics are optional (not every
        organisation has Copilot): the probe is the 28-day report the Copilot sync reads, and a 403, 404 or
        422 there is ``can_read_copilot=False`` with the reason in ``notes``. An organisation with no
        repository cannot show whether pull requests are readable: that counts as readable, with a note.
        Rate limits and outages propagate as themselves. Nothing is cached. Six requests at most.

        ``installation=True`` for a GitHub App's installation token, which is no user's: GitHub answers ``/user``
        with 403 for it, so that request is left out (``login`` is ""; five requests at most).
        """
        if installation:
            login, scopes = "", ()
        else:
            user, user_response = self._fetch_json(self._api("/user"))
            login = _string(user, "login", user_response.url)
            scopes = tuple(s.strip() for s in user_response.headers.get("X-OAuth-Scopes", "").split(",") if s.strip())
        try:
            organization, response = self._fetch_json(self._api(f"/orgs/{org}"))
        except NotFound as exc:
            raise OrganizationNotFound(
                f"organisation {org!r} not found, or this token cannot see it ({exc})", status=exc.status, url=exc.url
            ) from exc
        org_login = _string(organization, "login", response.url)
        missing: list[str] = []
        notes: list[str] = []

        def probe(permission: str, check) -> bool:
            try:
                check()
            except Forbidden as exc:
                missing.append(permission)
                notes.append(f"{permission}: {exc}")
                return False
            return True

        can_members = probe("members", lambda: next(self.organization_members(org_login, page_size=1)))
        repositories = next(self.organization_repositories(org_login, page_size=1), [])
        if repositories:
            owner, _, name = repositories[0].name_with_owner.partition("/")
            variables = {"owner": owner, "name": name, "first": 1, "reviews": 1, "commits": 1, "after": None}
            can_pulls = probe("pull requests", lambda: self._graphql("PullRequests", PULL_REQUESTS_QUERY, variables))
        else:
            can_pulls = True
            notes.append("pull requests: the organisation has no repository to check them on")
        can_copilot = True
        try:
            self._fetch_json(self._api(f"/orgs/{org_login}/copilot/metrics/reports/organization-28-day/latest"))
        except Forbidden as exc:
            can_copilot = False
            missing.append("Copilot metrics")
            notes.append(f"Copilot metrics: {exc}")
        except NotFound as exc:
            can_copilot = False
            notes.append(f"Copilot metrics: no report (Copilot not enabled, or no usage yet): {exc}")
        except GitHubError as exc:
            if exc.status != 422 or isinstance(exc, RateLimited):
                raise
            can_copilot = False
            notes.append(f"Copilot metrics: the usage metrics policy is off: {exc}")
        report = AccessReport(
            login=login, organization=org_login, can_read_members=can_members, can_read_pull_requests=can_pulls,
            can_read_copilot=can_copilot, scopes=scopes, notes=tuple(notes),
        )
        if any(permission in REQUIRED_PERMISSIONS for permission in missing):
            error = MissingPermission(missing, url=self.api_url)
            error.report = report
            raise error
        return report

    # --- GraphQL: members, repositories, pull requests -------------------------------------------

    @property
    def graphql_url(self) -> httpx.URL:
        """``{api_url}/graphql``; for GitHub Enterprise Server (``https://host/api/v3``) ``https://host/api/graphql``."""
        api = self.api_url
        return httpx.URL(api.removesuffix("/v3") + "/graphql" if api.endswith("/api/v3") else api + "/graphql")

    def organization_members(self, org: str, *, page_size: int = PAGE_LIMIT) -> Iterator[list[GitHubUser]]:
        """The organisation's members, one page (request) per ``page_size`` (at most 100) members."""
        variables = {"org": org, "first": _page_size(page_size, "page_size")}
        for connection, _ in self._pages("Members", MEMBERS_QUERY, variables, ("organization", "membersWithRole")):
            yield [_user(node) for node in connection["nodes"] if node]

    def organization_repositories(
        self, org: str, *, query: str | None = None, page_size: int = PAGE_LIMIT
    ) -> Iterator[list[Repository]]:
        """The organisation's repositories by name, a page a request; ``query``: only names matching it (search)."""
        first = _page_size(page_size, "page_size")
        if query is None or not query.strip():
            pages = self._pages("Repositories", REPOSITORIES_QUERY, {"org": org, "first": first},
                                ("organization", "repositories"))
        else:
            search = f"org:{org} in:name {' '.join(query.split())}"
            pages = self._pages("SearchRepositories", SEARCH_REPOSITORIES_QUERY, {"query": search, "first": first},
                                ("search",))
        owner = org.lower() + "/"
        for connection, _ in pages:
            nodes = [node for node in connection["nodes"] if node]  # a search's non-repository hits are {}
            yield [r for r in map(_repository, nodes) if r.name_with_owner.lower().startswith(owner)]

    def pull_request_pages(
        self,
        repository: str | Repository,
        *,
        page_size: int = 50,
        after: str | None = None,
        reviews_per_pr: int = 25,
        commits_per_pr: int = 50,
    ) -> Iterator[PullRequestPage]:
        """The repository's pull requests newest update first, from the cursor ``after`` on, each complete.

        Stop iterating once the pages reach what an earlier sync stored: no request is made for a page not
        asked for. A deleted (or invisible) repository raises ``NotFound``.
        """
        name_with_owner = repository.name_with_owner if isinstance(repository, Repository) else repository
        owner, _, name = name_with_owner.partition("/")
        if not owner or not name:
            raise ValueError(f"repository must be 'owner/name', not {name_with_owner!r}")
        variables = {
            "owner": owner, "name": name, "first": _page_size(page_size, "page_size"),
            "reviews": _page_size(reviews_per_pr, "reviews_per_pr"),
            "commits": _page_size(commits_per_pr, "commits_per_pr"),
        }
        pages = self._pages("PullRequests", PULL_REQUESTS_QUERY, variables, ("repository", "pullRequests"), after=after)
        for connection, rate_limit in pages:
            requests = 1
            records = []
            for node in connection["nodes"]:
                if not node:
                    continue
                reviews, review_requests, review_limit = self._complete(
                    "PullRequestReviews", PULL_REQUEST_REVIEWS_QUERY, variables, node, "reviews"
                )
                commits, commit_requests, commit_limit = self._complete(
                    "PullRequestCommits", PULL_REQUEST_COMMITS_QUERY, variables, node, "commits"
                )
                requests += review_requests + commit_requests
                rate_limit = commit_limit or review_limit or rate_limit
                records.append(self._parsed("PullRequests", _pull_request, node, name_with_owner, reviews, commits))
            info = connection["pageInfo"]
            yield PullRequestPage(
                repository=name_with_owner, pull_requests=tuple(records), end_cursor=info.get("endCursor"),
                has_next_page=bool(info.get("hasNextPage")), rate_limit=rate_limit, requests=requests,
            )

    def _complete(self, operation: str, query: str, variables: dict, node: dict, part: str):
        """A PR's ``part`` (reviews or commits) in full: its first page, then its own cursor, 100 at a time.

        Returns the nodes, the extra requests and the rate limit of the last of them (None without any).
        """
        connection = self._parsed(operation, _connection_at, node, (part,))
        nodes = list(connection["nodes"])
        if not connection["pageInfo"].get("hasNextPage"):
            return nodes, 0, None
        more = {"owner": variables["owner"], "name": variables["name"], "number": node["number"], "first": PAGE_LIMIT}
        requests, rate_limit = 0, None
        pages = self._pages(operation, query, more, ("repository", "pullRequest", part),
                            after=connection["pageInfo"].get("endCursor"))
        for rest, last_limit in pages:
            requests += 1
            nodes += rest["nodes"]
            rate_limit = last_limit
        return nodes, requests, rate_limit

    def _pages(self, operation: str, query: str, variables: dict, path: tuple[str, ...], *, after: str | None = None):
        """``(connection, rate_limit)`` per request, following ``pageInfo.endCursor`` while ``hasNextPage``."""
        while True:
            data, rate_limit = self._graphql(operation, query, {**variables, "after": after})
            connection = self._parsed(operation, _connection_at, data, path)
            yield connection, rate_limit
            info = connection["pageInfo"]
            if not info.get("hasNextPage") or not info.get("endCursor"):
                return
            after = info["endCursor"]

    def _graphql(self, operation: str, query: str, variables: dict) -> tuple[dict, RateLimit | None]:
        """One GraphQL request: its ``data`` and ``rateLimit``, or the error its answer names."""
        url = self.graphql_url
        body = {"query": query, "variables": variables, "operationName": operation}
        response = self._send(url, {"Content-Type": "application/json"}, method="POST", json_body=body)
        where = f"{url} ({operation})"
        _raise_for_status(response, str(url), method="POST", operation=operation)
        payload = parse_json(response.content, where)
        if not isinstance(payload, dict):
            raise MalformedResponse(f"{where}: expected a GraphQL answer object", url=str(url), status=200)
        errors = payload.get("errors")
        if errors:
            raise _graphql_error(errors if isinstance(errors, list) else [errors], response, str(url), operation)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise MalformedResponse(f"{where}: a GraphQL answer without data", url=str(url), status=200)
        return data, self._parsed(operation, _rate_limit, data.get("rateLimit"))

    def _parsed(self, operation: str, build, *args):
        """``build(*args)``, with a missing or mistyped field in the answer reported as ``MalformedResponse``."""
        try:
            return build(*args)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            url = str(self.graphql_url)
            raise MalformedResponse(
                f"{url} ({operation}): unexpected GraphQL answer ({exc.__class__.__name__}: {exc})", url=url, status=200
            ) from exc

    def _fetch_json(self, url: httpx.URL) -> tuple[object, httpx.Response]:
        """One unconditional GET of JSON (nothing cached): the parsed body and the response."""
        response = self._send(url, {})
        _raise_for_status(response, str(url))
        return parse_json(response.content, str(url)), response

    # --- a report: links, then downloads -----------------------------------------------------

    def _report(self, links_url: httpx.URL, *, cache_scope: str, save_validators: bool, ndjson: bool) -> Fetched:
        before = (self.requests, self.not_modified, self.bytes)
        links = self._get(links_url, cache_scope=cache_scope)
        urls = _download_links(links.body, links.url)
        pending = [links.validators] if links.validators else []
        documents, downloads_unchanged = [], True
        for url in urls:
            answer = self._get(httpx.URL(url), cache_scope=cache_scope, signed=True)
            downloads_unchanged &= answer.not_modified
            document = answer.document(ndjson=ndjson)
            if not answer.not_modified:
                document.items()  # a fresh body is checked now: a malformed one fails the fetch
            documents.append(document)
            if answer.validators:
                pending.append(answer.validators)
        same_files = links.not_modified or (
            links.cached is not None and _file_set(urls) == _file_set(_download_links(links.cached.body, links.url))
        )
        if save_validators:
            self.save_validators(pending)
            pending = []
        return Fetched(
            unchanged=same_files and downloads_unchanged,
            requests=self.requests - before[0],
            not_modified=self.not_modified - before[1],
            bytes=self.bytes - before[2],
            documents=tuple(documents),
            pending=tuple(pending),
        )

    # --- one conditional GET ------------------------------------------------------------------

    def _api(self, path: str, **params: str) -> httpx.URL:
        return httpx.URL(self.api_url + path, params=params or None)

    def _get(self, url: httpx.URL, *, cache_scope: str, signed: bool = False) -> _Answer:
        identity = str(url.copy_with(query=None)) if signed else str(url)
        meta_key, body_key = self._keys(identity, cache_scope)
        cached = self._cached(meta_key, body_key) if self.conditional else None
        headers = {}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        response = self._send(url, headers)
        if response.status_code == 304:
            if cached is not None:
                return _Answer(str(url), fresh=None, cached=cached, validators=None)
            # A 304 we cannot serve (we sent no validators): ask again, in full.
            response = self._send(url, {"Cache-Control": "no-cache"})
            if response.status_code == 304:
                raise GitHubError(f"GET {url}: 304 Not Modified to an unconditional request", status=304, url=str(url))
        _raise_for_status(response, str(url))
        etag = response.headers.get("ETag", "")
        last_modified = response.headers.get("Last-Modified", "")
        validators = None
        if self.conditional and (etag or last_modified):
            validators = Validators(meta_key, body_key, etag, last_modified, response.content)
        return _Answer(str(url), fresh=response.content, cached=cached, validators=validators)

    def _send(
        self, url: httpx.URL, extra: dict[str, str], *, method: str = "GET", json_body: dict | None = None
    ) -> httpx.Response:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
            **extra,
        }
        if self._token and _same_origin(url, httpx.URL(self.api_url)):
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            if method == "GET":
                response = self._http.get(url, headers=headers)
            else:
                response = self._http.request(method, url, headers=headers, content=json.dumps(json_body).encode())
        except httpx.TransportError as exc:
            raise GitHubUnavailable(f"{method} {url} failed: {exc.__class__.__name__}: {exc}", url=str(url)) from exc
        except httpx.HTTPError as exc:
            raise GitHubError(f"{method} {url} failed: {exc.__class__.__name__}: {exc}", url=str(url)) from exc
        self.requests += 1
        self.bytes += response.num_bytes_downloaded
        if response.status_code == 304:
            self.not_modified += 1
        return response

    # --- the cache ---------------------------------------------------------------------------

    def _keys(self, identity: str, cache_scope: str) -> tuple[str, str]:
        scope = hashlib.sha256(f"{self._cache_identity}\x00{cache_scope}".encode()).hexdigest()[:24]
        digest = hashlib.sha256(identity.encode()).hexdigest()[:40]
        return f"github:http:{scope}:meta:{digest}", f"github:http:{scope}:body:{digest}"

    @staticmethod
    def _cached(meta_key: str, body_key: str) -> _Cached | None:
        found = cache.get_many([meta_key, body_key])
        meta, body = found.get(meta_key), found.get(body_key)
        if not isinstance(meta, dict) or not isinstance(body, bytes):
            return None  # no validators, or the body is gone: fetch in full
        return _Cached(meta.get("etag", ""), meta.get("last_modified", ""), body)


# --- helpers ---------------------------------------------------------------------------------


@memoize
def _ssl_context():
    """One TLS context per process: loading the CA bundle for every client costs about 20 ms."""
    return httpx.create_ssl_context()


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _download_links(body: bytes, url: str) -> list[str]:
    links = parse_json(body, url)
    found = links.get("download_links") if isinstance(links, dict) else None
    if not isinstance(found, list) or not all(isinstance(link, str) for link in found):
        raise MalformedResponse(f"{url}: expected an object with a list of download_links", url=url)
    return found


def _file_set(urls: list[str]) -> set[str]:
    return {str(httpx.URL(url).copy_with(query=None)) for url in urls}


def _message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200]
    return str(payload.get("message", "")) if isinstance(payload, dict) else ""


def _rate_limit_wait(response: httpx.Response, message: str) -> int | None:
    """Seconds to wait when a 403/429 is a rate limit; None when it is not one."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        if retry_after.strip().isdigit():
            return int(retry_after)
        try:
            moment = email.utils.parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            moment = None
        if moment is not None:
            return max(0, math.ceil(moment.timestamp() - time.time()))
    if response.headers.get("X-RateLimit-Remaining") == "0":
        reset = response.headers.get("X-RateLimit-Reset", "")
        if reset.isdigit():
            return max(0, math.ceil(int(reset) - time.time()))
        return SECONDARY_LIMIT_WAIT
    if response.status_code == 429 or "rate limit" in message.lower():
        return SECONDARY_LIMIT_WAIT
    return None


def _raise_for_status(response: httpx.Response, url: str, *, method: str = "GET", operation: str = "") -> None:
    status = response.status_code
    if status < 400:
        return
    message = _message(response)
    where = f"{url} ({operation})" if operation else url
    detail = f"{method} {where}: {status}" + (f" {message}" if message else "")
    if status in (403, 429):
        wait = _rate_limit_wait(response, message)
        if wait is not None:
            raise RateLimited(f"{detail} (rate limited: retry in {wait} s)", wait_seconds=wait, status=status, url=url)
    if status >= 500:
        raise GitHubUnavailable(detail, status=status, url=url)
    if status == 401:
        raise InvalidToken(f"{detail} (the token is wrong, expired or revoked)", status=status, url=url)
    if status == 403:
        accepted = response.headers.get("X-Accepted-GitHub-Permissions") or response.headers.get(
            "X-Accepted-OAuth-Scopes", ""
        )
        raise Forbidden(detail + (f" (the token needs: {accepted})" if accepted else ""), accepted=accepted,
                        permissions=_permissions_named(accepted, operation), status=status, url=url)
    if status == 404:
        raise NotFound(detail, status=status, url=url)
    raise GitHubError(detail, status=status, url=url)


# --- GraphQL: documents --------------------------------------------------------------------------
# GitHub refuses a document with a fragment it does not use: each query carries only its own.

_ACTOR = (
    "fragment ActorFields on Actor { __typename login avatarUrl"
    " ... on User { databaseId name } ... on Bot { databaseId } }"
)
_REVIEW = "fragment ReviewFields on PullRequestReview { databaseId state submittedAt author { ...ActorFields } }"
_COMMIT = (
    "fragment CommitFields on PullRequestCommit { commit { oid committedDate additions deletions"
    " author { user { login databaseId } } } }"
)
_PAGE_INFO = "pageInfo { hasNextPage endCursor }"
_RATE_LIMIT = "rateLimit { cost remaining resetAt }"
_REPOSITORY = "nameWithOwner databaseId isArchived isPrivate"

MEMBERS_QUERY = f"""query Members($org: String!, $first: Int!, $after: String) {{
  organization(login: $org) {{
    membersWithRole(first: $first, after: $after) {{
      nodes {{ __typename login databaseId name avatarUrl }} {_PAGE_INFO}
    }}
  }}
  {_RATE_LIMIT}
}}"""

REPOSITORIES_QUERY = f"""query Repositories($org: String!, $first: Int!, $after: String) {{
  organization(login: $org) {{
    repositories(first: $first, after: $after, orderBy: {{field: NAME, direction: ASC}}) {{
      nodes {{ {_REPOSITORY} }} {_PAGE_INFO}
    }}
  }}
  {_RATE_LIMIT}
}}"""

SEARCH_REPOSITORIES_QUERY = f"""query SearchRepositories($query: String!, $first: Int!, $after: String) {{
  search(query: $query, type: REPOSITORY, first: $first, after: $after) {{
    repositoryCount nodes {{ ... on Repository {{ {_REPOSITORY} }} }} {_PAGE_INFO}
  }}
  {_RATE_LIMIT}
}}"""

PULL_REQUESTS_QUERY = f"""query PullRequests($owner: String!, $name: String!, $first: Int!, $after: String,
    $reviews: Int!, $commits: Int!) {{
  repository(owner: $owner, name: $name) {{
    pullRequests(first: $first, after: $after, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      nodes {{
        databaseId number title state createdAt updatedAt mergedAt closedAt additions deletions headRefName
        author {{ ...ActorFields }}
        reviews(first: $reviews) {{ nodes {{ ...ReviewFields }} {_PAGE_INFO} }}
        commits(first: $commits) {{ nodes {{ ...CommitFields }} {_PAGE_INFO} }}
      }}
      {_PAGE_INFO}
    }}
  }}
  {_RATE_LIMIT}
}}
{_ACTOR}
{_REVIEW}
{_COMMIT}"""

def _rest_of_connection_query(operation: str, part: str, nodes: str, *fragments: str) -> str:
    """One pull request's ``part`` connection (reviews, commits) after its cursor: completing an overflow."""
    return f"""query {operation}($owner: String!, $name: String!, $number: Int!, $first: Int!, $after: String) {{
  repository(owner: $owner, name: $name) {{
    pullRequest(number: $number) {{ {part}(first: $first, after: $after) {{ nodes {{ {nodes} }} {_PAGE_INFO} }} }}
  }}
  {_RATE_LIMIT}
}}
""" + "\n".join(fragments)


PULL_REQUEST_REVIEWS_QUERY = _rest_of_connection_query(
    "PullRequestReviews", "reviews", "...ReviewFields", _ACTOR, _REVIEW
)
PULL_REQUEST_COMMITS_QUERY = _rest_of_connection_query("PullRequestCommits", "commits", "...CommitFields", _COMMIT)

# --- GraphQL: answers into records ---------------------------------------------------------------


def _page_size(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= PAGE_LIMIT:
        raise ValueError(f"{name} must be an integer from 1 to {PAGE_LIMIT}, not {value!r}")
    return value


def _string(document: object, key: str, url) -> str:
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, str) or not value:
        raise MalformedResponse(f"{url}: expected an object with a {key!r}", url=str(url))
    return value


def _integer(document: object, key: str, url) -> int:
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise MalformedResponse(f"{url}: expected an object with a positive integer {key!r}", url=str(url))
    return value


def _connection_at(data: dict, path: tuple[str, ...]) -> dict:
    """The connection (``nodes`` and ``pageInfo``) at ``path`` in a GraphQL answer's data."""
    for key in path:
        data = data[key]
    if not isinstance(data["nodes"], list) or not isinstance(data["pageInfo"], dict):
        raise TypeError(f"{'.'.join(path)} needs a list of nodes and a pageInfo object")
    return data


def _time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"a time without a timezone: {value!r}")
    return moment.astimezone(dt.UTC)


def _rate_limit(value: dict | None) -> RateLimit | None:
    if value is None:
        return None
    return RateLimit(cost=int(value["cost"]), remaining=int(value["remaining"]), reset_at=_time(value["resetAt"]))


def _actor(node: dict | None) -> GitHubUser | None:
    """A GraphQL ``Actor`` (or ``User``); None for none and for the deleted-account placeholder."""
    if not node:
        return None
    login = node.get("login") or ""
    if not login or login.lower() == GHOST_LOGIN:
        return None
    is_bot = node.get("__typename") == "Bot" or login.lower().endswith("[bot]")
    if is_bot and not login.lower().endswith("[bot]"):
        login += "[bot]"  # as REST and webhooks spell a bot
    database_id = node.get("databaseId")
    return GitHubUser(
        login=login,
        database_id=int(database_id) if database_id is not None else None,
        name=node.get("name") or "",
        avatar_url=node.get("avatarUrl") or "",
        is_bot=is_bot,
    )


def _user(node: dict) -> GitHubUser:
    user = _actor(node)
    if user is None:
        raise ValueError(f"a member without a login: {node!r}")
    return user


def _repository(node: dict) -> Repository:
    return Repository(
        name_with_owner=node["nameWithOwner"],
        database_id=int(node["databaseId"]),
        is_archived=bool(node.get("isArchived")),
        is_private=bool(node.get("isPrivate")),
    )


def _review(node: dict) -> ReviewRecord:
    return ReviewRecord(
        database_id=int(node["databaseId"]),
        author=_actor(node.get("author")),
        state=node["state"],
        submitted_at=_time(node.get("submittedAt")),
    )


def _commit(node: dict) -> CommitRecord:
    commit = node["commit"]
    author = commit.get("author") or {}
    return CommitRecord(
        oid=commit["oid"],
        author=_actor(author.get("user")),
        committed_at=_time(commit["committedDate"]),
        additions=int(commit["additions"]),
        deletions=int(commit["deletions"]),
    )


def _pull_request(node: dict, repository: str, reviews: list[dict], commits: list[dict]) -> PullRequestRecord:
    return PullRequestRecord(
        database_id=int(node["databaseId"]),
        number=int(node["number"]),
        repository=repository,
        title=node["title"],
        state=node["state"],
        author=_actor(node.get("author")),
        created_at=_time(node["createdAt"]),
        updated_at=_time(node["updatedAt"]),
        merged_at=_time(node.get("mergedAt")),
        closed_at=_time(node.get("closedAt")),
        additions=int(node["additions"]),
        deletions=int(node["deletions"]),
        head_ref_name=node.get("headRefName") or "",
        reviews=tuple(_review(r) for r in reviews if r and r.get("state") != "PENDING"),
        commits=tuple(_commit(c) for c in commits if c),
    )


def _graphql_error(errors: list, response: httpx.Response, url: str, operation: str) -> GitHubError:
    """The named error for a GraphQL ``errors`` array (the first kind found, in this order)."""
    types = {str(e.get("type", "")) for e in errors if isinstance(e, dict)}
    generic = GraphQLError(errors, operation=operation, url=url)
    detail = str(generic)
    if "RATE_LIMITED" in types:
        reset = response.headers.get("X-RateLimit-Reset", "")
        wait = max(0, math.ceil(int(reset) - time.time())) if reset.isdigit() else SECONDARY_LIMIT_WAIT
        return RateLimited(f"{detail} (rate limited: retry in {wait} s)", wait_seconds=wait, status=200, url=url)
    if "NOT_FOUND" in types:
        paths = [e.get("path") or [] for e in errors if isinstance(e, dict) and e.get("type") == "NOT_FOUND"]
        if any(path[:1] == ["organization"] for path in paths):
            return OrganizationNotFound(detail, status=200, url=url)
        return NotFound(detail, status=200, url=url)
    if types & {"FORBIDDEN", "INSUFFICIENT_SCOPES"}:
        return Forbidden(detail, permissions=_permissions_named("", operation), status=200, url=url)
    return generic


_PERMISSION_OF_OPERATION = {
    "Members": "members",
    "PullRequests": "pull requests",
    "PullRequestReviews": "pull requests",
    "PullRequestCommits": "pull requests",
}
_PERMISSION_OF_GITHUB_NAME = {"members": "members", "pull_requests": "pull requests", "copilot": "Copilot metrics"}


def _permissions_named(accepted: str, operation: str) -> list[str]:
    """Our names for what a 403 is about: from the GraphQL operation, else GitHub's accepted permissions."""
    if operation in _PERMISSION_OF_OPERATION:
        return [_PERMISSION_OF_OPERATION[operation]]
    names = []
    for item in accepted.replace(";", ",").split(","):
        github_name = item.split("=", 1)[0].strip()
        ours = next((v for k, v in _PERMISSION_OF_GITHUB_NAME.items() if k in github_name), None)
        if ours and ours not in names:
            names.append(ours)
    return names
