"""Middleware of our own: timing on every response, and input no view can store refused at the door.

``ServerTimingMiddleware``: a ``Server-Timing`` header and one log line per request. The header
carries the database time, the statement count and the total, so a browser's network panel shows
where a page's time went; the log line carries the same figures. For a streamed response the
figures cover the work done before the first byte.

``RejectNulMiddleware``: PostgreSQL text cannot hold a NUL character, so a query or form value
with one could only end in a database error (a 500, or an export that dies mid-stream). It is
answered 400 with the reason, in the site's layout, before any view runs: the admin's filters
and search included.
"""

from __future__ import annotations

import logging
import time

from django.db import connection
from django.shortcuts import render

logger = logging.getLogger("tformance.requests")
LOGGED_PATH_CHARACTERS = 300  # a hostile 10 kB query string is not worth a 10 kB log line


class _StatementCounter:
    """An execute_wrapper that counts statements and sums their time; no stack walking."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


class ServerTimingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        counter = _StatementCounter()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        total_ms = (time.perf_counter() - started) * 1000
        db_ms = counter.seconds * 1000
        response["Server-Timing"] = (
            f'db;dur={db_ms:.1f};desc="{counter.count} statements", total;dur={total_ms:.1f}'
        )
        logger.info(
            "%s %s %s total=%.1fms db=%.1fms statements=%d",
            request.method,
            _logged_path(request),
            response.status_code,
            total_ms,
            db_ms,
            counter.count,
        )
        return response


def _logged_path(request) -> str:
    path = request.get_full_path()
    if len(path) > LOGGED_PATH_CHARACTERS:
        return f"{path[:LOGGED_PATH_CHARACTERS]}...({len(path)} characters)"
    return path


FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _nul_parameter(request) -> str | None:
    """The name of the first query or form parameter with a NUL in its name or a value, else None."""
    sources = [request.GET]
    if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
        sources.append(request.POST)
    for source in sources:
        for name, values in source.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return name
    return None


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = _nul_parameter(request)
        if name is not None:
            reason = f"the parameter {name.replace(chr(0), '') or '(unnamed)'!r} contains a NUL character"
            return render(request, "400.html", {"reason": reason}, status=400)
        return self.get_response(request)
