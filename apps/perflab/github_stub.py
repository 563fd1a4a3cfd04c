"""A real HTTP server on loopback that stands in for GitHub's Copilot usage API.

It serves the organisation's per-user daily report the way GitHub does: the REST endpoint
``GET /orgs/{org}/copilot/metrics/reports/users-1-day?day=YYYY-MM-DD`` answers with
``{"download_links": [...], "report_day": ...}`` and each link serves NDJSON, one record per
user and day. ``GET /orgs/{org}/copilot/metrics/reports/organization-28-day/latest`` links to the
organisation's 28-day report, aggregated from the same user records: ``day_totals`` per day,
nested by IDE, feature, language x feature, language x model and model x feature.

Every answer carries ``ETag`` and ``Last-Modified`` and honours ``If-None-Match`` (or, without
it, ``If-Modified-Since``) with ``304 Not Modified``. ``rotate_signatures=True`` makes download
links look like GitHub's signed URLs, whose signature (the query string) changes on every links
answer. Tests and notebooks count its requests and the bytes it served, and can make it fail
(rate limits, 5xx, bad JSON).

``fake_user_day(login, day, seed)`` is a deterministic, realistic per-user record (counts by IDE,
feature, language and model); ``GitHubStub.with_users(logins, days, seed=...)`` serves one per
user and day.

**The organisation** (issue 12): ``GitHubStub.with_organization(org="acme", token=..., members=250,
repositories=4, prs_per_repository=100, reviews_per_pr=2, commits_per_pr=3, seed=0)`` (or
``stub.populate(OrgSpec(...))``) builds deterministic data (``generate_organization``): members (users
only, as on GitHub), outside contributors who author pull requests but are not members, bots
(``dependabot[bot]``... as GraphQL ``Bot``, whose GraphQL login has no ``[bot]`` suffix, as on GitHub) and
deleted authors (GraphQL ``author: null``, REST ``ghost``), repositories, and per repository pull requests
with their reviews and commits. It answers:

- REST ``GET /user`` (the token's login, ``viewer``; ``X-OAuth-Scopes`` when ``scopes`` is set, as for a
  classic token) and ``GET /orgs/{org}``;
- REST ``GET /repos/{org}/{repo}/pulls?state=all&per_page=&page=``, ``.../pulls/{n}/reviews`` and
  ``.../pulls/{n}/commits``, paginated with ``Link`` headers (what the naive baseline sync reads);
- ``POST /graphql``: a dispatcher on the operation name the client sends (``Members``, ``Repositories``,
  ``SearchRepositories``, ``PullRequests``, ``PullRequestReviews``, ``PullRequestCommits``), its variables
  checked as GitHub checks them (``first`` within 1..100, cursors it issued), and ``rateLimit`` with a
  budget that each answer spends. Only fields whose names appear in the query are returned, so a
  field the client forgets to ask for is missing here as it would be on GitHub. This is not a GraphQL
  engine: it answers the client's own queries.

Errors, per test: ``token`` (401), an unknown organisation or ``delete_repository`` (404 / GraphQL
``NOT_FOUND``), ``deny("members", "pull_requests", "copilot")`` (GraphQL ``FORBIDDEN``, or
``INSUFFICIENT_SCOPES`` for a classic token; REST 403 with ``X-Accepted-GitHub-Permissions``),
``fail_next(...)`` for any status, headers and body (429 / 403 secondary limits with ``Retry-After``,
malformed bodies), optionally only for one ``path`` or ``operation``, ``fail_graphql_next(errors)``, and
``set_rate_limit(remaining=..., reset_at=...)``. Tests change the data between syncs with
``update_pull_request``, ``add_pull_request``, ``add_review``, ``add_commit``, ``add_member``, and count what was
asked with ``count_operation`` and ``request_counts``. REST ``POST /repos/{org}/{repo}/issues/{n}/comments``
creates a comment on a pull request (201 and the comment, as GitHub answers; 404 for an unknown PR, 422 without a
``body``); ``comments(repository, number)`` lists what was created (``posted_comments``, all of them).
``send_webhook`` delivers a signed webhook
(``pull_request_event``, ``pull_request_review_event``) to any URL.

**GitHub Apps**: ``stub.register_app(app_id, key)`` (the app's public key, or its private key: PEM text or a key
object; ``new_app_private_key()`` makes one) and ``stub.install(org)`` (the installation's id back). With the app's
JWT in ``Authorization: Bearer``, ``GET /orgs/{org}/installation`` answers the installation and ``POST
/app/installations/{id}/access_tokens`` a new installation token (201, with ``expires_at``: now +
``installation_token_lifetime``, one hour unless a test sets it). The JWT is checked as GitHub does: RS256
signed by the registered key of its ``iss``, ``exp`` in the future and at most ten minutes after ``iat``,
``iat`` not in the future; else 401 (an unknown ``iss`` is "Integration not found"). An app not installed on
the organisation, or another app's installation, is 404. Every other endpoint accepts an unexpired installation
token like the organisation's token (an expired or revoked one is 401, ``/user`` 403 as on GitHub: an
installation is no user). ``expire_installation_tokens()`` and ``revoke_installation_tokens()`` end them early;
``issued_installation_tokens`` lists them, and the request log counts the exchanges
(``count_exchanges()``).
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import datetime as dt
import email.utils
import hashlib
import hmac
import itertools
import json
import math
import random
import re
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REPORT_PATH = "/orgs/{org}/copilot/metrics/reports/users-1-day"
ORG_REPORT_PATH = "/orgs/{org}/copilot/metrics/reports/organization-28-day/latest"
ORG_REPORT_DAYS = 28
_LAST_MODIFIED_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # + one second per data change


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    conditional: bool  # sent If-None-Match (or If-Modified-Since)
    bytes: int = 0  # body bytes served
    headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # names lower-cased
    operation: str = ""  # the GraphQL operation name of a POST /graphql
    body: bytes = field(default=b"", compare=False, repr=False)  # what a POST sent

    @property
    def route(self) -> str:
        """The path without its query string."""
        return self.path.split("?", 1)[0]


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    body: bytes
    path: str | None = None  # only a request to this path (no query string)
    operation: str | None = None  # only this GraphQL operation

    def matches(self, route: str, operation: str) -> bool:
        return self.path in (None, route) and self.operation in (None, operation)


class GitHubStub:
    """``with GitHubStub(org="acme") as github: github.base_url ...``"""

    def __init__(
        self,
        org: str = "acme",
        token: str | None = None,
        *,
        rotate_signatures: bool = False,
        viewer: str = "octocat",
        scopes: Sequence[str] | None = None,
    ):
        self.org = org
        self.token = token  # None: any token (or none) is accepted
        self.rotate_signatures = rotate_signatures
        self.viewer = viewer  # the login GET /user answers for the token
        self.scopes = None if scopes is None else tuple(scopes)  # a classic token's scopes; None: fine-grained
        self.organization = StubOrganization(org, _user_id(f"org:{org}"))  # empty until populate()
        self.denied: set[str] = set()  # of PERMISSIONS: what the token may not read
        self._rate = _RateBudget()
        self._days: dict[dt.date, bytes] = {}
        self._modified: dict[dt.date, int] = {}  # day -> data version (its Last-Modified)
        self._versions = itertools.count(1)
        self._signatures = itertools.count(1)
        self._failures: list[_Failure] = []
        self.posted_comments: list[StubComment] = []  # POST .../issues/{n}/comments, in order (see comments())
        self._lock = threading.Lock()
        self.requests: list[LoggedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # GitHub Apps (register_app, install): keys, installations, the installation tokens issued
        self._app_keys: dict[int, rsa.RSAPublicKey] = {}
        self.installations: dict[str, StubInstallation] = {}  # by organisation login, lower-cased
        self._installation_ids = itertools.count(40_000_001)
        self._installation_tokens: dict[str, IssuedToken] = {}
        self.installation_token_lifetime = dt.timedelta(hours=1)  # GitHub: an hour

    @classmethod
    def with_users(
        cls, logins: Iterable[str], days: Iterable[dt.date], *, seed: int = 0, org: str = "acme", **options
    ) -> GitHubStub:
        """A stub (not started) serving ``fake_user_day`` records for every login on every day."""
        stub = cls(org=org, **options)
        stub.set_users(logins, days, seed=seed)
        return stub

    # --- data ---------------------------------------------------------------------------

    def set_day(self, day: dt.date, records: list[dict]) -> None:
        """The NDJSON report for ``day`` (replacing any earlier one, so its ETag changes)."""
        body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
        self.set_raw_day(day, body)

    def set_raw_day(self, day: dt.date, body: bytes) -> None:
        """A report body served as is: for malformed-data tests."""
        with self._lock:
            self._days[day] = body
            self._modified[day] = next(self._versions)

    def set_users(self, logins: Iterable[str], days: Iterable[dt.date], *, seed: int = 0) -> None:
        """Every day's report: one ``fake_user_day`` record per login."""
        logins = list(logins)
        for day in days:
            self.set_day(day, [fake_user_day(login, day, seed) for login in logins])

    def day_records(self, day: dt.date) -> list[dict]:
        """The records served for ``day`` (unparseable lines left out)."""
        with self._lock:
            body = self._days.get(day, b"")
        return _records(body)

    @property
    def days(self) -> list[dt.date]:
        with self._lock:
            return sorted(self._days)

    def fail_next(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes = b"{}",
        *,
        path: str | None = None,
        operation: str | None = None,
    ) -> None:
        """The next request answers ``status`` (queue several for several requests).

        With ``path`` (no query string) or ``operation`` (a GraphQL operation name), only the next
        request to that path or of that operation; other requests pass it by.
        """
        with self._lock:
            self._failures.append(_Failure(status, headers or {}, body, path, operation))

    def fail_graphql_next(self, errors: list[dict] | str, *, operation: str | None = None, data=None) -> None:
        """The next GraphQL request (of ``operation``) answers 200 with ``errors`` (a message or error objects)."""
        if isinstance(errors, str):
            errors = [{"message": errors}]
        body = json.dumps({"data": data, "errors": errors}).encode()
        self.fail_next(200, {"Content-Type": "application/json"}, body, path=GRAPHQL_PATH, operation=operation)

    def deny(self, *permissions: str) -> None:
        """The token may not read these (of ``PERMISSIONS``): GraphQL FORBIDDEN, REST 403."""
        unknown = set(permissions) - set(PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown permission(s) {sorted(unknown)}: choose from {PERMISSIONS}")
        with self._lock:
            self.denied.update(permissions)

    def set_rate_limit(
        self, *, remaining: int, reset_at: dt.datetime | None = None, limit: int | None = None
    ) -> None:
        """The GraphQL budget: what is left (each answer spends its cost) and when it resets."""
        with self._lock:
            self._rate.remaining = remaining
            if reset_at is not None:
                self._rate.reset_at = reset_at
            if limit is not None:
                self._rate.limit = limit

    @property
    def rate_limit_remaining(self) -> int:
        with self._lock:
            return self._rate.remaining

    # --- GitHub Apps -----------------------------------------------------------------------

    def register_app(self, app_id: int, key) -> None:
        """An app GitHub knows: its id and key (public or private; PEM text, bytes or a key object)."""
        with self._lock:
            self._app_keys[int(app_id)] = _public_key(key)

    def install(
        self, org: str | None = None, *, app_id: int | None = None, installation_id: int | None = None,
        permissions: dict[str, str] | None = None,
    ) -> int:
        """The app (the only registered one by default) installed on ``org`` (default: the stub's); its id."""
        with self._lock:
            if app_id is None:
                if len(self._app_keys) != 1:
                    raise ValueError("register one app first, or name the app_id to install")
                app_id = next(iter(self._app_keys))
            if int(app_id) not in self._app_keys:
                raise ValueError(f"app {app_id} is not registered")
            login = org or self.org
            installation = StubInstallation(
                id=installation_id or next(self._installation_ids), app_id=int(app_id), account=login,
                permissions=dict(permissions or {"members": "read", "metadata": "read", "pull_requests": "read",
                                                  "organization_copilot_seat_management": "read"}),
            )
            self.installations[login.lower()] = installation
            return installation.id

    def uninstall(self, org: str | None = None) -> None:
        """The app is removed from ``org``: its installation is gone, and the tokens issued for it stop working."""
        with self._lock:
            installation = self.installations.pop((org or self.org).lower(), None)
            for issued in self._installation_tokens.values():
                if installation is not None and issued.installation_id == installation.id:
                    issued.revoked = True

    @property
    def issued_installation_tokens(self) -> list[IssuedToken]:
        with self._lock:
            return list(self._installation_tokens.values())

    def expire_installation_tokens(self) -> None:
        """Every installation token issued so far has expired (new ones get the usual lifetime)."""
        with self._lock:
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            for issued in self._installation_tokens.values():
                issued.expires_at = min(issued.expires_at, past)

    def revoke_installation_tokens(self) -> None:
        """Every installation token issued so far is revoked (``DELETE /installation/token``, or a key removed)."""
        with self._lock:
            for issued in self._installation_tokens.values():
                issued.revoked = True

    def count_exchanges(self) -> int:
        """How many installation tokens were asked for (``POST /app/installations/{id}/access_tokens``), any status."""
        return sum(1 for r in self.requests if r.method == "POST" and _ACCESS_TOKENS.fullmatch(r.route))

    def _app_of_jwt(self, authorization: str | None) -> tuple[int | None, tuple[int, dict[str, str], bytes] | None]:
        """The app id of a valid app JWT, or the 401 GitHub answers for it."""
        def refused(message: str):
            return None, (401, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode())

        token = (authorization or "").removeprefix("Bearer ").strip()
        if not authorization or not authorization.startswith("Bearer ") or not token:
            return refused("A JSON web token could not be decoded")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            app_id = int(str(unverified.get("iss", "")))
        except (jwt.PyJWTError, ValueError):
            return refused("A JSON web token could not be decoded")
        with self._lock:
            key = self._app_keys.get(app_id)
        if key is None:
            return refused("Integration not found")
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]})
        except jwt.ExpiredSignatureError:
            return refused("'Expiration time' claim ('exp') must be a numeric value representing the future time at "
                           "which the assertion expires")
        except jwt.ImmatureSignatureError:
            return refused("'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
                           "was issued")
        except jwt.PyJWTError:
            return refused("A JSON web token could not be decoded")
        if claims["exp"] - claims["iat"] > 600:
            return refused("'Expiration time' claim ('exp') is too far in the future")
        return app_id, None

    def _app_endpoint(self, method: str, path: str, headers) -> tuple[int, dict[str, str], bytes] | None:
        """The two endpoints an app's JWT opens; None for any other path."""
        org_match = _ORG_INSTALLATION.fullmatch(path) if method == "GET" else None
        token_match = _ACCESS_TOKENS.fullmatch(path) if method == "POST" else None
        if org_match is None and token_match is None:
            return None
        app_id, refusal = self._app_of_jwt(headers.get("Authorization"))
        if refusal is not None:
            return refusal
        not_found = (404, {"Content-Type": "application/json"}, b'{"message": "Not Found", "status": "404"}')
        with self._lock:
            if org_match is not None:
                installation = self.installations.get(org_match["org"].lower())
            else:
                wanted = int(token_match["id"])
                installation = next((i for i in self.installations.values() if i.id == wanted), None)
            if installation is None or installation.app_id != app_id:
                return not_found
            if org_match is not None:
                return 200, {"Content-Type": "application/json"}, json.dumps(installation.rest(self.base_url)).encode()
            issued = IssuedToken(
                token="ghs_" + secrets.token_hex(18), installation_id=installation.id,
                expires_at=(dt.datetime.now(dt.UTC) + self.installation_token_lifetime).replace(microsecond=0),
            )
            self._installation_tokens[issued.token] = issued
        body = {
            "token": issued.token, "expires_at": issued.expires_at.isoformat().replace("+00:00", "Z"),
            "permissions": installation.permissions, "repository_selection": "all",
        }
        return 201, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _installation_token_answer(self, authorization: str | None, route: str):
        """For a request with an installation token this stub issued: the refusal, "ok", or None (not one)."""
        token = (authorization or "").removeprefix("Bearer ")
        with self._lock:
            issued = self._installation_tokens.get(token) if token else None
            if issued is None:
                return None
            usable = not issued.revoked and issued.expires_at > dt.datetime.now(dt.UTC)
        if not usable:
            return 401, {"Content-Type": "application/json"}, b'{"message": "Bad credentials"}'
        if route == "/user":
            return 403, {"Content-Type": "application/json"}, b'{"message": "Resource not accessible by integration"}'
        return "ok"

    # --- counters -----------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def count(self, status: int) -> int:
        return sum(1 for r in self.requests if r.status == status)

    @property
    def bytes_served(self) -> int:
        """Body bytes sent, over every logged request."""
        return sum(r.bytes for r in self.requests)

    def downloads(self, status: int | None = None) -> list[LoggedRequest]:
        """The logged report downloads (NDJSON and 28-day files), optionally of one status."""
        return [r for r in self.requests if r.path.startswith("/downloads/") and status in (None, r.status)]

    def count_operation(self, operation: str) -> int:
        """How many GraphQL requests of ``operation`` were answered."""
        return sum(1 for r in self.requests if r.operation == operation)

    def request_counts(self) -> Counter:
        """Requests per GraphQL operation name, or per path (without query) for REST."""
        return Counter(r.operation or r.route for r in self.requests)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- server -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the stub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> GitHubStub:
        """Serve on loopback, on ``port`` (0: any free one; ``manage.py github_standin`` picks a fixed one)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="github-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GitHubStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- request handling (called from the server's threads) ------------------------------

    def _answer(self, method: str, raw_path: str, headers, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request (the handler logs it, with ``_operation_of(body)``)."""
        url = urlparse(raw_path)
        operation = _operation_of(body) if url.path == GRAPHQL_PATH else ""
        with self._lock:
            failure = next((f for f in self._failures if f.matches(url.path, operation)), None)
            if failure is not None:
                self._failures.remove(failure)
                return failure.status, failure.headers, failure.body
        authorization = headers.get("Authorization")
        app_answer = self._app_endpoint(method, url.path, headers)
        if app_answer is not None:
            return app_answer
        installation = self._installation_token_answer(authorization, url.path)
        if installation is not None and installation != "ok":
            return installation
        if self.token and authorization != f"Bearer {self.token}" and installation is None:
            return 401, {}, b'{"message": "Bad credentials"}'
        if url.path in ("/user", GRAPHQL_PATH) and not authorization:
            return 401, {}, b'{"message": "Requires authentication"}'
        if method == "POST":
            if url.path == GRAPHQL_PATH:
                return self._graphql(body)
            if url.path.startswith("/repos/"):
                return self._create_issue_comment(url.path, body)
            return 404, {}, b'{"message": "Not Found"}'
        if url.path == "/user":
            return self._user()
        if url.path.startswith("/orgs/") and url.path.count("/") == 2:
            return self._organization(url.path.removeprefix("/orgs/"))
        if url.path.startswith(f"/orgs/{self.org}/copilot/") and "copilot" in self.denied:
            return self._forbidden_rest("organization_copilot_metrics=read", "manage_billing:copilot, read:org")
        if url.path == REPORT_PATH.format(org=self.org):
            return self._report_links(parse_qs(url.query).get("day", [""])[0], headers)
        if url.path == ORG_REPORT_PATH.format(org=self.org):
            return self._org_report_links(headers)
        if url.path.startswith("/downloads/organization-28-day/"):
            return self._org_report(url.path.rsplit("/", 1)[-1].removesuffix(".json"), headers)
        if url.path.startswith("/downloads/"):
            return self._download(url.path.removeprefix("/downloads/").removesuffix(".ndjson"), headers)
        if url.path.startswith("/repos/"):
            return self._rest_repository(url.path, parse_qs(url.query))
        return 404, {}, b'{"message": "Not Found"}'

    # --- the organisation: data and changes -----------------------------------------------

    @classmethod
    def with_organization(
        cls, org: str = "acme", token: str | None = None, *, spec: OrgSpec | None = None, options=None, **sizes
    ) -> GitHubStub:
        """A stub (not started) serving ``generate_organization(org, spec)``; ``sizes`` are ``OrgSpec`` fields."""
        stub = cls(org=org, token=token, **(options or {}))
        stub.populate(spec, **sizes)
        return stub

    def populate(self, spec: OrgSpec | None = None, **sizes) -> StubOrganization:
        """Replace the organisation's data with ``generate_organization`` (``sizes`` override ``spec``)."""
        spec = dataclasses.replace(spec or OrgSpec(), **sizes)
        organization = generate_organization(self.org, spec)
        with self._lock:
            self.organization = organization
        return organization

    def repository(self, name: str) -> StubRepository:
        """A repository by name (``"api"`` or ``"acme/api"``)."""
        with self._lock:
            return self.organization.repository(name)

    def pull_request(self, repository: str, number: int) -> StubPullRequest:
        with self._lock:
            return self.organization.repository(repository).pull_requests[number]

    def update_pull_request(self, repository: str, number: int, *, at: dt.datetime | None = None, **changes):
        """Change a pull request (``title``, ``state`` OPEN/CLOSED/MERGED, ``additions``...); it is updated ``at``.

        ``state="MERGED"`` sets ``merged_at`` and ``closed_at``, ``"CLOSED"`` ``closed_at``, ``"OPEN"`` clears both.
        ``at`` defaults to the organisation's clock, one minute later on every change.
        """
        with self._lock:
            pr = self.organization.repository(repository).pull_requests[number]
            moment = self.organization.tick(at)
            state = changes.pop("state", None)
            for name, value in changes.items():
                if not hasattr(pr, name) or name in ("repository", "reviews", "commits"):
                    raise ValueError(f"a pull request has no field {name!r} to change")
                setattr(pr, name, value)
            if state is not None:
                pr.state = state
                pr.merged_at = moment if state == "MERGED" else None
                pr.closed_at = moment if state in ("MERGED", "CLOSED") else None
            pr.touch(moment)
            return pr

    def add_pull_request(
        self, repository: str, *, author: str | None = "", title: str = "Add a new thing", at: dt.datetime | None = None
    ) -> StubPullRequest:
        """A new open pull request with one commit; ``author`` a login (default: the first member), None: ghost."""
        with self._lock:
            organization = self.organization
            repo = organization.repository(repository)
            moment = organization.tick(at)
            actor = organization.actor(author) if author != "" else organization.members[0]
            pr = StubPullRequest(
                repository=repo, database_id=organization.next_id("pull_request"),
                number=max(repo.pull_requests, default=0) + 1, title=title, state="OPEN", author=actor,
                created_at=moment, updated_at=moment, head_ref_name=f"feature/{len(repo.pull_requests) + 1}",
            )
            pr.commits.append(_new_commit(organization, pr, moment, additions=10, deletions=2))
            pr.additions, pr.deletions = 10, 2
            repo.pull_requests[pr.number] = pr
            repo.changed()
            return pr

    def add_review(
        self, repository: str, number: int, *, author: str | None = "", state: str = "APPROVED",
        at: dt.datetime | None = None,
    ) -> StubReview:
        """A review submitted ``at`` (default: the clock) by ``author`` (default: a member, not the PR's author)."""
        with self._lock:
            organization = self.organization
            pr = organization.repository(repository).pull_requests[number]
            moment = organization.tick(at)
            if author == "":
                actor = next(m for m in organization.members if m is not pr.author)
            else:
                actor = organization.actor(author)
            review = StubReview(organization.next_id("review"), actor, state, moment, pr.head_oid)
            pr.reviews.append(review)
            pr.touch(moment)
            return review

    def add_commit(
        self, repository: str, number: int, *, additions: int = 5, deletions: int = 1, at: dt.datetime | None = None
    ) -> StubCommit:
        """A commit pushed to the pull request's branch (a ``synchronize``); its lines count in the PR's."""
        with self._lock:
            organization = self.organization
            pr = organization.repository(repository).pull_requests[number]
            moment = organization.tick(at)
            commit = _new_commit(organization, pr, moment, additions=additions, deletions=deletions)
            pr.commits.append(commit)
            pr.additions += additions
            pr.deletions += deletions
            pr.touch(moment)
            return commit

    def dismiss_review(self, repository: str, number: int, review_id: int, *, at: dt.datetime | None = None):
        """The review's state becomes DISMISSED; the pull request is updated."""
        with self._lock:
            pr = self.organization.repository(repository).pull_requests[number]
            review = next(r for r in pr.reviews if r.database_id == review_id)
            review.state = "DISMISSED"
            pr.touch(self.organization.tick(at))
            return review

    def add_member(self, login: str, name: str = "") -> Actor:
        with self._lock:
            member = Actor(login, _user_id(login), name)
            self.organization.members.append(member)
            return member

    def delete_repository(self, name: str) -> None:
        """The repository is gone: GraphQL answers NOT_FOUND for it from now on."""
        with self._lock:
            repo = self.organization.repository(name)
            del self.organization.repositories[repo.name]

    # --- REST: the token and the organisation ---------------------------------------------

    def _user(self) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if self.scopes is not None:
            headers["X-OAuth-Scopes"] = ", ".join(self.scopes)
        viewer = {"login": self.viewer, "id": _user_id(self.viewer), "type": "User", "name": self.viewer.title()}
        return 200, headers, json.dumps(viewer).encode()

    def _organization(self, login: str) -> tuple[int, dict[str, str], bytes]:
        if login.lower() != self.org.lower():
            return 404, {}, b'{"message": "Not Found", "status": "404"}'
        with self._lock:
            organization = self.organization
            public = sum(1 for r in organization.repositories.values() if not r.is_private)
        body = {
            "login": self.org, "id": organization.database_id, "node_id": _node_id("O", organization.database_id),
            "name": self.org.title(), "type": "Organization", "public_repos": public,
            "html_url": f"https://github.com/{self.org}",
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _forbidden_rest(self, permission: str, scopes: str) -> tuple[int, dict[str, str], bytes]:
        """GitHub's 403 for a token without the permission, with the header that names it."""
        kind = "personal access token" if self.scopes is None else "OAuth token"
        headers = {"X-Accepted-GitHub-Permissions": permission, "X-Accepted-OAuth-Scopes": scopes}
        return 403, headers, json.dumps({"message": f"Resource not accessible by {kind}", "status": "403"}).encode()

    # --- REST: pull requests, their reviews and commits (what a first, naive sync reads) --------

    def _rest_repository(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        """``/repos/{o}/{r}/pulls`` (``state``, ``sort``, ``direction``), ``.../pulls/{n}/reviews``, ``.../commits``.

        Paginated as GitHub paginates (``per_page`` 1..100, default 30; ``page`` from 1) with a ``Link`` header
        (``next``, ``last``, ``first``, ``prev``). The list's items are the single-PR shape (``additions`` and
        ``deletions`` included); each commit carries ``stats``, which GitHub gives only on ``GET /commits/{sha}``.
        """
        parts = path.strip("/").split("/")  # repos, owner, name, pulls[, number, reviews|commits]
        not_found = 404, {}, b'{"message": "Not Found", "status": "404"}'
        if len(parts) not in (4, 6) or parts[3] != "pulls" or parts[1].lower() != self.org.lower():
            return not_found
        if "pull_requests" in self.denied:
            return self._forbidden_rest("pull_requests=read", "repo")
        try:
            per_page = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
        except ValueError:
            return 422, {}, b'{"message": "per_page and page must be integers"}'
        per_page, page = min(max(per_page, 1), 100), max(page, 1)
        with self._lock:
            repo = self.organization.repositories.get(parts[2].lower())
            if repo is None:
                return not_found
            if len(parts) == 4:
                items = self._rest_pull_request_list(repo, query)
                render = _rest_pull_request
            else:
                pr = repo.pull_requests.get(int(parts[4])) if parts[4].isdigit() else None
                if pr is None or parts[5] not in ("reviews", "commits"):
                    return not_found
                items = list(pr.reviews if parts[5] == "reviews" else pr.commits)
                render = (lambda review, pr=pr: _rest_review(pr, review)) if parts[5] == "reviews" else _rest_commit
            chunk = [render(item) for item in items[(page - 1) * per_page:page * per_page]]
        headers = {"Content-Type": "application/json"}
        link = _link_header(f"{self.base_url}{path}", query, page, max(1, math.ceil(len(items) / per_page)))
        if link:
            headers["Link"] = link
        return 200, headers, json.dumps(chunk, separators=(",", ":")).encode()

    @staticmethod
    def _rest_pull_request_list(repo: StubRepository, query: dict[str, list[str]]) -> list[StubPullRequest]:
        state = query.get("state", ["open"])[0]
        sort = query.get("sort", ["created"])[0]
        direction = query.get("direction", ["desc" if sort == "created" else "asc"])[0]
        prs = [pr for pr in repo.pull_requests.values()
               if state == "all" or (pr.state == "OPEN") == (state == "open")]
        key = (lambda pr: (pr.updated_at, pr.number)) if sort == "updated" else (lambda pr: (pr.created_at, pr.number))
        return sorted(prs, key=key, reverse=direction == "desc")

    # --- REST: comments on pull requests (survey delivery) ---------------------------------------

    def comments(self, repository: str | None = None, number: int | None = None) -> list[StubComment]:
        """The comments created (``POST .../issues/{n}/comments``), oldest first; of one PR with both arguments."""
        with self._lock:
            comments = list(self.posted_comments)
        if repository is not None:
            full = repository if "/" in repository else f"{self.org}/{repository}"
            comments = [c for c in comments if c.repository.lower() == full.lower()]
        if number is not None:
            comments = [c for c in comments if c.number == number]
        return comments

    def _create_issue_comment(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """``POST /repos/{o}/{r}/issues/{n}/comments`` with ``{"body": ...}``: 201 and the comment, as GitHub answers
        (a pull request is an issue); 404 for an unknown repository or PR, 422 without a body."""
        parts = path.strip("/").split("/")  # repos, owner, name, issues, number, comments
        not_found = 404, {}, b'{"message": "Not Found", "status": "404"}'
        if len(parts) != 6 or parts[3] != "issues" or parts[5] != "comments" or not parts[4].isdigit():
            return not_found
        if parts[1].lower() != self.org.lower():
            return not_found
        if "pull_requests" in self.denied:
            return self._forbidden_rest("pull_requests=write", "repo")
        try:
            sent = json.loads(body or b"null")
        except ValueError:
            return 400, {}, b'{"message": "Problems parsing JSON", "status": "400"}'
        if not isinstance(sent, dict) or not isinstance(sent.get("body"), str) or not sent["body"].strip():
            return 422, {}, b'{"message": "Validation Failed", "errors": [{"resource": "IssueComment", ' \
                            b'"code": "missing_field", "field": "body"}], "status": "422"}'
        with self._lock:
            repo = self.organization.repositories.get(parts[2].lower())
            pr = repo.pull_requests.get(int(parts[4])) if repo is not None else None
            if pr is None:
                return not_found
            comment = StubComment(
                database_id=self.organization.next_id("comment"), repository=repo.name_with_owner, number=pr.number,
                body=sent["body"], author=Actor(self.viewer, _user_id(self.viewer)),
                created_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
            )
            self.posted_comments.append(comment)
        return 201, {"Content-Type": "application/json"}, json.dumps(comment.rest()).encode()

    # --- GraphQL ----------------------------------------------------------------------------

    def _graphql(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            request = json.loads(body)
            query, variables = request["query"], request.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError("query must be a string, variables an object")
        except (ValueError, KeyError, TypeError):
            return 400, {}, b'{"message": "Problems parsing JSON"}'
        operation = _operation_of(body)
        handler = _OPERATIONS.get(operation)
        with self._lock:
            if handler is None:
                data, errors, cost = None, [{"message": f"the stand-in answers no operation named {operation!r}"}], 1
            else:
                try:
                    data, errors, cost = handler(self, variables)
                except _QueryError as problem:
                    data, errors, cost = None, [problem.error], 1
            rate = self._rate
            if rate.remaining < cost:
                headers = rate.headers(remaining=0)
                message = {"type": "RATE_LIMITED", "message": "API rate limit already exceeded for user ID 1."}
                return 200, headers, json.dumps({"errors": [message]}).encode()
            rate.remaining -= cost
            if data is not None:
                data["rateLimit"] = {
                    "cost": cost, "limit": rate.limit, "remaining": rate.remaining, "used": rate.limit - rate.remaining,
                    "resetAt": _iso(rate.reset_at), "nodeCount": cost * 100,
                }
                data = _selected(data, set(_WORD.findall(query)))
            headers = rate.headers(remaining=rate.remaining)
        answer = {"data": data}
        if errors:
            answer["errors"] = errors
        return 200, headers, json.dumps(answer, separators=(",", ":")).encode()

    def _org_or_error(self, variables: dict, name: str = "org") -> StubOrganization:
        login = _variable(variables, name, str)
        if login.lower() != self.org.lower():
            message = f"Could not resolve to an Organization with the login of '{login}'."
            raise _QueryError(_not_found(["organization"], message))
        return self.organization

    def _repository_or_error(self, variables: dict) -> StubRepository:
        owner, name = _variable(variables, "owner", str), _variable(variables, "name", str)
        repo = self.organization.repositories.get(name.lower()) if owner.lower() == self.org.lower() else None
        if repo is None:
            message = f"Could not resolve to a Repository with the name '{owner}/{name}'."
            raise _QueryError(_not_found(["repository"], message))
        return repo

    def _denied_error(self, permission: str, path: list[str]) -> dict:
        """FORBIDDEN (fine-grained token) or INSUFFICIENT_SCOPES (classic token) for ``path``."""
        if self.scopes is None:
            return {"type": "FORBIDDEN", "path": path, "message": "Resource not accessible by personal access token"}
        needed = {"members": "read:org", "pull_requests": "repo"}[permission]
        return {
            "type": "INSUFFICIENT_SCOPES", "path": path,
            "message": f"Your token has not been granted the required scopes to execute this query. The '{path[-1]}'"
                       f" field requires one of the following scopes: ['{needed}'], but your token has only been"
                       f" granted the: {sorted(self.scopes)} scopes.",
        }

    def _op_members(self, variables: dict):
        organization = self._org_or_error(variables)
        first = _first(variables, "first", "membersWithRole")
        if "members" in self.denied:
            error = self._denied_error("members", ["organization", "membersWithRole"])
            return {"organization": {"membersWithRole": None}}, [error], 1
        members = _connection(organization.members, first, variables.get("after"), Actor.graphql)
        return {"organization": {"membersWithRole": members}}, [], 1

    def _op_repositories(self, variables: dict):
        organization = self._org_or_error(variables)
        first = _first(variables, "first", "repositories")
        repos = sorted(organization.repositories.values(), key=lambda r: r.name)
        page = _connection(repos, first, variables.get("after"), StubRepository.graphql)
        return {"organization": {"repositories": page}}, [], 1

    def _op_search_repositories(self, variables: dict):
        """``search(query: "org:acme in:name term", type: REPOSITORY)``: names containing every term, by name."""
        terms = _variable(variables, "query", str).split()
        first = _first(variables, "first", "search")
        owners = {t.removeprefix("org:").lower() for t in terms if t.startswith("org:")}
        words = [t.lower() for t in terms if ":" not in t]
        found = []
        if owners == {self.org.lower()}:
            found = sorted(
                (r for r in self.organization.repositories.values() if all(w in r.name.lower() for w in words)),
                key=lambda r: r.name,
            )
        page = _connection(found, first, variables.get("after"), StubRepository.graphql)
        return {"search": {"repositoryCount": page.pop("totalCount"), **page}}, [], 1

    def _op_pull_requests(self, variables: dict):
        repo = self._repository_or_error(variables)
        first = _first(variables, "first", "pullRequests")
        reviews, commits = _first(variables, "reviews", "reviews"), _first(variables, "commits", "commits")
        cost = max(1, round((1 + 2 * first) / 100))  # GitHub: the requests the connections need, over 100
        if "pull_requests" in self.denied:
            error = self._denied_error("pull_requests", ["repository", "pullRequests"])
            return {"repository": {"pullRequests": None}}, [error], cost
        ordered, keys = repo.by_update()
        page = _connection(
            ordered, first, variables.get("after"), lambda pr: pr.graphql(reviews, commits), keys=keys
        )
        return {"repository": {"pullRequests": page}}, [], cost

    def _op_pull_request_part(self, variables: dict, part: str):
        repo = self._repository_or_error(variables)
        number = _variable(variables, "number", int)
        first = _first(variables, "first", part)
        if "pull_requests" in self.denied:
            error = self._denied_error("pull_requests", ["repository", "pullRequest"])
            return {"repository": {"pullRequest": None}}, [error], 1
        pr = repo.pull_requests.get(number)
        if pr is None:
            message = f"Could not resolve to a PullRequest with the number of {number}."
            return {"repository": {"pullRequest": None}}, [_not_found(["repository", "pullRequest"], message)], 1
        nodes = pr.reviews if part == "reviews" else pr.commits
        render = StubReview.graphql if part == "reviews" else StubCommit.graphql
        return {"repository": {"pullRequest": {part: _connection(nodes, first, variables.get("after"), render)}}}, [], 1

    def _signed(self, path: str) -> str:
        """A download URL; with ``rotate_signatures`` a new signature on every links answer."""
        url = f"{self.base_url}{path}"
        return f"{url}?sig={next(self._signatures)}" if self.rotate_signatures else url

    def _report_links(self, day_text: str, headers) -> tuple[int, dict[str, str], bytes]:
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            return 422, {}, b'{"message": "day must be YYYY-MM-DD"}'
        with self._lock:
            version = self._modified.get(day)
        if version is None:
            return 404, {}, b'{"message": "No report for this day"}'
        links = {"download_links": [self._signed(f"/downloads/{day.isoformat()}.ndjson")], "report_day": day_text}
        payload = json.dumps(links).encode()
        return _conditional(payload, version, headers, "application/json")

    def _download(self, day_text: str, headers) -> tuple[int, dict[str, str], bytes]:
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            return 404, {}, b""
        with self._lock:
            body, version = self._days.get(day), self._modified.get(day)
        if body is None:
            return 404, {}, b""
        return _conditional(body, version, headers, "application/x-ndjson")

    def _org_report_links(self, headers) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            end = max(self._days, default=None)
            version = max(self._modified.values(), default=0)
        if end is None:
            return 404, {}, b'{"message": "No report available"}'
        start = end - dt.timedelta(days=ORG_REPORT_DAYS - 1)
        links = {
            "download_links": [self._signed(f"/downloads/organization-28-day/{end.isoformat()}.json")],
            "report_start_day": start.isoformat(),
            "report_end_day": end.isoformat(),
        }
        payload = json.dumps(links).encode()
        return _conditional(payload, version, headers, "application/json")

    def _org_report(self, end_text: str, headers) -> tuple[int, dict[str, str], bytes]:
        try:
            end = dt.date.fromisoformat(end_text)
        except ValueError:
            return 404, {}, b""
        start = end - dt.timedelta(days=ORG_REPORT_DAYS - 1)
        with self._lock:
            bodies = {day: body for day, body in self._days.items() if start <= day <= end}
            version = max((self._modified[day] for day in bodies), default=0)
        if not bodies:
            return 404, {}, b""
        report = org_report(self.org, start, end, {day: _records(body) for day, body in bodies.items()})
        return _conditional(json.dumps(report, sort_keys=True).encode(), version, headers, "application/json")


def _records(body: bytes) -> list[dict]:
    records = []
    for line in body.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _http_date(version: int) -> str:
    return email.utils.format_datetime(_LAST_MODIFIED_EPOCH + dt.timedelta(seconds=version), usegmt=True)


def _not_modified_since(headers, version: int) -> bool:
    since = headers.get("If-Modified-Since")
    if not since:
        return False
    try:
        moment = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    return moment is not None and _LAST_MODIFIED_EPOCH + dt.timedelta(seconds=version) <= moment


def _conditional(body: bytes, version: int, headers, content_type: str) -> tuple[int, dict[str, str], bytes]:
    """200 with validators, or 304: ``If-None-Match`` decides when sent, else ``If-Modified-Since``."""
    etag, modified = _etag(body), _http_date(version)
    validators = {"ETag": etag, "Last-Modified": modified}
    match = headers.get("If-None-Match")
    if match is not None:
        if match == etag:
            return 304, validators, b""
    elif _not_modified_since(headers, version):
        return 304, validators, b""
    return 200, {**validators, "Content-Type": content_type}, body


# --- fake data ------------------------------------------------------------------------------

_IDES = (
    ("vscode", "1.98.2", "copilot-chat", "0.26.7"),
    ("jetbrains", "2025.1.1", "copilot-intellij", "1.5.45"),
    ("visualstudio", "17.13.6", "copilot-vs", "17.13.415"),
    ("neovim", "0.11.1", "copilot.vim", "1.48.0"),
)
_IDE_WEIGHTS = (0.62, 0.24, 0.09, 0.05)
_LANGUAGES = ("python", "typescript", "go", "java", "ruby", "rust", "sql", "markdown")
_CHAT_FEATURES = ("chat_panel_ask_mode", "chat_panel_edit_mode", "chat_panel_agent_mode", "chat_inline")
_MODELS = ("gpt-4.1", "claude-sonnet-4", "gpt-5-mini")
_COUNT_FIELDS = (
    "code_generation_activity_count",
    "code_acceptance_activity_count",
    "loc_suggested_to_add_sum",
    "loc_suggested_to_delete_sum",
    "loc_added_sum",
    "loc_deleted_sum",
    "user_initiated_interaction_count",
)


def _user_id(login: str) -> int:
    return 10_000_000 + int(hashlib.sha256(login.lower().encode()).hexdigest()[:8], 16) % 90_000_000


def _counts(**values: int) -> dict[str, int]:
    return {name: int(values.get(name, 0)) for name in _COUNT_FIELDS}


def _split(total: int, shares: list[float]) -> list[int]:
    """``total`` in parts proportional to ``shares`` (the last takes the rounding)."""
    parts = [int(total * share) for share in shares[:-1]]
    return [*parts, total - sum(parts)]


def fake_user_day(login: str, day: dt.date, seed: int = 0) -> dict:
    """One user's Copilot record for one day, as the users-1-day report has it; deterministic.

    A user has a lasting propensity, acceptance rate, main IDE and languages (from the login and
    the seed); the day adds noise, and weekends are quiet. Top-level counts are the sums of the
    per-feature counts, which are also split by IDE and by language.
    """
    person = random.Random(f"{seed}:{login.lower()}")
    propensity = person.betavariate(2.0, 2.5)
    acceptance = person.betavariate(6.0, 12.0)
    main_ide = person.choices(range(len(_IDES)), weights=_IDE_WEIGHTS)[0]
    languages = person.sample(_LANGUAGES, 2)
    model = person.choice(_MODELS)
    rng = random.Random(f"{seed}:{login.lower()}:{day.isoformat()}")
    quiet = 0.15 if day.weekday() >= 5 else 1.0
    intensity = propensity * quiet * rng.uniform(0.4, 1.6)

    shown = int(rng.gauss(20 + 220 * intensity, 6 + 30 * intensity)) if intensity > 0.02 else 0
    shown = max(0, shown)
    spread = math.sqrt(shown * acceptance * (1 - acceptance))
    accepted = min(shown, max(0, round(rng.gauss(shown * acceptance, spread))))  # ~ binomial(shown, acceptance)
    suggested_lines = shown + int(shown * rng.uniform(0.8, 2.4))
    completion = _counts(
        code_generation_activity_count=shown,
        code_acceptance_activity_count=accepted,
        loc_suggested_to_add_sum=suggested_lines,
        loc_added_sum=int(suggested_lines * acceptance * 0.9),
    )
    features = [{"feature": "code_completion", **completion}]
    prompts = int(6 * intensity * rng.uniform(0.0, 2.0))
    for feature, prompts_here in zip(_CHAT_FEATURES, _split(prompts, [0.45, 0.2, 0.25, 0.1]), strict=True):
        if prompts_here:
            generated = prompts_here + rng.randint(0, prompts_here)
            features.append({
                "feature": feature,
                **_counts(
                    code_generation_activity_count=generated,
                    code_acceptance_activity_count=rng.randint(0, generated),
                    loc_suggested_to_add_sum=generated * rng.randint(3, 12),
                    user_initiated_interaction_count=prompts_here,
                ),
            })
    agent_prompts = next((f["user_initiated_interaction_count"] for f in features
                          if f["feature"] == "chat_panel_agent_mode"), 0)
    if agent_prompts:
        features.append({
            "feature": "agent_edit",
            **_counts(
                loc_added_sum=agent_prompts * rng.randint(5, 40), loc_deleted_sum=agent_prompts * rng.randint(0, 15)
            ),
        })
    totals = _counts(**{name: sum(f[name] for f in features) for name in _COUNT_FIELDS})

    two_ides = totals["code_generation_activity_count"] > 0 and rng.random() < 0.15
    ide_indexes = [main_ide, (main_ide + 1) % len(_IDES)] if two_ides else [main_ide]
    ide_shares = [0.8, 0.2] if two_ides else [1.0]
    by_ide = [dict(zip(_COUNT_FIELDS, values, strict=True)) for values in zip(
        *(_split(totals[name], ide_shares) for name in _COUNT_FIELDS), strict=True)]
    totals_by_ide = []
    for index, counts in zip(ide_indexes, by_ide, strict=True):
        ide, version, plugin, plugin_version = _IDES[index]
        sampled = f"{day.isoformat()}T{rng.randint(7, 19):02d}:{rng.randint(0, 59):02d}:00.000Z"
        totals_by_ide.append({
            "ide": ide,
            "last_known_ide_version": {"ide_version": version, "sampled_at": sampled},
            "last_known_plugin_version": {"plugin": plugin, "plugin_version": plugin_version, "sampled_at": sampled},
            **counts,
        })

    by_language_feature = []  # completions over the user's two main languages, the rest in the first
    for feature in features:
        if feature["code_generation_activity_count"] == 0 and feature["loc_added_sum"] == 0:
            continue
        shares = [0.7, 0.3] if feature["feature"] == "code_completion" else [1.0]
        splits = {name: _split(feature[name], shares) for name in _COUNT_FIELDS[:-1]}  # prompts are not split
        for i in range(len(shares)):
            by_language_feature.append({"feature": feature["feature"], "language": languages[i],
                                        **{name: parts[i] for name, parts in splits.items()}})
    chat = [f for f in features if f["feature"] in _CHAT_FEATURES]
    by_model_feature = [{"model": model, **f} for f in chat]
    by_language_model = []
    if chat:
        chat_totals = {name: sum(f[name] for f in chat) for name in _COUNT_FIELDS}
        by_language_model = [{"language": languages[0], "model": model, **chat_totals}]
    return {
        "day": day.isoformat(),
        "user_id": _user_id(login),
        "user_login": login,
        **totals,
        "used_agent": bool(agent_prompts),
        "used_chat": bool(chat),
        "used_cli": False,
        "totals_by_ide": totals_by_ide,
        "totals_by_feature": features,
        "totals_by_language_feature": by_language_feature,
        "totals_by_language_model": by_language_model,
        "totals_by_model_feature": by_model_feature,
    }


def _summed(rows: Iterable[dict], keys: tuple[str, ...]) -> list[dict]:
    """Rows grouped by ``keys`` with their counts summed; groups in first-seen order."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        group = tuple(row[key] for key in keys)
        total = groups.setdefault(group, {**dict(zip(keys, group, strict=True)), **_counts()})
        for name in _COUNT_FIELDS:
            total[name] += row.get(name, 0)
    return list(groups.values())


def org_report(org: str, start: dt.date, end: dt.date, days: dict[dt.date, list[dict]]) -> dict:
    """The organisation's 28-day report from its users' records: ``day_totals``, nested as GitHub nests them."""
    organization_id = str(_user_id(f"org:{org}"))
    active_by_day = {day: {r.get("user_login") for r in records} for day, records in days.items()}
    chat_by_day = {day: {r.get("user_login") for r in records if r.get("used_chat")} for day, records in days.items()}
    agent_by_day = {day: {r.get("user_login") for r in records if r.get("used_agent")} for day, records in days.items()}

    def trailing(by_day: dict, day: dt.date, length: int) -> int:
        users: set = set()
        for back in range(length):
            users |= by_day.get(day - dt.timedelta(days=back), set())
        return len(users)

    day_totals = []
    for day in sorted(days):
        records = days[day]
        day_totals.append({
            "day": day.isoformat(),
            "organization_id": organization_id,
            "daily_active_users": len(active_by_day[day]),
            "weekly_active_users": trailing(active_by_day, day, 7),
            "monthly_active_users": trailing(active_by_day, day, ORG_REPORT_DAYS),
            "monthly_active_chat_users": trailing(chat_by_day, day, ORG_REPORT_DAYS),
            "monthly_active_agent_users": trailing(agent_by_day, day, ORG_REPORT_DAYS),
            **_counts(**{name: sum(r.get(name, 0) for r in records) for name in _COUNT_FIELDS}),
            "totals_by_ide": _summed((i for r in records for i in r.get("totals_by_ide", [])), ("ide",)),
            "totals_by_feature": _summed((f for r in records for f in r.get("totals_by_feature", [])), ("feature",)),
            "totals_by_language_feature": _summed(
                (x for r in records for x in r.get("totals_by_language_feature", [])), ("language", "feature")
            ),
            "totals_by_language_model": _summed(
                (x for r in records for x in r.get("totals_by_language_model", [])), ("language", "model")
            ),
            "totals_by_model_feature": _summed(
                (x for r in records for x in r.get("totals_by_model_feature", [])), ("model", "feature")
            ),
        })
    return {
        "organization_id": organization_id,
        "report_start_day": start.isoformat(),
        "report_end_day": end.isoformat(),
        "day_totals": day_totals,
    }


# --- GitHub Apps -------------------------------------------------------------------------------

_ORG_INSTALLATION = re.compile(r"/orgs/(?P<org>[^/]+)/installation")
_ACCESS_TOKENS = re.compile(r"/app/installations/(?P<id>[0-9]{1,19})/access_tokens")


@dataclass
class StubInstallation:
    id: int
    app_id: int
    account: str
    permissions: dict[str, str]

    def rest(self, base_url: str) -> dict:
        return {
            "id": self.id, "app_id": self.app_id, "app_slug": f"app-{self.app_id}", "target_type": "Organization",
            "account": {"login": self.account, "id": _user_id(f"org:{self.account}"), "type": "Organization"},
            "permissions": self.permissions, "repository_selection": "all", "events": ["pull_request"],
            "access_tokens_url": f"{base_url}/app/installations/{self.id}/access_tokens",
        }


@dataclass
class IssuedToken:
    token: str = field(repr=False)
    installation_id: int
    expires_at: dt.datetime
    revoked: bool = False


def new_app_private_key(bits: int = 2048) -> str:
    """A new RSA private key in PEM (PKCS#1, as GitHub's "Generate a private key" downloads it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def _public_key(key) -> rsa.RSAPublicKey:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key
    data = key.encode() if isinstance(key, str) else bytes(key)
    if b"PRIVATE KEY" in data:
        return _public_key(serialization.load_pem_private_key(data, password=None))
    loaded = serialization.load_pem_public_key(data)
    if not isinstance(loaded, rsa.RSAPublicKey):
        raise ValueError("a GitHub App's key is an RSA key")
    return loaded


# --- the organisation's data ----------------------------------------------------------------

GRAPHQL_PATH = "/graphql"
PERMISSIONS = ("members", "pull_requests", "copilot")  # what deny() can take away
HISTORY_END = dt.datetime(2026, 3, 31, tzinfo=dt.UTC)  # the default generated history ends here
BOT_ACCOUNTS = (("dependabot[bot]", 49699333), ("renovate[bot]", 29139614), ("github-actions[bot]", 41898282))
REVIEW_BOT = ("copilot-pull-request-reviewer[bot]", 175728472)
GHOST = ("ghost", 10137)  # the account GitHub's REST API shows for a deleted user
_ID_BASES = {"pull_request": 1_800_000_000, "review": 2_600_000_000, "repository": 700_000_000,
             "comment": 3_100_000_000}


@dataclass(eq=False)
class Actor:
    """A user or a bot. Bots keep GitHub's REST login (``dependabot[bot]``); GraphQL shows it without ``[bot]``."""

    login: str
    database_id: int
    name: str = ""
    is_bot: bool = False

    @property
    def avatar_url(self) -> str:
        kind = "in" if self.is_bot else "u"
        return f"https://avatars.githubusercontent.com/{kind}/{self.database_id}?v=4"

    def graphql(self) -> dict:
        if self.is_bot:
            return {"__typename": "Bot", "login": self.login.removesuffix("[bot]"), "avatarUrl": self.avatar_url,
                    "databaseId": self.database_id}
        return {"__typename": "User", "login": self.login, "avatarUrl": self.avatar_url,
                "databaseId": self.database_id, "name": self.name or None}

    def rest(self) -> dict:
        return {"login": self.login, "id": self.database_id, "node_id": _node_id("U", self.database_id),
                "avatar_url": self.avatar_url, "type": "Bot" if self.is_bot else "User", "site_admin": False}


def _actor_graphql(actor: Actor | None) -> dict | None:
    return None if actor is None else actor.graphql()


def _actor_rest(actor: Actor | None) -> dict:
    return (actor or Actor(*GHOST)).rest()


@dataclass(eq=False)
class StubComment:
    """A comment created on a pull request (``POST /repos/{o}/{r}/issues/{n}/comments``)."""

    database_id: int
    repository: str  # owner/name
    number: int
    body: str
    author: Actor
    created_at: dt.datetime

    def rest(self) -> dict:
        api = f"https://api.github.com/repos/{self.repository}/issues"
        return {
            "id": self.database_id, "node_id": _node_id("IC_", self.database_id),
            "url": f"{api}/comments/{self.database_id}",
            "html_url": f"https://github.com/{self.repository}/pull/{self.number}#issuecomment-{self.database_id}",
            "issue_url": f"{api}/{self.number}", "body": self.body, "user": self.author.rest(),
            "created_at": _iso(self.created_at), "updated_at": _iso(self.created_at), "author_association": "MEMBER",
        }


@dataclass(eq=False)
class StubReview:
    database_id: int
    author: Actor | None  # None: a deleted account
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    submitted_at: dt.datetime
    commit_oid: str = ""

    def graphql(self) -> dict:
        return {"id": _node_id("PRR_", self.database_id), "databaseId": self.database_id, "state": self.state,
                "submittedAt": _iso(self.submitted_at), "author": _actor_graphql(self.author)}


@dataclass(eq=False)
class StubCommit:
    oid: str
    author: Actor | None  # the GitHub user it is attributed to; bots and deleted accounts: none
    committed_at: dt.datetime
    additions: int
    deletions: int

    def graphql(self) -> dict:
        user = self.author
        linked = None if user is None or user.is_bot else {"login": user.login, "databaseId": user.database_id}
        name = user.login if user else "Unknown"
        return {"commit": {
            "oid": self.oid, "committedDate": _iso(self.committed_at), "additions": self.additions,
            "deletions": self.deletions,
            "author": {"name": name, "email": f"{name}@users.noreply.github.com", "date": _iso(self.committed_at),
                       "user": linked},
        }}


@dataclass(eq=False)
class StubPullRequest:
    repository: StubRepository = field(repr=False)
    database_id: int
    number: int
    title: str
    state: str  # OPEN, CLOSED, MERGED
    author: Actor | None
    created_at: dt.datetime
    updated_at: dt.datetime
    merged_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    additions: int = 0
    deletions: int = 0
    head_ref_name: str = ""
    reviews: list[StubReview] = field(default_factory=list, repr=False)
    commits: list[StubCommit] = field(default_factory=list, repr=False)

    @property
    def node_id(self) -> str:
        return _node_id("PR_", self.database_id)

    @property
    def head_oid(self) -> str:
        return self.commits[-1].oid if self.commits else ""

    def touch(self, moment: dt.datetime) -> None:
        self.updated_at = max(self.updated_at, moment)
        self.repository.changed()

    def graphql(self, reviews: int, commits: int) -> dict:
        return {
            "id": self.node_id, "databaseId": self.database_id, "number": self.number, "title": self.title,
            "state": self.state, "createdAt": _iso(self.created_at), "updatedAt": _iso(self.updated_at),
            "mergedAt": _iso(self.merged_at), "closedAt": _iso(self.closed_at), "additions": self.additions,
            "deletions": self.deletions, "headRefName": self.head_ref_name, "baseRefName": "main",
            "url": f"https://github.com/{self.repository.name_with_owner}/pull/{self.number}",
            "author": _actor_graphql(self.author),
            "reviews": _connection(self.reviews, reviews, None, StubReview.graphql),
            "commits": _connection(self.commits, commits, None, StubCommit.graphql),
        }


@dataclass(eq=False)
class StubRepository:
    owner: str
    name: str
    database_id: int
    is_archived: bool = False
    is_private: bool = True
    pull_requests: dict[int, StubPullRequest] = field(default_factory=dict, repr=False)  # by number
    _order: tuple[list, list] | None = field(default=None, repr=False)

    @property
    def name_with_owner(self) -> str:
        return f"{self.owner}/{self.name}"

    def changed(self) -> None:
        self._order = None

    def by_update(self) -> tuple[list[StubPullRequest], list[tuple[int, int]]]:
        """Pull requests newest update first, and their sort keys (what a cursor holds)."""
        if self._order is None:
            prs = self.pull_requests.values()
            keyed = sorted(((-int(pr.updated_at.timestamp()), -pr.database_id), pr) for pr in prs)
            self._order = ([pr for _, pr in keyed], [key for key, _ in keyed])
        return self._order

    def graphql(self) -> dict:
        return {"id": _node_id("R_", self.database_id), "databaseId": self.database_id, "name": self.name,
                "nameWithOwner": self.name_with_owner, "isArchived": self.is_archived, "isPrivate": self.is_private,
                "url": f"https://github.com/{self.name_with_owner}"}

    def rest(self) -> dict:
        return {"id": self.database_id, "node_id": _node_id("R_", self.database_id), "name": self.name,
                "full_name": self.name_with_owner, "private": self.is_private, "archived": self.is_archived,
                "owner": {"login": self.owner, "type": "Organization"},
                "html_url": f"https://github.com/{self.name_with_owner}"}


@dataclass(eq=False)
class StubOrganization:
    login: str
    database_id: int
    members: list[Actor] = field(default_factory=list)
    outside_contributors: list[Actor] = field(default_factory=list)  # authors who are not members
    bots: list[Actor] = field(default_factory=list)
    repositories: dict[str, StubRepository] = field(default_factory=dict)  # by lower-cased name
    clock: dt.datetime = HISTORY_END  # changes without a time happen one minute after the last
    _ids: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def pull_request_count(self) -> int:
        return sum(len(r.pull_requests) for r in self.repositories.values())

    def repository(self, name: str) -> StubRepository:
        owner, _, short = name.rpartition("/")
        repo = self.repositories.get(short.lower()) if owner.lower() in ("", self.login.lower()) else None
        if repo is None:
            raise KeyError(f"{self.login} has no repository {name!r}")
        return repo

    def actor(self, login: str | None) -> Actor | None:
        """The member, outside contributor or bot with that login; an unknown login becomes an outside contributor."""
        if login is None:
            return None
        for actor in itertools.chain(self.members, self.outside_contributors, self.bots):
            if actor.login.lower() == login.lower():
                return actor
        actor = Actor(login, _user_id(login), is_bot=login.lower().endswith("[bot]"))
        (self.bots if actor.is_bot else self.outside_contributors).append(actor)
        return actor

    def tick(self, at: dt.datetime | None) -> dt.datetime:
        if at is None:
            self.clock += dt.timedelta(minutes=1)
            return self.clock
        self.clock = max(self.clock, at)
        return at

    def next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, _ID_BASES.get(kind, 1)) + 1
        return self._ids[kind]


@dataclass(frozen=True)
class OrgSpec:
    """What ``generate_organization`` builds. Every value comes from ``seed``; no clock is read."""

    members: int = 20
    repositories: int = 3
    prs_per_repository: int = 20
    reviews_per_pr: int = 2
    commits_per_pr: int = 3
    outside_contributors: int = 3  # authors of some pull requests who are not members
    bots: int = 2  # of BOT_ACCOUNTS, authors of some pull requests
    member_logins: tuple[str, ...] | None = None  # exactly these members (say a demo team's), instead of `members`
    seed: int = 0
    end: dt.datetime = HISTORY_END  # nothing happens after it
    days: int = 90  # how far back pull requests were created

    def __post_init__(self) -> None:
        for name in ("members", "repositories", "prs_per_repository", "reviews_per_pr", "commits_per_pr",
                     "outside_contributors", "bots", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
        if self.days < 1 or self.bots > len(BOT_ACCOUNTS):
            raise ValueError(f"days must be at least 1 and bots at most {len(BOT_ACCOUNTS)}")
        if self.end.utcoffset() is None:
            raise ValueError("end must be timezone-aware")
        if self.member_logins is not None:
            object.__setattr__(self, "member_logins", tuple(self.member_logins))


def generate_organization(login: str, spec: OrgSpec | None = None) -> StubOrganization:
    """Deterministic organisation data: the same ``login`` and ``spec`` always give the same data.

    Names, repository names and titles come from the demo data's vocabularies (``datagen``). Pull requests
    are numbered by creation; 70% merged, 10% closed, the rest open (or still open at ``end``). The first
    three of the first repository are by a bot, an outside contributor and a deleted account (when
    there are any), so that every kind is there at any size; after that about 82% are by members.
    """
    from apps.perflab.datagen import FIRST_NAMES, LAST_NAMES, REPO_NAMES, TITLES

    spec = spec or OrgSpec()
    rng = random.Random(f"github-stub:{spec.seed}:{login.lower()}")
    organization = StubOrganization(login, _user_id(f"org:{login}"), clock=spec.end)
    logins: set[str] = set()
    ids: set[int] = set()
    if spec.member_logins is not None:
        organization.members = [_person(name, "", logins, ids) for name in spec.member_logins]
    else:
        organization.members = _people(rng, spec.members, FIRST_NAMES, LAST_NAMES, logins, ids)
    organization.outside_contributors = _people(rng, spec.outside_contributors, FIRST_NAMES, LAST_NAMES, logins, ids)
    organization.bots = [Actor(name, number, is_bot=True) for name, number in BOT_ACCOUNTS[:spec.bots]]
    for index in range(spec.repositories):
        base = REPO_NAMES[index % len(REPO_NAMES)]
        name = base if index < len(REPO_NAMES) else f"{base}-{index // len(REPO_NAMES) + 1}"
        repo = StubRepository(login, name, organization.next_id("repository"), is_private=rng.random() < 0.7)
        organization.repositories[name.lower()] = repo
        _draw_pull_requests(rng, organization, repo, spec, TITLES, first_repository=index == 0)
    return organization


def _person(login: str, name: str, logins: set[str], ids: set[int]) -> Actor:
    number = _user_id(login)
    while number in ids:  # a hash collision: the next free id
        number += 1
    ids.add(number)
    logins.add(login.lower())
    return Actor(login, number, name)


def _people(rng: random.Random, count: int, first_names, last_names, logins: set[str], ids: set[int]) -> list[Actor]:
    people = []
    for _ in range(count):
        first, last = rng.choice(first_names), rng.choice(last_names)
        plain_first, plain_last = first.lower(), last.lower().replace(" ", "")
        style = rng.randrange(4)
        base = (f"{plain_first}-{plain_last}", f"{plain_first}{plain_last}", f"{plain_first[0]}{plain_last}",
                f"{plain_first}{plain_last[0]}")[style]
        login, suffix = base, 1
        while login in logins:
            suffix += 1
            login = f"{base}{suffix}"
        people.append(_person(login, f"{first} {last}", logins, ids))
    return people


def _draw_pull_requests(rng, organization: StubOrganization, repo: StubRepository, spec: OrgSpec, titles,
                        *, first_repository: bool) -> None:
    end = int(spec.end.timestamp())
    span = spec.days * 86_400
    created = sorted(end - rng.randrange(3_600, max(3_601, span)) for _ in range(spec.prs_per_repository))
    members, outside, bots = organization.members, organization.outside_contributors, organization.bots
    kinds = [(members, 0.82), (outside, 0.08), (bots, 0.06), ([None], 0.04)]
    kinds = [(pool, weight) for pool, weight in kinds if pool]
    forced = [pool for pool in (bots, outside, [None]) if pool] if first_repository else []
    review_bot = Actor(*REVIEW_BOT, is_bot=True)
    for number, opened in enumerate(created, start=1):
        if number <= len(forced):
            pool = forced[number - 1]
        else:
            pool = rng.choices([p for p, _ in kinds], weights=[w for _, w in kinds])[0]
        author = rng.choice(pool)
        outcome = rng.random()
        life = min(span, int(rng.lognormvariate(math.log(20 * 3_600), 1.0)))
        closing = opened + max(600, life)
        state = "MERGED" if outcome < 0.7 else "CLOSED" if outcome < 0.8 else "OPEN"
        if closing > end:
            state = "OPEN"
        horizon = closing if state != "OPEN" else end
        pr = StubPullRequest(
            repository=repo, database_id=organization.next_id("pull_request"), number=number,
            title=rng.choice(titles), state=state, author=author, created_at=_moment(opened),
            updated_at=_moment(opened),
            merged_at=_moment(closing) if state == "MERGED" else None,
            closed_at=_moment(closing) if state != "OPEN" else None,
            head_ref_name=f"{(author.login if author else 'ghost').removesuffix('[bot]')}/{number}",
        )
        committer = author if author is not None and not author.is_bot else None
        moments = sorted(rng.randint(opened - 7_200, horizon) for _ in range(spec.commits_per_pr))
        for index, moment in enumerate(moments):
            oid = hashlib.sha1(f"{spec.seed}:{repo.name_with_owner}:{number}:{index}".encode()).hexdigest()
            additions = int(rng.lognormvariate(3.5, 1.2)) + 1
            pr.commits.append(StubCommit(oid, committer, _moment(min(moment, horizon)), additions,
                                         int(additions * rng.uniform(0.0, 0.6))))
        pr.additions = sum(c.additions for c in pr.commits)
        pr.deletions = sum(c.deletions for c in pr.commits)
        reviewers = [m for m in itertools.chain(members, outside) if m is not author] or [review_bot]
        review_moments = sorted(rng.randint(opened + 60, max(opened + 60, horizon)) for _ in range(spec.reviews_per_pr))
        for index, moment in enumerate(review_moments):
            last = index == len(review_moments) - 1
            if last and state == "MERGED":
                verdict = "APPROVED"
            else:
                verdict = rng.choices(("COMMENTED", "CHANGES_REQUESTED", "APPROVED"), weights=(0.5, 0.3, 0.2))[0]
            reviewer = review_bot if rng.random() < 0.05 else rng.choice(reviewers)
            review_id = organization.next_id("review")
            pr.reviews.append(StubReview(review_id, reviewer, verdict, _moment(moment), pr.head_oid))
        events = [opened, horizon if state != "OPEN" else opened]
        events += [int(c.committed_at.timestamp()) for c in pr.commits]
        events += [int(r.submitted_at.timestamp()) for r in pr.reviews]
        pr.updated_at = _moment(min(end, max(events) + rng.randrange(0, 600)))
        repo.pull_requests[number] = pr


def _new_commit(organization: StubOrganization, pr: StubPullRequest, moment: dt.datetime, *, additions: int,
                deletions: int) -> StubCommit:
    oid = hashlib.sha1(f"added:{pr.repository.name_with_owner}:{pr.number}:{len(pr.commits)}:{moment}".encode())
    author = pr.author if pr.author is not None and not pr.author.is_bot else None
    return StubCommit(oid.hexdigest(), author, moment, additions, deletions)


def _moment(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(prefix: str, number: int) -> str:
    return prefix + base64.urlsafe_b64encode(number.to_bytes(8, "big")).decode().rstrip("=")


# --- GraphQL: the pieces the dispatcher is built from --------------------------------------------

_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+([A-Za-z_]\w*)", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z_]\w*")
_CURSOR_PREFIX = "cursor:v2:"


class _QueryError(Exception):
    """A GraphQL error that answers the whole query (no data)."""

    def __init__(self, error: dict):
        super().__init__(error.get("message", ""))
        self.error = error


@dataclass
class _RateBudget:
    limit: int = 5000
    remaining: int = 5000
    reset_at: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    )

    def headers(self, *, remaining: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Used": str(self.limit - remaining),
            "X-RateLimit-Reset": str(int(self.reset_at.timestamp())),
            "X-RateLimit-Resource": "graphql",
        }


def _operation_of(body: bytes) -> str:
    """The operation name of a GraphQL request body (``operationName``, else the query's), or ""."""
    try:
        request = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(request, dict):
        return ""
    name = request.get("operationName")
    if isinstance(name, str) and name:
        return name
    query = request.get("query")
    match = _OPERATION.search(query) if isinstance(query, str) else None
    return match.group(1) if match else ""


def _selected(value, words: set[str]):
    """Only the fields whose names the query mentions: what GitHub would not send is not sent."""
    if isinstance(value, dict):
        return {key: _selected(item, words) for key, item in value.items() if key in words}
    if isinstance(value, list):
        return [_selected(item, words) for item in value]
    return value


def _variable(variables: dict, name: str, kind: type):
    value = variables.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        type_name = {str: "String!", int: "Int!"}[kind]
        raise _QueryError({"message": f"Variable ${name} of type {type_name} was provided invalid value",
                           "extensions": {"value": value}})
    return value


def _first(variables: dict, name: str, connection: str) -> int:
    value = _variable(variables, name, int)
    if value > 100:
        raise _QueryError({"type": "EXCESSIVE_PAGINATION", "message": f"Requesting {value} records on the"
                           f" `{connection}` connection exceeds the `first` limit of 100 records."})
    if value < 1:
        raise _QueryError({"message": f"`first` on the `{connection}` connection must be between 1 and 100."})
    return value


def _encode_cursor(key: tuple[int, ...]) -> str:
    return base64.b64encode((_CURSOR_PREFIX + json.dumps(list(key))).encode()).decode()


def _decode_cursor(cursor) -> tuple[int, ...]:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        key = json.loads(text.removeprefix(_CURSOR_PREFIX)) if text.startswith(_CURSOR_PREFIX) else None
    except (TypeError, ValueError):
        key = None
    if not isinstance(key, list) or not key or not all(isinstance(k, int) and not isinstance(k, bool) for k in key):
        message = f"`{cursor}` does not appear to be a valid cursor."
        raise _QueryError({"type": "INVALID_CURSOR_ARGUMENTS", "message": message})
    return tuple(key)


def _connection(items: list, first: int, after, render: Callable, *, keys: list | None = None) -> dict:
    """A page of ``items``: ``first`` of them after the cursor ``after`` (keys: the sort keys, else positions)."""
    if after is None:
        start = 0
    else:
        key = _decode_cursor(after)
        start = bisect.bisect_right(keys, key) if keys is not None else key[0] + 1
    page = items[start:start + first]
    end = start + len(page)
    last_key = (keys[end - 1] if keys is not None else (end - 1,)) if page else None
    return {
        "totalCount": len(items),
        "nodes": [render(item) for item in page],
        "pageInfo": {"hasNextPage": end < len(items), "endCursor": _encode_cursor(last_key) if page else None},
    }


def _not_found(path: list[str], message: str) -> dict:
    return {"type": "NOT_FOUND", "path": path, "locations": [{"line": 2, "column": 3}], "message": message}


_OPERATIONS: dict[str, Callable] = {
    "Members": GitHubStub._op_members,
    "Repositories": GitHubStub._op_repositories,
    "SearchRepositories": GitHubStub._op_search_repositories,
    "PullRequests": GitHubStub._op_pull_requests,
    "PullRequestReviews": lambda stub, variables: stub._op_pull_request_part(variables, "reviews"),
    "PullRequestCommits": lambda stub, variables: stub._op_pull_request_part(variables, "commits"),
}


# --- webhooks ----------------------------------------------------------------------------------


def webhook_signature(secret: str | bytes, body: bytes) -> str:
    """``X-Hub-Signature-256``: ``"sha256=" + HMAC-SHA256(secret, body)`` in hex."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def webhook_request(
    event: str, payload: dict, *, secret: str | bytes, delivery: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery, as GitHub sends them (for a test client or ``send_webhook``)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/stand-in",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": webhook_signature(secret, body),
    }
    return body, headers


def send_webhook(
    url: str, event: str, payload: dict, *, secret: str | bytes, delivery: str | None = None, timeout: float = 10.0
) -> httpx.Response:
    """POST a signed delivery of ``event`` (``pull_request``, ``pull_request_review``) to ``url``; the response."""
    body, headers = webhook_request(event, payload, secret=secret, delivery=delivery)
    return httpx.post(url, content=body, headers=headers, timeout=timeout)


def pull_request_event(
    action: str, pr: StubPullRequest, *, changes: dict | None = None, before: str | None = None,
    sender: Actor | None = None,
) -> dict:
    """A ``pull_request`` payload (opened, edited, closed, reopened, synchronize) of the PR as it is now.

    ``closed`` is merged or not as the PR is (``merged``, ``merged_at``); ``edited`` takes ``changes`` such as
    ``{"title": {"from": "old"}}``; ``synchronize`` has ``before`` (default: the previous head) and ``after``.
    """
    payload = {"action": action, "number": pr.number, "pull_request": _rest_pull_request(pr),
               **_event_context(pr, sender)}
    if action == "edited":
        payload["changes"] = changes or {}
    if action == "synchronize":
        previous = pr.commits[-2].oid if len(pr.commits) > 1 else "0" * 40
        payload["before"], payload["after"] = before or previous, pr.head_oid
    return payload


def pull_request_review_event(
    action: str, pr: StubPullRequest, review: StubReview, *, changes: dict | None = None, sender: Actor | None = None,
) -> dict:
    """A ``pull_request_review`` payload (submitted, edited, dismissed); webhook states are lower-case."""
    state = "dismissed" if action == "dismissed" else review.state.lower()
    payload = {
        "action": action,
        "review": {
            "id": review.database_id, "node_id": _node_id("PRR_", review.database_id),
            "user": _actor_rest(review.author),
            "body": "", "commit_id": review.commit_oid, "submitted_at": _iso(review.submitted_at), "state": state,
            "html_url": f"https://github.com/{pr.repository.name_with_owner}/pull/{pr.number}"
                        f"#pullrequestreview-{review.database_id}",
            "pull_request_url": f"https://api.github.com/repos/{pr.repository.name_with_owner}/pulls/{pr.number}",
        },
        "pull_request": _rest_pull_request(pr),
        **_event_context(pr, sender or review.author),
    }
    if action == "edited":
        payload["changes"] = changes or {}
    return payload


def _event_context(pr: StubPullRequest, sender: Actor | None) -> dict:
    repo = pr.repository
    return {
        "repository": repo.rest(),
        "organization": {"login": repo.owner, "id": _user_id(f"org:{repo.owner}")},
        "sender": _actor_rest(sender or pr.author),
    }


def _rest_pull_request(pr: StubPullRequest) -> dict:
    repo = pr.repository
    return {
        "url": f"https://api.github.com/repos/{repo.name_with_owner}/pulls/{pr.number}",
        "id": pr.database_id, "node_id": pr.node_id, "number": pr.number,
        "html_url": f"https://github.com/{repo.name_with_owner}/pull/{pr.number}",
        "state": "open" if pr.state == "OPEN" else "closed", "locked": False, "draft": False, "title": pr.title,
        "user": _actor_rest(pr.author), "body": None,
        "created_at": _iso(pr.created_at), "updated_at": _iso(pr.updated_at),
        "closed_at": _iso(pr.closed_at), "merged_at": _iso(pr.merged_at), "merged": pr.state == "MERGED",
        "merge_commit_sha": pr.head_oid if pr.state == "MERGED" else None,
        "head": {"label": f"{repo.owner}:{pr.head_ref_name}", "ref": pr.head_ref_name, "sha": pr.head_oid,
                 "repo": repo.rest()},
        "base": {"label": f"{repo.owner}:main", "ref": "main", "repo": repo.rest()},
        "commits": len(pr.commits), "additions": pr.additions, "deletions": pr.deletions,
        "changed_files": max(1, len(pr.commits)), "comments": 0, "review_comments": 0,
    }


def _rest_review(pr: StubPullRequest, review: StubReview) -> dict:
    """A review as ``GET /repos/{o}/{r}/pulls/{n}/reviews`` lists it (states upper-case; a deleted user is ghost)."""
    repo = pr.repository
    return {
        "id": review.database_id, "node_id": _node_id("PRR_", review.database_id), "user": _actor_rest(review.author),
        "body": "", "state": review.state, "commit_id": review.commit_oid, "submitted_at": _iso(review.submitted_at),
        "author_association": "MEMBER",
        "html_url": f"https://github.com/{repo.name_with_owner}/pull/{pr.number}#pullrequestreview-{review.database_id}",
        "pull_request_url": f"https://api.github.com/repos/{repo.name_with_owner}/pulls/{pr.number}",
    }


def _rest_commit(commit: StubCommit) -> dict:
    """A commit as ``GET /repos/{o}/{r}/pulls/{n}/commits`` lists it; ``author`` is null when no user is linked."""
    user = commit.author
    name = user.login if user else "Unknown"
    signature = {"name": name, "email": f"{name}@users.noreply.github.com", "date": _iso(commit.committed_at)}
    return {
        "sha": commit.oid, "node_id": _node_id("C_", int(commit.oid[:15], 16)),
        "commit": {"author": signature, "committer": signature, "message": "A change"},
        "author": None if user is None or user.is_bot else user.rest(),
        "committer": None if user is None or user.is_bot else user.rest(),
        "stats": {"additions": commit.additions, "deletions": commit.deletions,
                  "total": commit.additions + commit.deletions},
    }


def _link_header(url: str, query: dict[str, list[str]], page: int, last: int) -> str:
    """GitHub's ``Link`` header for page ``page`` of ``last``: ``next`` and ``last``, ``first`` and ``prev``."""
    def at(number: int) -> str:
        params = {name: values[0] for name, values in query.items()}
        params["page"] = str(number)
        return "<" + url + "?" + "&".join(f"{name}={value}" for name, value in params.items()) + ">"
    links = []
    if page < last:
        links += [f'{at(page + 1)}; rel="next"', f'{at(last)}; rel="last"']
    if page > 1:
        links += [f'{at(1)}; rel="first"', f'{at(page - 1)}; rel="prev"']
    return ", ".join(links)


def _lowered(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _handler_for(stub: GitHubStub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def do_GET(self):  # noqa: N802 - the http.server hook name
            self._serve("GET", b"")

        def do_POST(self):  # noqa: N802 - the http.server hook name
            length = int(self.headers.get("Content-Length") or 0)
            self._serve("POST", self.rfile.read(length) if length else b"")

        def _serve(self, method: str, sent: bytes) -> None:
            status, headers, body = stub._answer(method, self.path, self.headers, sent)
            conditional = "If-None-Match" in self.headers or "If-Modified-Since" in self.headers
            operation = _operation_of(sent) if urlparse(self.path).path == GRAPHQL_PATH else ""
            with stub._lock:
                stub.requests.append(LoggedRequest(
                    method, self.path, status, conditional, len(body), _lowered(self.headers), operation, sent
                ))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - quiet: nbval compares stderr
            pass

    return Handler
