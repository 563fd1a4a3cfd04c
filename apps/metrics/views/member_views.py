"""A member's page: their weeks from the weekly rollup (a sparkline per figure and a table), recent PRs and
reviews given, Copilot usage per week.

Thin: ``get_team_for_user`` (404 for a team the user is not a member of), ``?weeks=`` (1 to 104, default
104; anything else is a 400 with the reason), one ``member_service.get_member_page`` (4 statements; a
member of another team or an unknown id is a 404), a render. The charts are inline SVG drawn on the server
(``templatetags.member_page``): no JavaScript.

Statements: session, user, team, and the service's 4 — the same for any number of weeks, PRs or reviews.
"""

from __future__ import annotations

import datetime as dt

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.metrics.models import PRReview, PullRequest
from apps.metrics.services.member_service import DEFAULT_WEEKS, MAX_WEEKS, MemberNotFound, get_member_page
from apps.metrics.templatetags.member_page import NONE, figure, sparkline, table_rows
from apps.metrics.views.params import InvalidParameter, parse_optional_int
from apps.teams.services import get_team_for_user

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

def _weeks_shown(page: dict) -> list[dt.date]:
    """Mondays from the member's first week with a row to the range's last, oldest first."""
    starts = [row["week_start"] for row in page["weeks"]] + [row["week_start"] for row in page["copilot_weeks"]]
    first = min(starts, default=page["last_week"])
    count = (page["last_week"] - first).days // 7 + 1
    return [first + dt.timedelta(weeks=n) for n in range(count)]


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
    week_rows = table_rows(
        (m, [figure(by_week[m][field], unit) if m in by_week else NONE for field, _, unit in WEEK_FIGURES])
        for m in reversed(mondays)
    )
    copilot_rows = table_rows(
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
    except InvalidParameter as error:  # in the site's layout, as the middleware answers a NUL
        return render(request, "400.html", {"reason": error}, status=400)
    try:
        page = get_member_page(team, member_id, weeks=weeks)
    except MemberNotFound:
        raise Http404("No such member.") from None
    return render(request, "metrics/member.html", _context(team, page, weeks))
