"""The team dashboard page: range form, key metrics, Copilot adoption, AI impact, team breakdown, definitions.

The charts load in the browser from their JSON endpoints. A bad range re-renders the page with the
reason next to the form and the dates as sent (HTTP 400).

Statements: the session, user and team of the request, then every figure from the versioned team
cache: ``cached_team_breakdown`` (1 cold), ``get_key_metrics_comparison`` (2 cold),
``get_copilot_adoption`` (2 cold), ``get_ai_impact`` (1 cold), each 0 warm. The same for any team size.

Those four reads are ``SHIPPED_READS``, a ``DashboardReads``; ``make_dashboard_view(reads)`` builds the
same page from other reads that answer alike (the performance lab serves the audited code so).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.shortcuts import render

from apps.metrics.services.ai_impact_service import get_ai_impact
from apps.metrics.services.copilot_adoption_service import get_copilot_adoption
from apps.metrics.services.dashboard_service import cached_team_breakdown, get_key_metrics_comparison
from apps.metrics.views.card_views import ai_impact_context, cards_context, copilot_context, definitions
from apps.metrics.views.params import (
    EARLIEST_DAY,
    LATEST_DAY,
    DateRange,
    InvalidParameter,
    team_and_range,
    today_utc,
)

PRESET_DAYS = (7, 30, 90)
CALENDAR = {"min": EARLIEST_DAY.isoformat(), "max": LATEST_DAY.isoformat()}  # the date inputs' bounds


def _presets(date_range: DateRange | None) -> list[dict]:
    """Links for the last 7/30/90 days ending today (UTC); the one matching the range is marked."""
    today = today_utc()
    presets = []
    for days in PRESET_DAYS:
        preset = DateRange(today - dt.timedelta(days=days - 1), today)
        presets.append({"label": f"Last {days} days", "query": preset.as_query(), "active": preset == date_range})
    return presets


def _range_error(request, team, error: InvalidParameter):
    """The dashboard with the reason next to the range form, the dates as sent: HTTP 400, nothing read."""
    context = {
        "team": team,
        "presets": _presets(None),
        "error": error,
        "form": {"start": request.GET.get("start", ""), "end": request.GET.get("end", "")},
        "calendar": CALENDAR,
    }
    return render(request, "metrics/dashboard.html", context, status=400)


@dataclass(frozen=True)
class DashboardReads:
    """The reads the dashboard's figures come from, each a function of ``(team, start, end)``."""

    team_breakdown: Callable = cached_team_breakdown
    key_metrics_comparison: Callable = get_key_metrics_comparison
    copilot_adoption: Callable = get_copilot_adoption
    ai_impact: Callable = get_ai_impact


SHIPPED_READS = DashboardReads()


def make_dashboard_view(reads: DashboardReads = SHIPPED_READS):
    """The dashboard view, its figures read by ``reads``."""

    @team_and_range(on_error=_range_error)
    def dashboard(request, team, date_range: DateRange):
        context = {
            "team": team,
            "range": date_range,
            "form": {"start": date_range.start.isoformat(), "end": date_range.end.isoformat()},
            "calendar": CALENDAR,
            "presets": _presets(date_range),
            "breakdown": reads.team_breakdown(team, date_range.start, date_range.end),
            **cards_context(team, date_range, read=reads.key_metrics_comparison),
            **copilot_context(team, date_range, read=reads.copilot_adoption),
            **ai_impact_context(team, date_range, read=reads.ai_impact),
            "definitions": definitions(),
        }
        return render(request, "metrics/dashboard.html", context)

    return dashboard


dashboard = make_dashboard_view(SHIPPED_READS)
