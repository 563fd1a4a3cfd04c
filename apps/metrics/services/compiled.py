"""ORM queries compiled once per process, then run again with new parameter values.

Django rebuilds and recompiles a QuerySet on every call. Once an N+1 is gone, that Python work
is what is left: for the dashboard's aggregate queries it measured 1-2 ms per query, more than
PostgreSQL needs to answer them for a 200-member team (notebook 01). ``CompiledQuery`` calls its
builder once with distinct sentinel values, compiles the QuerySet, remembers where each sentinel
landed among the SQL parameters, and later substitutes the real values: the same SQL Django would
send, without rebuilding it.

Rows come back as dicts keyed by column alias, as PostgreSQL types them (numeric as Decimal,
counts as int), without Django's per-field converters: so build ``.values()`` querysets. A lookup that
rewrites its value (``startswith``, ``iexact``...) hides the sentinel: compiling then fails with
``UnusedParameter`` rather than sending wrong SQL.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import QuerySet


class UnusedParameter(ValueError):
    """The builder ignored a parameter: its sentinel never reached the compiled SQL."""


def _sentinel(kind: type, index: int) -> Any:
    if kind is int:
        return -1_000_000_007 - index
    if kind is dt.datetime:
        return dt.datetime(1001 + index, 1, 1, 0, 0, 7, tzinfo=dt.UTC)
    if kind is dt.date:
        return dt.date(1001 + index, 1, 7)
    if kind is str:
        return f"\x1fsentinel-{index}\x1f"
    raise TypeError(f"no sentinel for {kind.__name__} parameters (int, str, date, datetime are supported)")


class CompiledQuery:
    """``CompiledQuery(build, team_id=int, lower=dt.datetime)``; ``.rows(team_id=7, lower=...)``."""

    def __init__(self, build: Callable[..., QuerySet], **parameters: type):
        self._build = build
        self._kinds = parameters
        self._lock = threading.Lock()
        self._compiled: tuple[str, str, list[tuple[str | None, Any]]] | None = None

    def _compile(self) -> tuple[str, str, list[tuple[str | None, Any]]]:
        sentinels = {name: _sentinel(kind, i) for i, (name, kind) in enumerate(self._kinds.items())}
        queryset = self._build(**sentinels)
        sql, params = queryset.query.get_compiler(queryset.db).as_sql()
        by_value = {value: name for name, value in sentinels.items()}
        slots = [(by_value.get(p), p) if _hashable(p) else (None, p) for p in params]
        unused = set(sentinels) - {name for name, _ in slots if name}
        if unused:
            raise UnusedParameter(f"the query ignores parameter(s) {sorted(unused)}")
        rewritten = [constant for name, constant in slots if name is None and _looks_like_sentinel(constant)]
        if rewritten:
            raise UnusedParameter(f"a lookup rewrote a parameter's value ({rewritten[0]!r}): it cannot be substituted")
        return queryset.db, sql, slots

    def sql(self) -> str:
        return self._get()[1]

    def _get(self):
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = self._compile()
        return self._compiled

    def rows(self, **values: Any) -> list[dict[str, Any]]:
        if set(values) != set(self._kinds):
            raise TypeError(f"expected parameters {sorted(self._kinds)}, got {sorted(values)}")
        alias, sql, slots = self._get()
        params = [values[name] if name else constant for name, constant in slots]
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            columns = [column.name for column in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _looks_like_sentinel(value: Any) -> bool:
    if isinstance(value, str):
        return "\x1fsentinel-" in value
    if isinstance(value, dt.date | dt.datetime):
        return value.year < 1100
    return isinstance(value, int) and value <= -1_000_000_007


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
