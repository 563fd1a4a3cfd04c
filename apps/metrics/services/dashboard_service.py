"""The dashboard's reads: team breakdown, key metrics, and the period comparison.

Each aggregates in PostgreSQL in a fixed number of statements, whatever the team's size:

- ``get_team_breakdown``: 1 statement (members annotated through a filtered join to their
  merged PRs in the range, and a correlated subquery for survey-review ratings).
- ``get_key_metrics``: 2 statements cold (PR figures; survey-review ratings), 0 warm (Redis).
- ``get_key_metrics_comparison``: the same 2 statements for both periods at once
  (conditional aggregation), 0 warm.

Ranges are inclusive calendar days in UTC (``apps.metrics.services.dates``). Values are rounded
by ``apps.metrics.services.numbers``, as in the baselines they replace.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Avg, Count, F, FilteredRelation, OuterRef, Q, Subquery

from apps.metrics.models import PRSurveyReview, PullRequest, TeamMember
from apps.metrics.models.team import avatar_url_for
from apps.metrics.services.compiled import CompiledQuery
from apps.metrics.services.dates import previous_period, range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.metrics.services.percentiles import HUNDREDTHS, from_scaled, percentile_of_hundredths
from apps.metrics.services.team_cache import cached_figures

Period = tuple[dt.date, dt.date]


# --- team breakdown ---------------------------------------------------------------------------


def _members_with_figures(team_id: int, lower: dt.datetime, upper: dt.datetime):
    merged_in_range = Q(
        pull_requests__state=PullRequest.State.MERGED,
        pull_requests__merged_at__gte=lower,
        pull_requests__merged_at__lt=upper,
    )
    # Survey reviews are many per PR: joined into the members' query they would inflate every
    # count, so their average is a correlated subquery per member (served by the
    # (author, state, merged_at) index; measured faster than a second, grouped statement).
    ratings = (
        PRSurveyReview.objects.filter(
            survey__pull_request__author=OuterRef("pk"),
            survey__pull_request__state=PullRequest.State.MERGED,
            survey__pull_request__merged_at__gte=lower,
            survey__pull_request__merged_at__lt=upper,
        )
        .order_by()
        .values("survey__pull_request__author")
        .annotate(rating=Avg("quality_rating"))
        .values("rating")
    )
    return (
        # bots (dependabot[bot], ...) are not people: their PRs count for the team, not as anyone's row
        TeamMember.objects.filter(team_id=team_id, is_bot=False)
        # the range goes into the JOIN's ON clause, so members without PRs stay (LEFT JOIN)
        .annotate(merged=FilteredRelation("pull_requests", condition=merged_in_range))
        .annotate(
            prs_merged=Count("merged"),
            avg_cycle=Avg("merged__cycle_time_hours"),
            avg_review=Avg("merged__review_time_hours"),
            median_cycle=percentile_of_hundredths(0.5, "merged__cycle_time_hours"),
            median_review=percentile_of_hundredths(0.5, "merged__review_time_hours"),
            # a survey is one-to-one with its PR: joining it does not inflate the counts
            surveys_answered=Count("merged__survey", filter=Q(merged__survey__author_ai_assisted__isnull=False)),
            surveys_ai=Count("merged__survey", filter=Q(merged__survey__author_ai_assisted=True)),
            rating=Subquery(ratings),
        )
        .filter(Q(is_active=True) | Q(prs_merged__gt=0))
        .order_by("display_name", "id")
        .values(
            "id",
            "display_name",
            "github_username",
            "github_id",
            "prs_merged",
            "avg_cycle",
            "avg_review",
            "median_cycle",
            "median_review",
            "surveys_answered",
            "surveys_ai",
            "rating",
        )
    )


_RANGE_PARAMETERS = {"team_id": int, "lower": dt.datetime, "upper": dt.datetime}
_MEMBERS_WITH_FIGURES = CompiledQuery(_members_with_figures, **_RANGE_PARAMETERS)


def get_team_breakdown(team, start_date: dt.date, end_date: dt.date) -> list[dict]:
    """One row per member who is active or merged a PR in the range, by display name then id.

    One statement, never cached (what ``cached_team_breakdown`` runs on a miss). PRs without an author are
    not anyone's row, nor are bots' (``is_bot``). Averages and medians of cycle and review time (hours).
    """
    lower, upper = range_bounds(start_date, end_date)
    members = _MEMBERS_WITH_FIGURES.rows(team_id=team.id, lower=lower, upper=upper)
    return [
        {
            "member_id": m["id"],
            "display_name": m["display_name"],
            "github_username": m["github_username"],
            "avatar_url": avatar_url_for(m["github_username"], m["github_id"]),
            "prs_merged": m["prs_merged"],
            "avg_cycle_time": two_places(m["avg_cycle"]),
            "avg_review_time": two_places(m["avg_review"]),
            "median_cycle_time": from_scaled(m["median_cycle"], HUNDREDTHS),
            "median_review_time": from_scaled(m["median_review"], HUNDREDTHS),
            "ai_assisted_pct": percent(m["surveys_ai"], m["surveys_answered"]),
            "avg_quality_rating": two_places(m["rating"]),
        }
        for m in members
    ]


def cached_team_breakdown(team, start_date: dt.date, end_date: dt.date) -> list[dict]:
    """``get_team_breakdown`` cached in Redis for 5 minutes under the team's data version: 1 statement cold, 0 warm."""
    period = (start_date, end_date)
    return cached_figures("breakdown", team.id, [period], lambda: get_team_breakdown(team, *period))


