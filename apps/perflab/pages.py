"""Whole pages, measured: the dashboard as shipped, and as it ran with the audited code.

The audited page is the app's own dashboard view built with other reads
(``dashboard_views.make_dashboard_view(AUDITED_READS)``) and served, through the whole middleware
stack, by a URLconf of the lab's (``apps.perflab.audited_urls``): nothing of the app is patched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.test.utils import override_settings

from apps.metrics.services.dates import previous_period
from apps.metrics.views.dashboard_views import SHIPPED_READS, DashboardReads
from apps.perflab import baselines


def _audited_comparison(team, start, end) -> dict:
    return {**baselines.get_key_metrics_comparison(team, start, end), "previous_range": previous_period(start, end)}


# The per-member breakdown loop and the key metrics computed twice, uncached; the rest as shipped.
AUDITED_READS = DashboardReads(
    team_breakdown=baselines.get_team_breakdown,
    key_metrics_comparison=_audited_comparison,
    copilot_adoption=SHIPPED_READS.copilot_adoption,
    ai_impact=SHIPPED_READS.ai_impact,
)


@contextmanager
def audited_dashboard() -> Iterator[None]:
    """Inside the block a request for the dashboard is answered by the audited reads (the site's
    URLs, the dashboard's built with ``AUDITED_READS``). Outside it, the shipped page again."""
    with override_settings(ROOT_URLCONF="apps.perflab.audited_urls"):
        yield


_CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
_CSP_NONCE = re.compile(r' nonce="[^"]*"')


def dashboard_answer(response) -> str:
    """The page as the user sees it (its HTML, less the per-request CSRF token and CSP nonce): two
    implementations that answer alike render the very same page."""
    assert response.status_code == 200, response.status_code
    page = _CSRF_TOKEN.sub('name="csrfmiddlewaretoken"', response.content.decode())
    return _CSP_NONCE.sub("", page)
