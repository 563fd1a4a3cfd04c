"""A real HTTP server on loopback that stands in for GitHub's Copilot usage API.

It serves the organisation's per-user daily report the way GitHub does: the REST endpoint
``GET /orgs/{org}/copilot/metrics/reports/users-1-day?day=YYYY-MM-DD`` answers with
``{"download_links": [...], "report_day": ...}`` and each link serves NDJSON, one record per
user and day. Both answer ``ETag`` and honour ``If-None-Match`` with ``304 Not Modified``.
Tests and notebooks count its requests, and can make it fail (rate limits, 5xx, bad JSON).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    conditional: bool  # sent If-None-Match


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    body: bytes


class GitHubStub:
    """``with GitHubStub(org="acme") as github: github.base_url ...``"""

    def __init__(self, org: str = "acme", token: str | None = None):
        self.org = org
        self.token = token
        self._days: dict[dt.date, bytes] = {}
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self.requests: list[LoggedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- data ---------------------------------------------------------------------------

    def set_day(self, day: dt.date, records: list[dict]) -> None:
        """The NDJSON report for ``day`` (replacing any earlier one, so its ETag changes)."""
        body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
        with self._lock:
            self._days[day] = body

    def set_raw_day(self, day: dt.date, body: bytes) -> None:
        """A report body served as is: for malformed-data tests."""
        with self._lock:
            self._days[day] = body

    def fail_next(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"{}") -> None:
        """The next request answers ``status`` (queue several for several requests)."""
        with self._lock:
            self._failures.append(_Failure(status, headers or {}, body))

    # --- counters -----------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def count(self, status: int) -> int:
        return sum(1 for r in self.requests if r.status == status)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- server -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the stub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> GitHubStub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="github-stub", daemon=True)
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

    def _answer(self, method: str, raw_path: str, headers) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            if self._failures:
                failure = self._failures.pop(0)
                return failure.status, failure.headers, failure.body
        if self.token and headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {}, b'{"message": "Bad credentials"}'
        url = urlparse(raw_path)
        report_path = f"/orgs/{self.org}/copilot/metrics/reports/users-1-day"
        if url.path == report_path:
            return self._report_links(parse_qs(url.query).get("day", [""])[0], headers)
        if url.path.startswith("/downloads/"):
            return self._download(url.path.removeprefix("/downloads/").removesuffix(".ndjson"), headers)
        return 404, {}, b'{"message": "Not Found"}'

    def _report_links(self, day_text: str, headers) -> tuple[int, dict[str, str], bytes]:
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            return 422, {}, b'{"message": "day must be YYYY-MM-DD"}'
        with self._lock:
            body = self._days.get(day)
        if body is None:
            return 404, {}, b'{"message": "No report for this day"}'
        links = {"download_links": [f"{self.base_url}/downloads/{day.isoformat()}.ndjson"], "report_day": day_text}
        payload = json.dumps(links).encode()
        return _conditional(payload, _etag(payload), headers, "application/json")

    def _download(self, day_text: str, headers) -> tuple[int, dict[str, str], bytes]:
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            return 404, {}, b""
        with self._lock:
            body = self._days.get(day)
        if body is None:
            return 404, {}, b""
        return _conditional(body, _etag(body), headers, "application/x-ndjson")


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _conditional(body: bytes, etag: str, headers, content_type: str) -> tuple[int, dict[str, str], bytes]:
    if headers.get("If-None-Match") == etag:
        return 304, {"ETag": etag}, b""
    return 200, {"ETag": etag, "Content-Type": content_type}, body


def _handler_for(stub: GitHubStub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - the http.server hook name
            status, headers, body = stub._answer("GET", self.path, self.headers)
            with stub._lock:
                stub.requests.append(
                    LoggedRequest("GET", self.path, status, conditional="If-None-Match" in self.headers)
                )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - quiet: nbval compares stderr
            pass

    return Handler
