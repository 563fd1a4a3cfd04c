"""Query capture with N+1 detection.

``capture_queries()`` records every statement run on a connection while it is open: the SQL,
its parameters, its duration, a fingerprint that groups statements differing only in
literals, parameters or the length of ``IN (...)`` lists, and the call site (the first frame
inside ``apps/`` that is not the lab's own instruments). A fingerprint executed more than
once is an N+1 suspect: a ``.get()`` in a loop, a lazy foreign key per row and an
``update_or_create`` per row all show up alike, because they repeat the same statement shape.

Unlike ``CaptureQueriesContext`` there is no cap at 9000 statements: a baseline at 500 users
may issue tens of thousands, and all of them count.
"""

from __future__ import annotations

import html
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connections

APPS_DIR = Path(__file__).resolve().parent.parent
# The lab's instruments are never the culprit; its baselines are (they hold the pre-fix code).
_INSTRUMENT_FILES = {
    str(Path(__file__).resolve().parent / name)
    for name in ("capture.py", "testing.py", "timing.py", "explain.py", "series.py", "plots.py", "notebook.py")
} | {str(Path(__file__).resolve().parent / name) for name in ("pytest_guard.py", "middleware.py")}
_LIBRARY_MARKERS = ("site-packages", "dist-packages", f"{Path(sys.prefix)}/lib")


# --- fingerprints --------------------------------------------------------------------------

_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w\"$])-?\d+(?:\.\d+)?\b")
_PLACEHOLDER = re.compile(r"%s|\$\d+|\?")
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.IGNORECASE)
# A row-valued IN list, ``(a, b) IN ((?, ?), (?, ?))``: composite lookups of any number of rows.
_ROW = r"\(\s*\?(?:\s*,\s*\?)*\s*\)"
_IN_ROWS = re.compile(rf"\bIN\s*\(\s*{_ROW}(?:\s*,\s*{_ROW})*\s*\)", re.IGNORECASE)
_ANY_ARRAY = re.compile(r"=\s*ANY\s*\(\s*\?\s*\)", re.IGNORECASE)
_VALUES_ROWS = re.compile(r"\bVALUES\s*\([^()]*\)(?:\s*,\s*\([^()]*\))*", re.IGNORECASE)
_SAVEPOINT_NAME = re.compile(r"\"?s\d+_x\d+\"?")
_WHITESPACE = re.compile(r"\s+")


_TRANSACTION_CONTROL = re.compile(r"^\s*(?:SAVEPOINT|RELEASE|ROLLBACK\s+TO)\b", re.IGNORECASE)


def is_savepoint_statement(sql: str) -> bool:
    """``SAVEPOINT``, ``RELEASE [SAVEPOINT]`` or ``ROLLBACK TO [SAVEPOINT]``: an ``atomic`` block's bookkeeping.

    Inside a test's transaction every ``atomic`` adds such a pair that production (autocommit) does
    not run, so statement counts and the N+1 verdict leave them out through this one helper
    (``QueryCapture.without_savepoints()``).
    """
    return bool(_TRANSACTION_CONTROL.match(sql))


def fingerprint(sql: str) -> str:
    """The statement's shape: literals, parameters, IN-lists and VALUES rows normalised.

    ``SELECT ... WHERE id = 7`` and ``... WHERE id = 8`` share a fingerprint, and so do
    ``IN (1, 2)`` and ``IN (1, 2, 3)``, so a statement repeated per row groups together.
    """
    text = _STRING_LITERAL.sub("?", sql)
    text = _SAVEPOINT_NAME.sub("sp", text)
    text = _PLACEHOLDER.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _IN_LIST.sub("IN (...)", text)
    text = _IN_ROWS.sub("IN (...)", text)
    text = _ANY_ARRAY.sub("= ANY (...)", text)
    text = _VALUES_ROWS.sub("VALUES (...)", text)
    return _WHITESPACE.sub(" ", text).strip()


# --- call sites ----------------------------------------------------------------------------


def _is_library(filename: str) -> bool:
    return any(marker in filename for marker in _LIBRARY_MARKERS) or filename.startswith("<frozen")


def find_call_site(frame=None) -> str:
    """The first frame in ``apps/`` outside the lab's instruments; else the first non-library frame."""
    frame = frame or sys._getframe(1)
    fallback = None
    apps_prefix = str(APPS_DIR) + "/"
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(apps_prefix) and filename not in _INSTRUMENT_FILES:
            return f"{Path(filename).relative_to(APPS_DIR.parent)}:{frame.f_lineno} in {frame.f_code.co_name}"
        if fallback is None and filename not in _INSTRUMENT_FILES and not _is_library(filename):
            fallback = f"{Path(filename).name}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return fallback or "?"


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapturedQuery:
    sql: str
    params: object
    duration: float  # seconds
    fingerprint: str
    call_site: str
    many: bool = False  # executemany


@dataclass(frozen=True)
class QueryGroup:
    """All statements sharing one fingerprint."""

    fingerprint: str
    count: int
    total_time: float
    call_sites: tuple[tuple[str, int], ...]  # (call site, count), most frequent first
    example: str

    @property
    def call_site(self) -> str:
        return self.call_sites[0][0]


