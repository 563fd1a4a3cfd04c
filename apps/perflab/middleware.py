"""Development only: the lab's N+1 verdict on every page, in the ``Server-Timing`` header and the log.

``NPlusOneMiddleware`` runs each request under ``capture_queries()`` and, with ``DEBUG`` on, appends the
verdict to the ``Server-Timing`` header that ``tformance.middleware.ServerTimingMiddleware`` sets
(``n1;desc="2 repeated shapes (worst x12)"``, so a browser's network panel shows it beside the database time),
and logs each repeated shape with its call sites at WARNING on ``tformance.nplusone``. The verdict is the
pytest guard's (``capture.repeated_in_request``): a shape executed more than once within the request,
savepoints and the session/axes statements left out.

Installed by ``tformance/settings.py`` only when ``DEBUG`` is on and the lab is an installed app, first in
``MIDDLEWARE`` (above ``ServerTimingMiddleware``, so that header is already set when this one extends it, and
the capture covers the sessions and auth statements too). It reads ``DEBUG`` again per request: under pytest
(which turns ``DEBUG`` off after the settings load) and anywhere else it is off, it does nothing. The app never
imports it. For a streamed response (the CSV export) it covers the work done before the first byte.
"""

from __future__ import annotations

import logging

from django.conf import settings

from apps.perflab.capture import capture_queries, compact_shape, repeated_in_request

logger = logging.getLogger("tformance.nplusone")


class NPlusOneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # NPLUSONE_CHECKS False: the lab's own measurements (perf_bench, notebooks) time the app as production runs
        # it, without this capture's stack walking on every statement
        if not settings.DEBUG or not getattr(settings, "NPLUSONE_CHECKS", True):
            return self.get_response(request)
        with capture_queries() as capture:
            response = self.get_response(request)
        repeated = repeated_in_request(capture)
        verdict = f"{len(repeated)} repeated shapes" + (f" (worst x{repeated[0].count})" if repeated else "")
        timing = f'n1;desc="{verdict}"'
        existing = response.get("Server-Timing")
        response["Server-Timing"] = f"{existing}, {timing}" if existing else timing
        for group in repeated:
            sites = "; ".join(f"{n} at {site}" for site, n in group.call_sites[:5])
            logger.warning(
                "N+1 in %s %s: x%d %s (%s)",
                request.method,
                request.path,
                group.count,
                compact_shape(group.fingerprint),
                sites,
            )
        return response
