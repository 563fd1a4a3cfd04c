"""The dashboard's JSON chart endpoints and its key-metric cards fragment.

Every view here is thin: ``get_team_for_user`` first (404 for a team the user is not a member
of, or that does not exist), then ``parse_date_range`` (400 with the reason on bad input), then
one service call, then a render.

The chart JSON is ``{"title", "labels", "series": [{"name", "values"}], "unit", ...}``; values
are JSON numbers (Decimals become floats of their two places) or null where there is nothing
to show (a week without merged PRs, a week without answered surveys). Every week of the range
is listed (see ``apps.metrics.services.chart_service``).
"""

from __future__ import annotations

import functools
from decimal import Decimal

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.metrics.services import chart_service
from apps.metrics.services.dashboard_service import change, get_key_metrics_comparison
from apps.metrics.views.params import DateRange, InvalidParameter, bad_request, parse_date_range
from apps.teams.services import get_team_for_user


def team_and_range(view):
    """``view(request, team, date_range)`` for a GET with ``?start=&end=``: access first, then the range."""

    @require_GET
    @functools.wraps(view)
    def wrapper(request, team_slug: str):
        team = get_team_for_user(request.user, team_slug)
        try:
            date_range = parse_date_range(request.GET)
        except InvalidParameter as error:
            return bad_request(error)
        return view(request, team, date_range)

    return wrapper


# --- key metric cards -------------------------------------------------------------------------

# (key, label, unit, which way is better: "up", "down" or None when neither is)
CARD_SPECS = (
    ("prs_merged", "PRs merged", "", "up"),
    ("avg_cycle_time", "Avg cycle time", "h", "down"),
    ("avg_review_time", "Avg review time", "h", "down"),
    ("ai_assisted_pct", "AI-assisted PRs", "%", None),
    ("avg_quality_rating", "Review quality", "/ 3", "up"),
)


def _card(key: str, label: str, unit: str, better: str | None, current, previous) -> dict:
    delta = change(current, previous)
    if delta["delta"] is None:
        direction, change_text = None, "no data to compare" if current is not None else ""
    else:
        direction = "up" if delta["delta"] > 0 else "down" if delta["delta"] < 0 else "flat"
        if direction == "flat":
            change_text = "no change"
        elif key == "ai_assisted_pct":  # a change of a share reads best in points
            change_text = f"{delta['delta']:+} pts"
        elif delta["percent"] is not None:
            change_text = f"{delta['percent']:+}%"
        else:  # the previous period was 0: no percentage
            change_text = f"{delta['delta']:+}"
    if direction in (None, "flat") or better is None:
        tone = "neutral"
    else:
        tone = "good" if direction == better else "bad"
    return {
        "key": key,
        "label": label,
        "unit": unit,
        "value": current,
        "previous": previous,
        "direction": direction,
        "change_text": change_text,
        "tone": tone,
    }


def cards_context(team, date_range: DateRange) -> dict:
    """The cards' template context: one ``get_key_metrics_comparison`` (2 statements cold, 0 warm)."""
    comparison = get_key_metrics_comparison(team, date_range.start, date_range.end)
    previous_start, previous_end = comparison["previous_range"]
    return {
        "cards": [
            _card(key, label, unit, better, comparison["current"][key], comparison["previous"][key])
            for key, label, unit, better in CARD_SPECS
        ],
        "previous_range": DateRange(previous_start, previous_end),
    }


@team_and_range
def key_metrics_cards(request, team, date_range: DateRange):
    """The five metric cards as an HTML fragment (the dashboard includes the same template)."""
    context = {"team": team, "range": date_range, **cards_context(team, date_range)}
    return render(request, "metrics/partials/key_metrics_cards.html", context)


# --- charts -----------------------------------------------------------------------------------


def _number(value):
    """A JSON number for a Decimal figure (two places survive a float), None stays null."""
    return float(value) if isinstance(value, Decimal) else value


def _chart(title: str, date_range: DateRange, labels: list, series: list[tuple[str, list]], unit: str, **extra):
    return JsonResponse(
        {
            "title": title,
            "range": {"start": date_range.start.isoformat(), "end": date_range.end.isoformat()},
            "labels": labels,
            "series": [{"name": name, "values": [_number(v) for v in values]} for name, values in series],
            "unit": unit,
            **extra,
        }
    )


@team_and_range
def cycle_time_chart(request, team, date_range: DateRange):
    """Average cycle time of the PRs merged each week (labels are the weeks' Mondays)."""
    weeks = chart_service.weekly_cycle_time(team, date_range.start, date_range.end)
    return _chart(
        "Average cycle time per week",
        date_range,
        [w["week"].isoformat() for w in weeks],
        [("Avg cycle time", [w["avg_cycle_time"] for w in weeks])],
        "hours",
        prs_merged=[w["prs_merged"] for w in weeks],
    )


@team_and_range
def ai_share_chart(request, team, date_range: DateRange):
    """Share of answered surveys calling the PR AI-assisted, per week of merge."""
    weeks = chart_service.weekly_ai_share(team, date_range.start, date_range.end)
    return _chart(
        "AI-assisted share per week",
        date_range,
        [w["week"].isoformat() for w in weeks],
        [("AI-assisted", [w["ai_assisted_pct"] for w in weeks])],
        "%",
        answered=[w["answered"] for w in weeks],
    )


@team_and_range
def pr_size_chart(request, team, date_range: DateRange):
    """Merged PRs per size bucket (lines added + deleted), every bucket listed."""
    buckets = chart_service.pr_size_distribution(team, date_range.start, date_range.end)
    return _chart(
        "PR size distribution",
        date_range,
        [b["bucket"] for b in buckets],
        [("PRs merged", [b["prs"] for b in buckets])],
        "PRs",
        descriptions=[b["description"] for b in buckets],
    )
