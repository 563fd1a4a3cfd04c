"""Whole pages, measured: the dashboard as shipped, and as it ran with the audited code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from apps.metrics.services.dates import previous_period
from apps.metrics.views import card_views, dashboard_views
from apps.perflab import baselines


def _audited_comparison(team, start, end) -> dict:
    return {**baselines.get_key_metrics_comparison(team, start, end), "previous_range": previous_period(start, end)}


@contextmanager
def audited_dashboard() -> Iterator[None]:
    """Inside the block the dashboard view runs the audited code: the per-member breakdown loop
    and the key metrics computed twice, uncached. Outside it, the shipped code again."""
    saved = dashboard_views.cached_team_breakdown, card_views.get_key_metrics_comparison
    dashboard_views.cached_team_breakdown = baselines.get_team_breakdown
    card_views.get_key_metrics_comparison = _audited_comparison
    try:
        yield
    finally:
        dashboard_views.cached_team_breakdown, card_views.get_key_metrics_comparison = saved


_CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
_CSP_NONCE = re.compile(r' nonce="[^"]*"')


def dashboard_answer(response) -> str:
    """The page as the user sees it (its HTML, less the per-request CSRF token and CSP nonce): two
    implementations that answer alike render the very same page."""
    assert response.status_code == 200, response.status_code
    page = _CSRF_TOKEN.sub('name="csrfmiddlewaretoken"', response.content.decode())
    return _CSP_NONCE.sub("", page)
