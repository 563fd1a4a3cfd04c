"""The team dashboard page: range form, key metrics, Copilot adoption, AI impact, team breakdown, definitions.

The charts load in the browser from their JSON endpoints. A bad range re-renders the page with the
reason next to the form and the dates as sent (HTTP 400).

Statements: the session, user and team of the request, then every figure from the versioned team
cache: ``cached_team_breakdown`` (1 cold), ``get_key_metrics_comparison`` (2 cold),
``get_copilot_adoption`` (2 cold), ``get_ai_impact`` (1 cold), each 0 warm. The same for any team size.
"""

from __future__ import annotations

import datetime as dt

from django.shortcuts import render

from apps.metrics.services.dashboard_service import cached_team_breakdown
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


@team_and_range(on_error=_range_error)
def dashboard(request, team, date_range: DateRange):
    context = {
        "team": team,
        "range": date_range,
        "form": {"start": date_range.start.isoformat(), "end": date_range.end.isoformat()},
        "calendar": CALENDAR,
        "presets": _presets(date_range),
        "breakdown": cached_team_breakdown(team, date_range.start, date_range.end),
        **cards_context(team, date_range),
        **copilot_context(team, date_range),
        **ai_impact_context(team, date_range),
        "definitions": definitions(),
    }
    return render(request, "metrics/dashboard.html", context)
