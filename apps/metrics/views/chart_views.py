"""The dashboard's charts (as JSON, and as tables for a browser without JavaScript) and its cards fragment.

Every view here is thin: ``get_team_for_user`` first (404 for a team the user is not a member
of, or that does not exist), then ``parse_date_range`` (400 with the reason on bad input, as
JSON for the charts and as HTML for the fragments), then one service call, then a render.

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
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from apps.metrics.services import chart_service
from apps.metrics.services.dashboard_service import change, get_key_metrics_comparison
from apps.metrics.views.params import DateRange, InvalidParameter, parse_date_range
from apps.teams.services import get_team_for_user


def team_and_range(on_error):
    """``view(request, team, date_range)`` for a GET with ``?start=&end=``: access first, then the range.

    A bad range is answered by ``on_error(request, team, error)`` (HTTP 400), in the view's own form.
    """

    def decorate(view):
        @require_GET
        @functools.wraps(view)
        def wrapper(request, team_slug: str, **kwargs):
            team = get_team_for_user(request.user, team_slug)
            try:
                date_range = parse_date_range(request.GET)
            except InvalidParameter as error:
                return on_error(request, team, error)
            return view(request, team, date_range, **kwargs)

        return wrapper

    return decorate


def json_error(request, team, error: InvalidParameter) -> JsonResponse:
    return JsonResponse({"error": f"Bad request: {error}"}, status=400)


def fragment_error(request, team, error: InvalidParameter):
    return render(request, "metrics/partials/error.html", {"error": error}, status=400)


# --- key metric cards -------------------------------------------------------------------------

# (key, label, unit, which way is better: "up", "down" or None when neither is)
CARD_SPECS = (
    ("prs_merged", "PRs merged", "", "up"),
    ("avg_cycle_time", "Avg cycle time", "h", "down"),
    ("avg_review_time", "Avg review time", "h", "down"),
    ("ai_assisted_pct", "AI-assisted PRs", "%", None),
    ("avg_quality_rating", "Review quality", "/ 3", "up"),
)

NO_COMPARISON = "no data to compare"


def _card(key: str, label: str, unit: str, better: str | None, current, previous, *, comparable: bool) -> dict:
    """One card; ``comparable`` is False when the previous period has no data (no PR merged in it)."""
    delta = change(current, previous) if comparable else {"delta": None, "percent": None}
    if delta["delta"] is None:
        direction, change_text = None, NO_COMPARISON if current is not None else ""
    else:
        direction = "up" if delta["delta"] > 0 else "down" if delta["delta"] < 0 else "flat"
        if direction == "flat":
            change_text = "no change"
        elif key == "ai_assisted_pct":  # a change of a share reads best in points
            change_text = f"{delta['delta']:+} pts"
        elif delta["percent"] is not None:
            change_text = f"{delta['percent']:+}%"
        else:  # a figure of 0 before (an average of 0.00 h): no percentage
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
    """The cards' template context: one ``get_key_metrics_comparison`` (2 statements cold, 0 warm).

    One rule for all five cards: a period in which no PR was merged has no data, so against it every
    card says "no data to compare" (a count of 0 is not a baseline to grow from).
    """
    comparison = get_key_metrics_comparison(team, date_range.start, date_range.end)
    previous_start, previous_end = comparison["previous_range"]
    comparable = comparison["previous"]["prs_merged"] > 0
    return {
        "cards": [
            _card(
                key, label, unit, better, comparison["current"][key], comparison["previous"][key], comparable=comparable
            )
            for key, label, unit, better in CARD_SPECS
        ],
        "previous_range": DateRange(previous_start, previous_end),
    }


@team_and_range(on_error=fragment_error)
def key_metrics_cards(request, team, date_range: DateRange):
    """The five metric cards as an HTML fragment (the dashboard includes the same template)."""
    context = {"team": team, "range": date_range, **cards_context(team, date_range)}
    return render(request, "metrics/partials/key_metrics_cards.html", context)


# --- charts -----------------------------------------------------------------------------------


def _number(value):
    """A JSON number for a Decimal figure (two places survive a float), None stays null."""
    return float(value) if isinstance(value, Decimal) else value


def _chart(title: str, date_range: DateRange, labels: list, series: list[tuple[str, list]], unit: str, **extra):
    """A chart's figures: what its JSON says and what its table shows."""
    return {
        "title": title,
        "range": {"start": date_range.start.isoformat(), "end": date_range.end.isoformat()},
        "labels": labels,
        "series": [{"name": name, "values": [_number(v) for v in values]} for name, values in series],
        "unit": unit,
        **extra,
    }


def cycle_time_figures(team, date_range: DateRange) -> dict:
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


def ai_share_figures(team, date_range: DateRange) -> dict:
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


def pr_size_figures(team, date_range: DateRange) -> dict:
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


# The charts by the name their URLs carry: each has a JSON view (drawn by dashboard.js) and a table
# view (the same figures, shown in the dashboard's <noscript> when JavaScript is off).
CHARTS = {"cycle-time": cycle_time_figures, "ai-share": ai_share_figures, "pr-sizes": pr_size_figures}
# The extra column each table shows, by the key the figures carry it under; short units for narrow cards.
TABLE_EXTRAS = {"prs_merged": "PRs", "answered": "Answered", "descriptions": "Lines"}
TABLE_UNITS = {"hours": "h", "%": "%"}


@team_and_range(on_error=json_error)
def chart_json(request, team, date_range: DateRange, *, chart: str):
    return JsonResponse(CHARTS[chart](team, date_range))


def _table(figures: dict) -> dict:
    """Header and rows of a chart's figures, in the chart's order."""
    extras = [(key, heading) for key, heading in TABLE_EXTRAS.items() if key in figures]
    unit = TABLE_UNITS.get(figures["unit"])
    header = ["Week of" if figures["unit"] != "PRs" else "Size"]
    header += [f"{serie['name']} ({unit})" if unit else serie["name"] for serie in figures["series"]]
    header += [heading for _, heading in extras]
    rows = []
    for index, label in enumerate(figures["labels"]):
        row = [label] + [serie["values"][index] for serie in figures["series"]]
        rows.append(row + [figures[key][index] for key, _ in extras])
    return {"header": header, "rows": rows}


@xframe_options_sameorigin  # framed by the dashboard's own <noscript>
@team_and_range(on_error=fragment_error)
def chart_table(request, team, date_range: DateRange, *, chart: str):
    figures = CHARTS[chart](team, date_range)
    return render(request, "metrics/chart_table.html", {"figures": figures, **_table(figures)})
