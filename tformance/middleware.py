"""Middleware of our own: timing on every response, and input no view can store refused at the door.

``ServerTimingMiddleware``: a ``Server-Timing`` header and one log line per request. The header
carries the database time, the statement count and the total, so a browser's network panel shows
where a page's time went; the log line carries the same figures. For a streamed response the
figures cover the work done before the first byte.

``RejectNulMiddleware``: PostgreSQL text cannot hold a NUL character, so a query or form value
with one could only end in a database error (a 500, or an export that dies mid-stream). It is
answered 400 with the reason, in the site's layout, before any view runs: the admin's filters
and search included.

``DatabaseUnavailableMiddleware``: PostgreSQL unreachable (the pool gave no connection within
``DATABASE_POOL_TIMEOUT``, or the connection failed) anywhere in a request, in the session and auth
middleware as much as in a view, is answered 503 with ``Retry-After`` and the app's "try again" page
(``503.html``, rendered without the database), with one warning line instead of a traceback.
"""

from __future__ import annotations

import logging
import sys
import time

import psycopg
from django.core.signals import got_request_exception
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from psycopg_pool import PoolTimeout

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


DATABASE_RETRY_AFTER_SECONDS = 10
# SQLSTATE classes that mean the server is going away or not there yet (admin or crash shutdown,
# "cannot connect now" while it starts) or the connection itself failed; other errors that psycopg
# files under OperationalError (a deadlock, a statement timeout) are the request's own: a 500.
OUTAGE_SQLSTATE_PREFIXES = ("08", "57P")
_GUARDED_ATTRIBUTE = "_tformance_database_outage_guarded"
unavailable_logger = logging.getLogger("tformance.database")


def database_outage(exc: BaseException | None) -> BaseException | None:
    """The psycopg error behind ``exc`` if it means PostgreSQL is unreachable, else None."""
    cause = exc if isinstance(exc, psycopg.Error) else getattr(exc, "__cause__", None)
    if isinstance(cause, PoolTimeout):
        return cause
    if isinstance(cause, psycopg.OperationalError) and (
        cause.sqlstate is None or cause.sqlstate.startswith(OUTAGE_SQLSTATE_PREFIXES)
    ):
        return cause
    return None


class DatabaseUnavailable(Exception):
    """Carries an outage from the layer that met it up to DatabaseUnavailableMiddleware."""

    def __init__(self, outage: BaseException) -> None:
        super().__init__(str(outage))
        self.outage = outage


def _escalate_database_outage(sender, request=None, **kwargs) -> None:
    """Django turns an exception into a 500 in the layer that raised it (``convert_exception_to_response``),
    so an outer middleware never sees it; but it first sends ``got_request_exception``, within the exception's
    handling, and an error raised by a receiver propagates. For an outage this receiver raises
    ``DatabaseUnavailable``: each layer's 500 is skipped (no error page rendered, no traceback logged, no
    second database wait for the debug page's user) until the middleware catches it."""
    if not getattr(request, _GUARDED_ATTRIBUTE, False):
        return  # no DatabaseUnavailableMiddleware above this request to catch it
    exc = sys.exc_info()[1]
    if isinstance(exc, DatabaseUnavailable):
        raise exc  # on its way up through the next layer
    outage = database_outage(exc)
    if outage is not None:
        raise DatabaseUnavailable(outage) from exc


class DatabaseUnavailableMiddleware:
    """A request that found PostgreSQL unreachable answers 503 + Retry-After with the app's page.

    Placed above the first middleware that reads the database (sessions), so it covers sessions, auth
    and views; below SecurityMiddleware and CSP, so the 503 still gets their headers.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        got_request_exception.connect(_escalate_database_outage, dispatch_uid="tformance-database-outage")

    def __call__(self, request):
        setattr(request, _GUARDED_ATTRIBUTE, True)
        try:
            return self.get_response(request)
        except DatabaseUnavailable as unavailable:
            outage = unavailable.outage
        first_line = (str(outage).strip().splitlines() or [""])[0]
        unavailable_logger.warning(
            "PostgreSQL unavailable (%s: %s): 503 for %s %s",
            type(outage).__name__,
            first_line,
            request.method,
            _logged_path(request),
        )
        response = HttpResponse(_unavailable_page(), status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        response["X-Frame-Options"] = "DENY"  # XFrameOptionsMiddleware sits below and never saw this one
        return response


def _unavailable_page() -> str:
    """503.html from a plain context: no request, so no session or user lookup (the database is down)."""
    try:
        return render_to_string("503.html", {"retry_after": DATABASE_RETRY_AFTER_SECONDS})
    except Exception:  # noqa: BLE001 - the page must not turn the 503 into another error
        unavailable_logger.exception("503.html could not be rendered")
        return "<!doctype html><title>Unavailable</title><p>tformance is briefly unavailable: try again soon.</p>"
