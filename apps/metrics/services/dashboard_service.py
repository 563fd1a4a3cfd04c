"""The dashboard's reads: team breakdown, key metrics, and the period comparison.

Each aggregates in PostgreSQL in a fixed number of statements, whatever the team's size:

- ``get_team_breakdown``: 2 statements (members annotated through a filtered join to their
  merged PRs in the range; survey-review ratings grouped by author).
- ``get_key_metrics``: 2 statements cold (PR figures; survey-review ratings), 0 warm (Redis).
- ``get_key_metrics_comparison``: the same 2 statements for both periods at once
  (conditional aggregation), 0 warm.

Ranges are inclusive calendar days in UTC (``apps.metrics.services.dates``). Values are rounded
by ``apps.metrics.services.numbers``, as in the baselines they replace.
"""

from __future__ import annotations

import datetime as dt

from django.core.cache import cache
from django.db.models import Avg, Count, FilteredRelation, Q

from apps.metrics.models import PRSurveyReview, PullRequest, TeamMember
from apps.metrics.models.team import avatar_url_for
from apps.metrics.services.dates import previous_period, range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.metrics.services.team_cache import KEY_METRICS_TIMEOUT, figures_key

Period = tuple[dt.date, dt.date]


# --- team breakdown ---------------------------------------------------------------------------


def get_team_breakdown(team, start_date: dt.date, end_date: dt.date) -> list[dict]:
    """One row per member who is active or merged a PR in the range, by display name then id.

    Two statements: members with their PR figures, then survey-review ratings per author.
    PRs without an author are not anyone's row.
    """
    lower, upper = range_bounds(start_date, end_date)
    merged_in_range = Q(
        pull_requests__state=PullRequest.State.MERGED,
        pull_requests__merged_at__gte=lower,
        pull_requests__merged_at__lt=upper,
    )
    members = (
        TeamMember.objects.filter(team=team)
        # the range goes into the JOIN's ON clause, so members without PRs stay (LEFT JOIN)
        .annotate(merged=FilteredRelation("pull_requests", condition=merged_in_range))
        .annotate(
            prs_merged=Count("merged"),
            avg_cycle=Avg("merged__cycle_time_hours"),
            avg_review=Avg("merged__review_time_hours"),
            # a survey is one-to-one with its PR: joining it does not inflate the counts
            surveys_answered=Count("merged__survey", filter=Q(merged__survey__author_ai_assisted__isnull=False)),
            surveys_ai=Count("merged__survey", filter=Q(merged__survey__author_ai_assisted=True)),
        )
        .filter(Q(is_active=True) | Q(prs_merged__gt=0))
        .order_by("display_name", "id")
        .values(
            "id", "display_name", "github_username", "github_id", "prs_merged", "avg_cycle", "avg_review",
            "surveys_answered", "surveys_ai",
        )
    )
    # Survey reviews are many per PR: joined into the query above they would inflate every
    # count, so their average comes from a second, grouped statement.
    ratings = dict(
        PRSurveyReview.objects.filter(
            survey__pull_request__team=team,
            survey__pull_request__state=PullRequest.State.MERGED,
            survey__pull_request__merged_at__gte=lower,
            survey__pull_request__merged_at__lt=upper,
            survey__pull_request__author__isnull=False,
        )
        .order_by()
        .values("survey__pull_request__author")
        .annotate(rating=Avg("quality_rating"))
        .values_list("survey__pull_request__author", "rating")
    )
    return [
        {
            "member_id": m["id"],
            "display_name": m["display_name"],
            "github_username": m["github_username"],
            "avatar_url": avatar_url_for(m["github_username"], m["github_id"]),
            "prs_merged": m["prs_merged"],
            "avg_cycle_time": two_places(m["avg_cycle"]),
            "avg_review_time": two_places(m["avg_review"]),
            "ai_assisted_pct": percent(m["surveys_ai"], m["surveys_answered"]),
            "avg_quality_rating": two_places(ratings.get(m["id"])),
        }
        for m in members
    ]


