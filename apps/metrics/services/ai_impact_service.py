"""AI impact: cycle time, review time and PR size of AI-assisted PRs against the others, as medians.

The PRs are the team's merged in the range (inclusive UTC days, ``apps.metrics.services.dates``),
bots' left out (an author with ``is_bot``; a PR without an author, a deleted account, stays). They
fall in three groups by their author's survey answer:

- ``ai_assisted``: the author answered "AI-assisted";
- ``not_ai_assisted``: the author answered "not AI-assisted";
- ``unanswered``: no survey, or a survey not answered. Kept apart: it is not "not AI-assisted".

Each group has ``prs`` (its count) and, for ``cycle_time`` (hours, created to merged), ``review_time``
(hours, created to first review) and ``pr_size`` (additions + deletions), the ``count`` of PRs with
that figure, the ``median`` and the 75th percentile ``p75``. A PR never reviewed has no review time:
it counts in ``prs`` but not in ``review_time.count``. A group without values has ``None`` medians, not 0.

The percentiles are PostgreSQL's ``percentile_cont`` (linear interpolation between the two nearest
values, ``apps.metrics.services.percentiles``), computed over hundredths of an hour so the interpolation
is exact; values are rounded to two places, half up, by ``apps.metrics.services.numbers`` like every
other figure. ``compute_ai_impact`` is ONE statement whatever the data (conditional aggregation with
``FILTER``); ``get_ai_impact`` caches it under the team's data version: 0 statements warm.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q

from apps.metrics.models import PullRequest
from apps.metrics.services.compiled import CompiledQuery
from apps.metrics.services.dates import range_bounds
from apps.metrics.services.percentiles import HUNDREDTHS, PercentileCont, from_scaled
from apps.metrics.services.team_cache import cached_figures

GROUPS = {
    "ai_assisted": Q(survey__author_ai_assisted=True),
    "not_ai_assisted": Q(survey__author_ai_assisted=False),
    # no survey (the LEFT JOIN finds none) or a survey not answered
    "unanswered": Q(survey__author_ai_assisted__isnull=True),
}

# figure -> (expression ordered by the percentiles, divisor back to the figure's unit, counted column)
FIGURES = {
    "cycle_time": (F("cycle_time_hours") * HUNDREDTHS, HUNDREDTHS, "cycle_time_hours"),
    "review_time": (F("review_time_hours") * HUNDREDTHS, HUNDREDTHS, "review_time_hours"),
    "pr_size": (F("additions") + F("deletions"), 1, "additions"),
}
FRACTIONS = {"median": 0.5, "p75": 0.75}


def _impact_rows(team_id: int, lower: dt.datetime, upper: dt.datetime):
    columns = {}
    for group, in_group in GROUPS.items():
        columns[f"{group}__prs"] = Count("id", filter=in_group)
        for figure, (ordered_by, _, counted) in FIGURES.items():
            columns[f"{group}__{figure}__count"] = Count(counted, filter=in_group)
            for name, fraction in FRACTIONS.items():
                columns[f"{group}__{figure}__{name}"] = PercentileCont(fraction, ordered_by, filter=in_group)
    return (
        PullRequest.objects.filter(
            team_id=team_id, state=PullRequest.State.MERGED, merged_at__gte=lower, merged_at__lt=upper
        )
        # bots are not people asked about AI (dashboard_service leaves them out the same way)
        .filter(Q(author__isnull=True) | Q(author__is_bot=False))
        .order_by()
        # grouped by the (one) team: a single row, or none when nothing merged in the range
        .values("team_id")
        .annotate(**columns)
    )


_IMPACT = CompiledQuery(_impact_rows, team_id=int, lower=dt.datetime, upper=dt.datetime)


def compute_ai_impact(team, start_date: dt.date, end_date: dt.date) -> dict:
    """``{group: {"prs": n, figure: {"count", "median", "p75"}}}`` for the three groups in one statement; never cached.

    What a cache miss runs: notebooks and benchmarks call it to measure the cold path.
    """
    lower, upper = range_bounds(start_date, end_date)
    row = next(iter(_IMPACT.rows(team_id=team.id, lower=lower, upper=upper)), {})
    impact = {}
    for group in GROUPS:
        figures = {"prs": row.get(f"{group}__prs", 0)}
        for figure, (_, divisor, _) in FIGURES.items():
            figures[figure] = {"count": row.get(f"{group}__{figure}__count", 0)} | {
                name: from_scaled(row.get(f"{group}__{figure}__{name}"), divisor) for name in FRACTIONS
            }
        impact[group] = figures
    return impact


def get_ai_impact(team, start_date: dt.date, end_date: dt.date) -> dict:
    """``compute_ai_impact``, cached in Redis for 5 minutes under the team's data version: 1 statement cold, 0 warm."""
    period = (start_date, end_date)
    return cached_figures("ai-impact", team.id, [period], lambda: compute_ai_impact(team, *period))
