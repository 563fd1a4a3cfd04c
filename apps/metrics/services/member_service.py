"""One member's page: their weeks from the weekly rollup, recent PRs and reviews, Copilot usage.

``get_member_page(team, member_id, weeks=104)`` reads, in 4 statements whatever the number of weeks,
PRs or reviews:

1. the member (of this team) LEFT JOINed to their ``WeeklyMetrics`` rows of the range: one row per
   week, or one row of nulls when the rollup has none (so an unknown member and a member without weeks
   differ without a second statement); served by the (team, member, week_start) unique index;
2. their last 20 authored PRs (by creation, newest first), whatever their state;
3. their last 20 reviews given (by submission, newest first), each with its PR's title and repository
   (a join, not a lookup per review);
4. their Copilot usage (``AIUsageDaily``, source copilot) summed per ISO week over the same range.

The range is the ``weeks`` complete weeks (Monday to Sunday, UTC) that end with the last complete week
(``aggregation_service.last_complete_week``): the weeks the Monday aggregation has written. Weekly rows
and Copilot weeks come newest first, and only weeks that exist: a week the rollup never wrote (before the
member joined, while inactive) has no row, a week without Copilot usage has no Copilot row.

Another team's member, an unknown id, or an id no database row can have is ``MemberNotFound`` after at
most that first statement: the caller answers 404.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, FilteredRelation, Q, Sum
from django.db.models.functions import TruncWeek

from apps.metrics.models import AIUsageDaily, PRReview, PullRequest, TeamMember
from apps.metrics.models.team import avatar_url_for, initials_for
from apps.metrics.services.aggregation_service import FIGURE_FIELDS, last_complete_week
from apps.metrics.services.numbers import percent

DEFAULT_WEEKS = 104  # two years
MAX_WEEKS = 104
RECENT = 20  # PRs and reviews listed
MAX_ID = 2**63 - 1  # bigint: a larger id matches nothing (and would not reach PostgreSQL as a number)

MEMBER_FIELDS = ("id", "display_name", "email", "github_username", "github_id", "is_active", "is_bot", "role")
WEEK_FIELDS = ("week_start", *FIGURE_FIELDS)
PR_FIELDS = (
    "id", "github_repo", "github_pr_id", "title", "state", "pr_created_at", "merged_at", "closed_at",
    "cycle_time_hours", "review_time_hours", "additions", "deletions", "is_ai_assisted",
)
REVIEW_FIELDS = ("id", "state", "submitted_at")
REVIEWED_PR_FIELDS = ("id", "github_repo", "github_pr_id", "title", "state")
COPILOT_SUMS = ("suggestions_shown", "suggestions_accepted", "lines_suggested", "lines_accepted", "chat_interactions")


class MemberNotFound(LookupError):
    """No member with this id on this team (another team's, unknown, or impossible): a 404."""


def week_range(weeks: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """``(first Monday, last Monday)`` of the ``weeks`` complete weeks ending with the last complete one."""
    if not isinstance(weeks, int) or isinstance(weeks, bool) or not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be a whole number from 1 to {MAX_WEEKS}, not {weeks!r}")
    last = last_complete_week(today)
    return last - dt.timedelta(weeks=weeks - 1), last


def _member_with_weeks(team_id: int, member_id: int, first: dt.date, last: dt.date) -> list[dict]:
    in_range = Q(weekly_metrics__team_id=team_id, weekly_metrics__week_start__gte=first,
                 weekly_metrics__week_start__lte=last)
    return list(
        TeamMember.objects.filter(team_id=team_id, pk=member_id)
        .annotate(week=FilteredRelation("weekly_metrics", condition=in_range))
        .order_by(F("week__week_start").desc(nulls_last=True))
        .values(*MEMBER_FIELDS, *(f"week__{field}" for field in WEEK_FIELDS))
    )


def _recent_prs(team_id: int, member_id: int) -> list[dict]:
    return list(
        PullRequest.objects.filter(team_id=team_id, author_id=member_id)
        .order_by("-pr_created_at", "-id")
        .values(*PR_FIELDS)[:RECENT]
    )


def _recent_reviews(team_id: int, member_id: int) -> list[dict]:
    rows = (
        PRReview.objects.filter(team_id=team_id, reviewer_id=member_id)
        .order_by("-submitted_at", "-id")
        .values(*REVIEW_FIELDS, *(f"pull_request__{field}" for field in REVIEWED_PR_FIELDS),
                "pull_request__author__display_name")[:RECENT]
    )
    return [
        {
            **{field: row[field] for field in REVIEW_FIELDS},
            "pull_request": {field: row[f"pull_request__{field}"] for field in REVIEWED_PR_FIELDS},
            "pr_author": row["pull_request__author__display_name"],  # None: an unknown author
        }
        for row in rows
    ]


def _copilot_weeks(team_id: int, member_id: int, first: dt.date, last: dt.date) -> list[dict]:
    rows = (
        AIUsageDaily.objects.filter(
            team_id=team_id, member_id=member_id, source=AIUsageDaily.Source.COPILOT,
            date__gte=first, date__lte=last + dt.timedelta(days=6),
        )
        .annotate(week_start=TruncWeek("date"))
        .order_by("-week_start")
        .values("week_start")
        .annotate(days=Count("id"), **{field: Sum(field) for field in COPILOT_SUMS})
    )
    return [copilot_week(row) for row in rows]


def copilot_week(row: dict) -> dict:
    """A week's sums with ``acceptance_rate`` (accepted / shown, percent; None when nothing was shown)."""
    week_start = row["week_start"]
    if isinstance(week_start, dt.datetime):
        week_start = week_start.date()
    return {
        "week_start": week_start,
        "days": row["days"],
        **{field: row[field] or 0 for field in COPILOT_SUMS},
        "acceptance_rate": percent(row["suggestions_accepted"] or 0, row["suggestions_shown"] or 0),
    }


def member_dict(row: dict) -> dict:
    member = {field: row[field] for field in MEMBER_FIELDS}
    member["initials"] = initials_for(member["display_name"], member["github_username"])
    member["avatar_url"] = avatar_url_for(member["github_username"], member["github_id"])
    return member


def get_member_page(team, member_id: int, *, weeks: int = DEFAULT_WEEKS, today: dt.date | None = None) -> dict:
    """``{"member", "first_week", "last_week", "weeks", "recent_prs", "recent_reviews", "copilot_weeks"}``.

    ``weeks``: ``{"week_start", <FIGURE_FIELDS>}`` per ``WeeklyMetrics`` row, newest first; ``recent_prs``:
    ``PR_FIELDS``, newest first; ``recent_reviews``: ``{"id", "state", "submitted_at", "pull_request":
    {REVIEWED_PR_FIELDS}, "pr_author"}``, newest first; ``copilot_weeks``: ``{"week_start", "days",
    <COPILOT_SUMS>, "acceptance_rate"}``, newest first. Four statements; ``MemberNotFound`` after one.
    """
    first, last = week_range(weeks, today)
    if not isinstance(member_id, int) or not 1 <= member_id <= MAX_ID:
        raise MemberNotFound(member_id)
    rows = _member_with_weeks(team.id, member_id, first, last)
    if not rows:
        raise MemberNotFound(member_id)
    return {
        "member": member_dict(rows[0]),
        "first_week": first,
        "last_week": last,
        "weeks": [
            {field: row[f"week__{field}"] for field in WEEK_FIELDS} for row in rows if row["week__week_start"]
        ],
        "recent_prs": _recent_prs(team.id, member_id),
        "recent_reviews": _recent_reviews(team.id, member_id),
        "copilot_weeks": _copilot_weeks(team.id, member_id, first, last),
    }
