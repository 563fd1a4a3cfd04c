"""GitHub REST client: HTTP only, no ORM. Conditional requests, errors a task can act on.

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

Errors: ``RateLimited(wait_seconds)`` for 403/429 with ``Retry-After`` or an exhausted
``X-RateLimit-Remaining`` (or GitHub's secondary-limit message: wait a minute);
``GitHubUnavailable`` for 5xx, timeouts and connection errors; ``NotFound`` for 404; any other
4xx is a ``GitHubError`` with status and URL; unparseable JSON or NDJSON is ``MalformedResponse``
naming the URL (and the line). ``retryable`` says which ones a task should retry.
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

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
VALIDATOR_TIMEOUT = 35 * 86_400  # seconds: longer than the 28-day window a sync may re-check
SECONDARY_LIMIT_WAIT = 60  # GitHub: without a header, wait at least a minute
USER_AGENT = "tformance-copilot-sync"


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


class OrganizationNotFound(NotFound):
    """404 for the organisation: it does not exist, or this token cannot see it."""


class MissingPermission(GitHubError):
    """403 on a check: the token may not read ``permissions`` (say "members", "pull requests", "Copilot metrics")."""

    def __init__(self, permissions: list[str], *, status: int | None = 403, url: str = ""):
        super().__init__("the token may not read " + ", ".join(permissions), status=status, url=url)
        self.permissions = list(permissions)


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
    ):
        self._token = token
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

    def _send(self, url: httpx.URL, extra: dict[str, str]) -> httpx.Response:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
            **extra,
        }
        if self._token and _same_origin(url, httpx.URL(self.api_url)):
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._http.get(url, headers=headers)
        except httpx.TransportError as exc:
            raise GitHubUnavailable(f"GET {url} failed: {exc.__class__.__name__}: {exc}", url=str(url)) from exc
        except httpx.HTTPError as exc:
            raise GitHubError(f"GET {url} failed: {exc.__class__.__name__}: {exc}", url=str(url)) from exc
        self.requests += 1
        self.bytes += response.num_bytes_downloaded
        if response.status_code == 304:
            self.not_modified += 1
        return response

    # --- the cache ---------------------------------------------------------------------------

    def _keys(self, identity: str, cache_scope: str) -> tuple[str, str]:
        scope = hashlib.sha256(f"{self._token}\x00{cache_scope}".encode()).hexdigest()[:24]
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


def _raise_for_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    message = _message(response)
    detail = f"GET {url}: {status}" + (f" {message}" if message else "")
    if status in (403, 429):
        wait = _rate_limit_wait(response, message)
        if wait is not None:
            raise RateLimited(f"{detail} (rate limited: retry in {wait} s)", wait_seconds=wait, status=status, url=url)
    if status >= 500:
        raise GitHubUnavailable(detail, status=status, url=url)
    if status == 404:
        raise NotFound(detail, status=status, url=url)
    raise GitHubError(detail, status=status, url=url)