# --- key metrics ------------------------------------------------------------------------------


def _period_filter(prefix: str, period: Period) -> Q:
    lower, upper = range_bounds(*period)
    return Q(**{f"{prefix}merged_at__gte": lower, f"{prefix}merged_at__lt": upper})


def compute_key_metrics(team, periods: list[Period]) -> list[dict]:
    """Key metrics of several periods in two statements, by conditional aggregation; never cached.

    What a cache miss runs: notebooks and benchmarks call it to measure the cold path.
    """
    earliest = min(start for start, _ in periods)
    latest = max(end for _, end in periods)
    prs = PullRequest.objects.filter(team=team, state=PullRequest.State.MERGED).filter(
        _period_filter("", (earliest, latest))
    )
    pr_figures = {}
    rating_figures = {}
    for i, period in enumerate(periods):
        in_period = _period_filter("", period)
        pr_figures |= {
            f"merged_{i}": Count("id", filter=in_period),
            f"cycle_{i}": Avg("cycle_time_hours", filter=in_period),
            f"review_{i}": Avg("review_time_hours", filter=in_period),
            f"answered_{i}": Count("survey", filter=in_period & Q(survey__author_ai_assisted__isnull=False)),
            f"ai_{i}": Count("survey", filter=in_period & Q(survey__author_ai_assisted=True)),
        }
        rating_figures[f"rating_{i}"] = Avg("quality_rating", filter=_period_filter("survey__pull_request__", period))
    pr_row = prs.aggregate(**pr_figures)
    rating_row = PRSurveyReview.objects.filter(
        survey__pull_request__team=team,
        survey__pull_request__state=PullRequest.State.MERGED,
    ).filter(_period_filter("survey__pull_request__", (earliest, latest))).aggregate(**rating_figures)
    return [
        {
            "prs_merged": pr_row[f"merged_{i}"],
            "avg_cycle_time": two_places(pr_row[f"cycle_{i}"]),
            "avg_review_time": two_places(pr_row[f"review_{i}"]),
            "ai_assisted_pct": percent(pr_row[f"ai_{i}"], pr_row[f"answered_{i}"]),
            "avg_quality_rating": two_places(rating_row[f"rating_{i}"]),
        }
        for i in range(len(periods))
    ]


def _cached(kind: str, team, periods: list[Period]) -> list[dict]:
    key = figures_key(kind, team.id, *periods)
    figures = cache.get(key)
    if figures is None:
        figures = compute_key_metrics(team, periods)
        cache.set(key, figures, KEY_METRICS_TIMEOUT)
    return figures


def get_key_metrics(team, start_date: dt.date, end_date: dt.date) -> dict:
    """``prs_merged``, ``avg_cycle_time``, ``avg_review_time``, ``ai_assisted_pct``, ``avg_quality_rating``.

    Cached in Redis for 5 minutes under the team's data version: 2 statements cold, 0 warm.
    """
    (figures,) = _cached("key-metrics", team, [(start_date, end_date)])
    return figures


def get_key_metrics_comparison(team, start_date: dt.date, end_date: dt.date) -> dict:
    """The range and the period of equal length before it, in one round of 2 statements.

    ``{"current": ..., "previous": ..., "previous_range": (start, end)}``; each equals
    ``get_key_metrics`` of its period.
    """
    previous = previous_period(start_date, end_date)
    current_figures, previous_figures = _cached("key-metrics-pair", team, [(start_date, end_date), previous])
    return {"current": current_figures, "previous": previous_figures, "previous_range": previous}


def change(current, previous) -> dict:
    """The change of one figure against the previous period: absolute and, where defined, percent."""
    if current is None or previous is None:
        return {"delta": None, "percent": None}
    delta = current - previous
    return {"delta": delta, "percent": percent(delta, previous) if previous else None}

