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
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import itertools
import json
import math
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

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


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    body: bytes


class GitHubStub:
    """``with GitHubStub(org="acme") as github: github.base_url ...``"""

    def __init__(self, org: str = "acme", token: str | None = None, *, rotate_signatures: bool = False):
        self.org = org
        self.token = token
        self.rotate_signatures = rotate_signatures
        self._days: dict[dt.date, bytes] = {}
        self._modified: dict[dt.date, int] = {}  # day -> data version (its Last-Modified)
        self._versions = itertools.count(1)
        self._signatures = itertools.count(1)
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self.requests: list[LoggedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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

    @property
    def bytes_served(self) -> int:
        """Body bytes sent, over every logged request."""
        return sum(r.bytes for r in self.requests)

    def downloads(self, status: int | None = None) -> list[LoggedRequest]:
        """The logged report downloads (NDJSON and 28-day files), optionally of one status."""
        return [r for r in self.requests if r.path.startswith("/downloads/") and status in (None, r.status)]

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

    def _answer(self, method: str, raw_path: str, headers) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            if self._failures:
                failure = self._failures.pop(0)
                return failure.status, failure.headers, failure.body
        if self.token and headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {}, b'{"message": "Bad credentials"}'
        url = urlparse(raw_path)
        if url.path == REPORT_PATH.format(org=self.org):
            return self._report_links(parse_qs(url.query).get("day", [""])[0], headers)
        if url.path == ORG_REPORT_PATH.format(org=self.org):
            return self._org_report_links(headers)
        if url.path.startswith("/downloads/organization-28-day/"):
            return self._org_report(url.path.rsplit("/", 1)[-1].removesuffix(".json"), headers)
        if url.path.startswith("/downloads/"):
            return self._download(url.path.removeprefix("/downloads/").removesuffix(".ndjson"), headers)
        return 404, {}, b'{"message": "Not Found"}'

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


def _lowered(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _handler_for(stub: GitHubStub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def do_GET(self):  # noqa: N802 - the http.server hook name
            status, headers, body = stub._answer("GET", self.path, self.headers)
            conditional = "If-None-Match" in self.headers or "If-Modified-Since" in self.headers
            with stub._lock:
                stub.requests.append(
                    LoggedRequest("GET", self.path, status, conditional, len(body), _lowered(self.headers))
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