@dataclass
class QueryCapture:
    """What ``capture_queries()`` saw. Read it after the ``with`` block (or live)."""

    alias: str = "default"
    with_call_sites: bool = True
    queries: list[CapturedQuery] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def count(self) -> int:
        return len(self.queries)

    @property
    def total_time(self) -> float:
        """Seconds spent in the database driver, summed over statements."""
        return sum(q.duration for q in self.queries)

    def groups(self) -> list[QueryGroup]:
        """Statements grouped by fingerprint, most executed first (ties: first seen first)."""
        order: dict[str, list[CapturedQuery]] = {}
        for query in self.queries:
            order.setdefault(query.fingerprint, []).append(query)
        groups = [
            QueryGroup(
                fingerprint=fp,
                count=len(items),
                total_time=sum(q.duration for q in items),
                call_sites=tuple(Counter(q.call_site for q in items).most_common()),
                example=items[0].sql,
            )
            for fp, items in order.items()
        ]
        return sorted(groups, key=lambda g: -g.count)  # stable: first seen wins ties

    def repeated(self) -> list[QueryGroup]:
        """The N+1 verdict: every fingerprint executed more than once."""
        return [g for g in self.groups() if g.count > 1]

    def without_savepoints(self) -> QueryCapture:
        """The same capture without ``SAVEPOINT``/``RELEASE``/``ROLLBACK TO`` (``is_savepoint_statement``).

        A snapshot: statements recorded later do not appear in it. Its ``count``, ``repeated()`` and
        ``report()`` are the app's own statements, as production runs them outside a test's transaction.
        """
        return self.where(lambda query: not is_savepoint_statement(query.sql))

    def where(self, keep) -> QueryCapture:
        """A snapshot holding only the statements for which ``keep(captured_query)`` is true."""
        return QueryCapture(
            alias=self.alias, with_call_sites=self.with_call_sites, queries=[q for q in self.queries if keep(q)]
        )

    @property
    def has_n_plus_one(self) -> bool:
        return bool(self.repeated())

    def verdict(self) -> str:
        repeated = self.repeated()
        if not repeated:
            return "no repeated statements"
        worst = repeated[0]
        return (
            f"N+1 suspected: {len(repeated)} statement shape(s) repeated; worst x{worst.count} at {worst.call_site}"
        )

    def report(self, *, max_sql: int = 160, full: bool = False) -> str:
        """A plain-text report: totals, the verdict, then each fingerprint with its count and call sites."""
        lines = [
            f"{self.count} statements, {self.total_time * 1000:.1f} ms in the database",
            self.verdict(),
        ]
        for group in self.groups():
            sql = group.fingerprint if full else _shorten(group.fingerprint, max_sql)
            lines.append(f"  x{group.count:<5} {group.total_time * 1000:8.1f} ms  {sql}")
            for site, n in group.call_sites[:3]:
                lines.append(f"           {n:>5} at {site}")
        return "\n".join(lines)

    def statements(self) -> str:
        """Every statement, one per line, numbered: for assertion messages."""
        return "\n".join(f"{i:>4}. [{q.call_site}] {q.sql}" for i, q in enumerate(self.queries, 1))

    def __repr__(self) -> str:
        return f"<QueryCapture {self.count} statements, {self.total_time * 1000:.1f} ms; {self.verdict()}>"

    def _repr_html_(self) -> str:
        rows = "".join(_html_row(g) for g in self.groups())
        return (
            f"<p><b>{self.count}</b> statements, <b>{self.total_time * 1000:.1f} ms</b> in the database. "
            f"{html.escape(self.verdict())}</p>"
            "<table><thead><tr><th>count</th><th>ms</th><th>call site</th><th>statement</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )

    # the execute_wrapper hook
    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            duration = time.perf_counter() - started
            self.queries.append(
                CapturedQuery(
                    sql=sql,
                    params=params,
                    duration=duration,
                    fingerprint=fingerprint(sql),
                    call_site=find_call_site(sys._getframe(1)) if self.with_call_sites else "",
                    many=many,
                )
            )


# --- the verdict for one request (the pytest guard and the development middleware) --------------

# Read or written once per request by the session and axes (login throttling) middleware, never by the app's code.
REQUEST_BOOKKEEPING_TABLES = ('"django_session"', '"axes_')


def is_request_bookkeeping(sql: str) -> bool:
    """A statement on the session or axes tables."""
    return any(table in sql for table in REQUEST_BOOKKEEPING_TABLES)


def repeated_in_request(capture: QueryCapture, *, max_repeats: int = 1) -> list[QueryGroup]:
    """One request's N+1 verdict: the shapes executed more than ``max_repeats`` times, worst first.

    ``max_repeats=1`` is ``repeated()``'s "more than once"; savepoints (``without_savepoints``) and the
    session/axes statements (``is_request_bookkeeping``) are left out first.
    """
    relevant = capture.without_savepoints().where(lambda query: not is_request_bookkeeping(query.sql))
    return [group for group in relevant.groups() if group.count > max_repeats]


_SELECT_LIST = re.compile(r"^SELECT (?P<first>.+?), .+? FROM ", re.DOTALL)


def compact_shape(shape: str, limit: int = 300) -> str:
    """A fingerprint short enough to read in a message: a long column list becomes its first column and ``…``."""
    if len(shape) > limit:
        shape = _SELECT_LIST.sub(lambda m: f"SELECT {m['first']}, … FROM ", shape, count=1)
    return _shorten(shape, limit)


def _html_row(group: QueryGroup) -> str:
    site = html.escape(group.call_site)
    sql = html.escape(_shorten(group.fingerprint, 200))
    right = "style='text-align:right'"
    return (
        f"<tr><td {right}>{group.count}</td><td {right}>{group.total_time * 1000:.1f}</td>"
        f"<td>{site}</td><td><code>{sql}</code></td></tr>"
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def capture_queries(using: str = "default", *, call_sites: bool = True) -> Iterator[QueryCapture]:
    """Record every statement on ``connections[using]`` inside the block.

    ``call_sites=False`` skips the stack walk: for timing runs, where its cost would count.
    """
    capture = QueryCapture(alias=using, with_call_sites=call_sites)
    with connections[using].execute_wrapper(capture):
        yield capture
