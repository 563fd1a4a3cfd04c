"""The dashboard's charts, as JSON and as tables for a browser without JavaScript.

Every view here is thin: ``team_and_range`` (``params``: 404 for a team the user is not a member
of, 400 with the reason on a bad range, as JSON for the charts and as HTML for the tables), then
one service call, then a render.

The chart JSON is ``{"title", "labels", "series": [{"name", "values"}], "unit", ...}``; values
are JSON numbers (Decimals become floats of their two places) or null where there is nothing
to show (a week without merged PRs, a week without answered surveys). Every week of the range
is listed (see ``apps.metrics.services.chart_service``).
"""

from __future__ import annotations

from decimal import Decimal

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin

from apps.metrics.services import chart_service
from apps.metrics.services.copilot_adoption_service import get_copilot_adoption, used_copilot
from apps.metrics.views.params import DateRange, fragment_error, json_error, team_and_range

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
    """Median and average cycle time of the PRs merged each week (labels are the weeks' Mondays)."""
    weeks = chart_service.weekly_cycle_time(team, date_range.start, date_range.end)
    return _chart(
        "Cycle time per week",
        date_range,
        [w["week"].isoformat() for w in weeks],
        [
            ("Median cycle time", [w["median_cycle_time"] for w in weeks]),
            ("Avg cycle time", [w["avg_cycle_time"] for w in weeks]),
        ],
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


def copilot_users_figures(team, date_range: DateRange) -> dict:
    """Members shown Copilot suggestions each week, null in a week without any usage stored (as a week without a
    merge has no cycle time); from the cached Copilot adoption read: 0 statements warm."""
    weeks = get_copilot_adoption(team, date_range.start, date_range.end)["weekly"]
    return _chart(
        "Copilot users per week",
        date_range,
        [w["week"].isoformat() for w in weeks],
        [("Copilot users", [w["active_users"] if used_copilot(w) else None for w in weeks])],
        "users",
        lines_accepted=[w["lines_accepted"] for w in weeks],
    )


def copilot_acceptance_figures(team, date_range: DateRange) -> dict:
    """Copilot suggestions accepted of those shown, per week (null in a week with nothing shown)."""
    weeks = get_copilot_adoption(team, date_range.start, date_range.end)["weekly"]
    return _chart(
        "Copilot acceptance rate per week",
        date_range,
        [w["week"].isoformat() for w in weeks],
        [("Acceptance rate", [w["acceptance_rate"] for w in weeks])],
        "%",
        suggestions_shown=[w["suggestions_shown"] for w in weeks],
    )


# The charts by the name their URLs carry: each has a JSON view (drawn by dashboard.js) and a table
# view (the same figures, shown in the dashboard's <noscript> when JavaScript is off).
CHARTS = {
    "cycle-time": cycle_time_figures,
    "ai-share": ai_share_figures,
    "pr-sizes": pr_size_figures,
    "copilot-users": copilot_users_figures,
    "copilot-acceptance": copilot_acceptance_figures,
}
# The extra column each table shows, by the key the figures carry it under; short units for narrow cards.
TABLE_EXTRAS = {
    "prs_merged": "PRs",
    "answered": "Answered",
    "descriptions": "Lines",
    "lines_accepted": "Lines accepted",
    "suggestions_shown": "Shown",
}
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
