"""Timing on every response: a ``Server-Timing`` header and one log line per request.

The header carries the database time, the statement count and the total, so a browser's
network panel shows where a page's time went; the log line carries the same figures. For a
streamed response the figures cover the work done before the first byte.
"""

from __future__ import annotations

import logging
import time

from django.db import connection

logger = logging.getLogger("tformance.requests")


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
            request.get_full_path(),
            response.status_code,
            total_ms,
            db_ms,
            counter.count,
        )
        return response
