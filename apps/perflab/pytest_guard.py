"""A pytest plugin: every request made through Django's test client runs under the lab's query capture.

Enabled by the project's ``tests/conftest.py`` (``pytest_plugins = ["apps.perflab.pytest_guard"]``). Each
request that goes through the test client's handler (``django.test.Client``, so ``client.get``/``post``
and everything below them: middleware, view, template) is wrapped in ``capture_queries()``; when the
request is done its statements are grouped by the lab's fingerprint, and a shape executed more than
``nplusone_max_repeats`` times (default 1: the lab's verdict, "executed more than once") within that ONE
request is an N+1. The test fails after it has run, naming each request, each repeated shape with its
count, and the call sites that issued it (the first frame in ``apps/``, else the first frame outside
libraries: the loop's line). Statements of separate requests never add up.

Left out of the verdict: ``SAVEPOINT``/``RELEASE``/``ROLLBACK TO`` (``QueryCapture.without_savepoints``:
a test's transaction turns every ``atomic`` into such a pair) and the session and login-throttling
tables (``django_session``, ``axes_*``), which the middleware reads and writes once per request anyway.

Because it compares fingerprints rather than relations, it catches what tools that watch the ORM's
lazy loading miss: a ``.get()`` in a loop, a per-object ``prefetch_related`` (or
``prefetch_related_objects``), a per-row ``update_or_create``, a raw ``cursor.execute`` per row, as
well as the lazy foreign key.

A test that repeats on purpose says so: ``@pytest.mark.allow_repeats("the reason")`` (a reason is
required). ``--no-nplusone-guard`` (or ``nplusone_guard = false`` in the ini) turns the plugin off.
Not covered: a view called directly with a ``RequestFactory`` request (no handler runs: capture it
with ``capture_queries()``), ``AsyncClient`` (its view runs on another thread's connection), the
live server's threads, and statements a streamed response runs after the handler returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from apps.perflab.capture import QueryGroup, capture_queries, compact_shape, repeated_in_request

MARKER = "allow_repeats"


@dataclass(frozen=True)
class RepeatingRequest:
    """One request whose statements repeated, and the repeated shapes."""

    method: str
    path: str
    statements: int
    repeated: tuple[QueryGroup, ...]

    def describe(self) -> str:
        lines = [
            f"{self.method} {self.path}: {len(self.repeated)} repeated statement shape(s) "
            f"in {self.statements} statements"
        ]
        for group in self.repeated:
            lines.append(f"  x{group.count}  {compact_shape(group.fingerprint)}")
            for site, n in group.call_sites[:5]:
                lines.append(f"        {n} at {site}")
        return "\n".join(lines)


def format_failure(requests: list[RepeatingRequest], max_repeats: int = 1) -> str:
    times = "more than once" if max_repeats == 1 else f"more than {max_repeats} times"
    body = "\n".join(request.describe() for request in requests)
    return (
        f"N+1: a statement shape ran {times} within one request "
        "(SAVEPOINT/RELEASE and session statements left out)\n"
        f"{body}\n"
        f'A test that repeats on purpose says why: @pytest.mark.{MARKER}("reason")'
    )


class RequestGuard:
    """One test's record of the requests that repeated a statement shape."""

    def __init__(self, max_repeats: int = 1) -> None:
        self.max_repeats = max_repeats
        self.requests = 0
        self.records: list[RepeatingRequest] = []

    @contextlib.contextmanager
    def watch(self, method: str, path: str) -> Iterator[None]:
        """Capture one request's statements on every database; record it if a shape repeated."""
        from django.db import connections

        with contextlib.ExitStack() as stack:
            captures = [stack.enter_context(capture_queries(alias)) for alias in connections]
            yield
        self.requests += 1
        repeated = [
            group for capture in captures for group in repeated_in_request(capture, max_repeats=self.max_repeats)
        ]
        if repeated:
            statements = sum(capture.count for capture in captures)
            self.records.append(RepeatingRequest(method, path, statements, tuple(repeated)))

    def take(self) -> list[RepeatingRequest]:
        """The records so far, cleared: what a test of the guard itself inspects instead of failing."""
        records, self.records = self.records, []
        return records

    def message(self) -> str:
        return format_failure(self.records, self.max_repeats)


_active: RequestGuard | None = None
_original_call = None


def _guarded_call(self, environ):
    guard = _active
    if guard is None:
        return _original_call(self, environ)
    path = environ.get("PATH_INFO", "")
    if environ.get("QUERY_STRING"):
        path = f"{path}?{environ['QUERY_STRING']}"
    with guard.watch(environ.get("REQUEST_METHOD", "GET"), path):
        return _original_call(self, environ)


def install() -> None:
    """Wrap ``django.test.client.ClientHandler.__call__`` (idempotent)."""
    global _original_call
    from django.test.client import ClientHandler

    if _original_call is None:
        _original_call = ClientHandler.__call__
        ClientHandler.__call__ = _guarded_call


def uninstall() -> None:
    global _original_call
    from django.test.client import ClientHandler

    if _original_call is not None:
        ClientHandler.__call__ = _original_call
        _original_call = None


# --- pytest hooks --------------------------------------------------------------------------


def pytest_addoption(parser):
    parser.addini("nplusone_guard", type="bool", default=True, help="fail a test whose request repeats a statement")
    parser.addini(
        "nplusone_max_repeats", default="1", help="a shape executed more than this many times in one request fails"
    )
    parser.getgroup("tformance").addoption(
        "--no-nplusone-guard",
        action="store_true",
        default=False,
        help="do not check the test client's requests for repeated statements (apps/perflab/pytest_guard.py)",
    )


def _enabled(config) -> bool:
    return bool(config.getini("nplusone_guard")) and not config.getoption("no_nplusone_guard")


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARKER}(reason): this test's requests repeat a statement on purpose")
    if _enabled(config):
        install()


def pytest_unconfigure(config):
    uninstall()


def _allowance(item) -> str | None:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return None
    reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
    if not isinstance(reason, str) or not reason.strip():
        pytest.fail(f'@pytest.mark.{MARKER} needs a reason: @pytest.mark.{MARKER}("why it repeats")', pytrace=False)
    return reason


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    global _active
    if _original_call is not None:
        _allowance(item)  # a marker without its reason fails here
        _active = RequestGuard(int(item.config.getini("nplusone_max_repeats")))
        item.stash[_guard_key] = _active
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    guard = item.stash.get(_guard_key, None)
    if guard is not None and guard.records and _allowance(item) is None:
        pytest.fail(guard.message(), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    global _active
    try:
        return (yield)
    finally:
        _active = None


_guard_key = pytest.StashKey[RequestGuard]()


@pytest.fixture
def nplusone_guard() -> RequestGuard:
    """This test's guard: ``take()`` returns (and clears) the repeating requests seen so far."""
    if _active is None:
        pytest.skip("the N+1 guard is off (--no-nplusone-guard)")
    return _active
