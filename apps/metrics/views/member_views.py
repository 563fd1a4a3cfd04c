"""A member's page: their weeks from the weekly rollup (a sparkline per figure and a table), recent PRs and
reviews given, Copilot usage per week.

Thin: ``get_team_for_user`` (404 for a team the user is not a member of), ``?weeks=`` (1 to 104, default
104; anything else is a 400 with the reason), one ``member_service.get_member_page`` (4 statements; a
member of another team or an unknown id is a 404), a render. The charts are inline SVG drawn here, on the
server: no JavaScript.

Statements: session, user, team, and the service's 4 — the same for any number of weeks, PRs or reviews.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from django.http import Http404
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from apps.metrics.models import PRReview, PullRequest
from apps.metrics.services.member_service import DEFAULT_WEEKS, MAX_WEEKS, MemberNotFound, get_member_page
from apps.metrics.views.params import InvalidParameter, bad_request, parse_optional_int
from apps.teams.services import get_team_for_user

NONE = "—"

# (field, label, unit): every figure of WeeklyMetrics, in the table's order
WEEK_FIGURES = (
    ("prs_merged", "PRs merged", ""),
    ("avg_cycle_time_hours", "Avg cycle time", " h"),
    ("avg_review_time_hours", "Avg review time", " h"),
    ("commits_count", "Commits", ""),
    ("lines_added", "Lines added", ""),
    ("lines_removed", "Lines removed", ""),
    ("revert_count", "Reverts", ""),
    ("hotfix_count", "Hotfixes", ""),
    ("ai_assisted_prs", "AI-assisted PRs", ""),
    ("surveys_completed", "Surveys answered", ""),
    ("avg_quality_rating", "Review quality", " / 3"),
    ("guess_accuracy", "Guess accuracy", "%"),
)

COPILOT_FIGURES = (
    ("days", "Days", ""),
    ("suggestions_shown", "Suggestions shown", ""),
    ("suggestions_accepted", "Accepted", ""),
    ("acceptance_rate", "Acceptance", "%"),
    ("lines_suggested", "Lines suggested", ""),
    ("lines_accepted", "Lines accepted", ""),
    ("chat_interactions", "Chats", ""),
)

SPARK_WIDTH, SPARK_HEIGHT = 120, 28


def figure(value, unit: str = "") -> str:
    return NONE if value is None else f"{value}{unit}"


def sparkline(values: list) -> str:
    """An inline SVG polyline of ``values`` (oldest first); None is a gap. Numbers only: nothing to escape."""
    numbers = [float(v) for v in values if v is not None]
    if not numbers:
        return ""
    low, high = min(numbers), max(numbers)
    span = (high - low) or 1.0
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    segments, current = [], []
    for i, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        y = SPARK_HEIGHT - 2 - (float(value) - low) / span * (SPARK_HEIGHT - 4)
        current.append(f"{i * step:.1f},{y:.1f}")
    if current:
        segments.append(current)
    shapes = "".join(
        f'<polyline points="{" ".join(points)}" />' if len(points) > 1
        else f'<circle cx="{points[0].split(",")[0]}" cy="{points[0].split(",")[1]}" r="1.5" />'
        for points in segments
    )
    return format_html(
        '<svg class="spark" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-hidden="true">{}</svg>',
        SPARK_WIDTH, SPARK_HEIGHT, SPARK_WIDTH, SPARK_HEIGHT, _safe(shapes),
    )


def _safe(markup: str):
    return mark_safe(markup)  # noqa: S308 - built above from formatted floats only


def _weeks_shown(page: dict) -> list[dt.date]:
    """Mondays from the member's first week with a row to the range's last, oldest first."""
    starts = [row["week_start"] for row in page["weeks"]] + [row["week_start"] for row in page["copilot_weeks"]]
    first = min(starts, default=page["last_week"])
    count = (page["last_week"] - first).days // 7 + 1
    return [first + dt.timedelta(weeks=n) for n in range(count)]


def _table_rows(rows) -> str:
    """``<tr>`` per ``(week_start, cells)``, every cell escaped (the standard library's ``html.escape``):
    a template loop, or ``format_html`` per cell, over 104 weeks x 12 figures took most of the page's time."""
    return mark_safe(  # noqa: S308 - every value below is escaped
        "\n".join(
            f'<tr><th scope="row">{week_start.isoformat()}</th>'
            + "".join(f'<td class="num">{escape(cell)}</td>' for cell in cells)
            + "</tr>"
            for week_start, cells in rows
        )
    )


def _context(team, page: dict, weeks: int) -> dict:
    mondays = _weeks_shown(page)
    by_week = {row["week_start"]: row for row in page["weeks"]}
    copilot_by_week = {row["week_start"]: row for row in page["copilot_weeks"]}
    newest = max(by_week, default=None)
    charts = []
    for field, label, unit in WEEK_FIGURES:
        series = [by_week[m][field] if m in by_week else None for m in mondays]
        latest = by_week[newest][field] if newest else None  # the newest week with a row, "—" when empty
        numbers = [v for v in series if v is not None]
        total = sum(numbers) if numbers and field not in _AVERAGES else None
        charts.append({
            "label": label, "svg": sparkline(series), "latest": figure(latest, unit),
            "total": None if total is None else figure(total, unit),
        })
    acceptance = [copilot_by_week[m]["acceptance_rate"] if m in copilot_by_week else None for m in mondays]
    charts.append({"label": "Copilot acceptance", "svg": sparkline(acceptance),
                   "latest": figure(next((v for v in reversed(acceptance) if v is not None), None), "%"),
                   "total": None})
    week_rows = _table_rows(
        (m, [figure(by_week[m][field], unit) if m in by_week else NONE for field, _, unit in WEEK_FIGURES])
        for m in reversed(mondays)
    )
    copilot_rows = _table_rows(
        (row["week_start"], [figure(row[field], unit) for field, _, unit in COPILOT_FIGURES])
        for row in page["copilot_weeks"]
    )
    return {
        "team": team,
        "member": page["member"],
        "weeks_param": weeks,
        "first_week": page["first_week"],
        "last_week": page["last_week"],
        "last_day": page["last_week"] + dt.timedelta(days=6),
        "charts": charts,
        "week_headers": [(label, unit.strip()) for _, label, unit in WEEK_FIGURES],
        "week_rows": week_rows,
        "has_weeks": bool(page["weeks"]),
        "copilot_headers": [label for _, label, _ in COPILOT_FIGURES],
        "copilot_rows": copilot_rows,
        "recent_prs": [{**pr, "state_label": PullRequest.State(pr["state"]).label} for pr in page["recent_prs"]],
        "recent_reviews": [
            {**review, "state_label": PRReview.State(review["state"]).label} for review in page["recent_reviews"]
        ],
        "week_choices": [w for w in (4, 13, 26, 52, 104) if w <= MAX_WEEKS],
    }


_AVERAGES = {"avg_cycle_time_hours", "avg_review_time_hours", "avg_quality_rating", "guess_accuracy"}


@require_GET
def member(request, team_slug: str, member_id: int):
    team = get_team_for_user(request.user, team_slug)
    try:
        weeks = parse_optional_int(request.GET, "weeks") or DEFAULT_WEEKS
        if weeks > MAX_WEEKS:
            raise InvalidParameter(f"weeks must be at most {MAX_WEEKS} (two years), not {weeks}")
    except InvalidParameter as error:
        return bad_request(error)
    try:
        page = get_member_page(team, member_id, weeks=weeks)
    except MemberNotFound:
        raise Http404("No such member.") from None
    return render(request, "metrics/member.html", _context(team, page, weeks))