# --- key metrics ------------------------------------------------------------------------------


def _merged_between(prefix: str, lower: dt.datetime, upper: dt.datetime) -> Q:
    return Q(**{f"{prefix}merged_at__gte": lower, f"{prefix}merged_at__lt": upper})


def _period_parameters(count: int) -> dict[str, type]:
    bounds = {}
    for i in range(count):
        bounds |= {f"lower_{i}": dt.datetime, f"upper_{i}": dt.datetime}
    return {"team_id": int, "span_lower": dt.datetime, "span_upper": dt.datetime, **bounds}


def _pr_figures_query(count: int) -> CompiledQuery:
    def build(team_id, span_lower, span_upper, **bounds):
        figures = {}
        for i in range(count):
            in_period = _merged_between("", bounds[f"lower_{i}"], bounds[f"upper_{i}"])
            figures |= {
                f"merged_{i}": Count("id", filter=in_period),
                f"cycle_{i}": Avg("cycle_time_hours", filter=in_period),
                f"review_{i}": Avg("review_time_hours", filter=in_period),
                f"median_cycle_{i}": percentile_of_hundredths(0.5, "cycle_time_hours", filter=in_period),
                f"median_review_{i}": percentile_of_hundredths(0.5, "review_time_hours", filter=in_period),
                f"answered_{i}": Count("survey", filter=in_period & Q(survey__author_ai_assisted__isnull=False)),
                f"ai_{i}": Count("survey", filter=in_period & Q(survey__author_ai_assisted=True)),
            }
        # grouped by the (one) team: a single row, or none when nothing merged in the span
        return (
            PullRequest.objects.filter(team_id=team_id, state=PullRequest.State.MERGED)
            .filter(_merged_between("", span_lower, span_upper))
            .order_by()
            .values("team_id")
            .annotate(**figures)
        )

    return CompiledQuery(build, **_period_parameters(count))


def _ratings_query(count: int) -> CompiledQuery:
    def build(team_id, span_lower, span_upper, **bounds):
        figures = {
            f"rating_{i}": Avg(
                "quality_rating",
                filter=_merged_between("survey__pull_request__", bounds[f"lower_{i}"], bounds[f"upper_{i}"]),
            )
            for i in range(count)
        }
        return (
            PRSurveyReview.objects.filter(
                survey__pull_request__team_id=team_id, survey__pull_request__state=PullRequest.State.MERGED
            )
            .filter(_merged_between("survey__pull_request__", span_lower, span_upper))
            .order_by()
            .values(for_team=F("survey__pull_request__team"))
            .annotate(**figures)
        )

    return CompiledQuery(build, **_period_parameters(count))


# One compiled pair per number of periods: 1 (key metrics) and 2 (the comparison).
_KEY_METRICS_QUERIES = {count: (_pr_figures_query(count), _ratings_query(count)) for count in (1, 2)}


def compute_key_metrics(team, periods: list[Period]) -> list[dict]:
    """Key metrics of one or two periods in two statements, by conditional aggregation; never cached.

    What a cache miss runs: notebooks and benchmarks call it to measure the cold path.
    """
    if len(periods) not in _KEY_METRICS_QUERIES:
        raise ValueError(f"key metrics are computed for 1 or 2 periods at once, not {len(periods)}")
    parameters = {"team_id": team.id}
    parameters["span_lower"], _ = range_bounds(min(start for start, _ in periods), None)
    _, parameters["span_upper"] = range_bounds(None, max(end for _, end in periods))
    for i, (start, end) in enumerate(periods):
        parameters[f"lower_{i}"], parameters[f"upper_{i}"] = range_bounds(start, end)
    pr_query, ratings_query = _KEY_METRICS_QUERIES[len(periods)]
    pr_row = next(iter(pr_query.rows(**parameters)), {})
    rating_row = next(iter(ratings_query.rows(**parameters)), {})
    return [
        {
            "prs_merged": pr_row.get(f"merged_{i}", 0),
            "avg_cycle_time": two_places(pr_row.get(f"cycle_{i}")),
            "avg_review_time": two_places(pr_row.get(f"review_{i}")),
            "median_cycle_time": from_scaled(pr_row.get(f"median_cycle_{i}"), HUNDREDTHS),
            "median_review_time": from_scaled(pr_row.get(f"median_review_{i}"), HUNDREDTHS),
            "ai_assisted_pct": percent(pr_row.get(f"ai_{i}", 0), pr_row.get(f"answered_{i}", 0)),
            "avg_quality_rating": two_places(rating_row.get(f"rating_{i}")),
        }
        for i in range(len(periods))
    ]


def _cached(kind: str, team, periods: list[Period]) -> list[dict]:
    return cached_figures(kind, team.id, periods, lambda: compute_key_metrics(team, periods))


def get_key_metrics(team, start_date: dt.date, end_date: dt.date) -> dict:
    """``prs_merged``, ``avg_``/``median_cycle_time``, ``avg_``/``median_review_time``, ``ai_assisted_pct``,
    ``avg_quality_rating``.

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
