"""The dashboard's chart data: each series is ONE statement, aggregated in PostgreSQL.

All three read the team's merged PRs whose ``merged_at`` falls in the range (inclusive UTC days,
``apps.metrics.services.dates.range_bounds``; never ``__date``).

- ``weekly_cycle_time``: per ISO week (Monday start, ``DATE_TRUNC('week')`` of ``merged_at`` in UTC),
  the PRs merged and their average cycle time in hours.
- ``weekly_ai_share``: per week, the answered surveys on PRs merged that week and the share of
  them the author called AI-assisted (0-100), None when none was answered.
- ``pr_size_distribution``: PRs per size bucket of ``additions + deletions``; every bucket is
  present, 0 when empty.

Weeks: every week of the range is returned, in order, from the Monday of the start's week to
the Monday of the end's week; a week without merged PRs has a count of 0 and a None average
(the charts draw a gap there). The first and last weeks may be partial: only the days inside
the range count. Filling the empty weeks is a walk over at most 105 dates, not over rows.

Values are rounded by ``apps.metrics.services.numbers`` like every other figure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Avg, Count, DateField, F, Q
from django.db.models.functions import TruncWeek

from apps.metrics.models import PullRequest
from apps.metrics.services.dates import monday_of, range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.metrics.services.percentiles import HUNDREDTHS, from_scaled, percentile_of_hundredths


def merged_in_range(team, start_date: dt.date, end_date: dt.date):
    """The team's PRs merged in the range: the rows every chart aggregates. No ordering."""
    lower, upper = range_bounds(start_date, end_date)
    return PullRequest.objects.filter(
        team=team, state=PullRequest.State.MERGED, merged_at__gte=lower, merged_at__lt=upper
    ).order_by()


def weeks_of(start_date: dt.date, end_date: dt.date) -> list[dt.date]:
    """The Mondays of every ISO week the range touches, in order."""
    first, last = monday_of(start_date), monday_of(end_date)
    return [first + dt.timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _by_week(team, start_date: dt.date, end_date: dt.date, **figures) -> dict[dt.date, dict]:
    """``{monday: {figure: value}}`` for weeks with merged PRs: one grouped statement."""
    rows = (
        merged_in_range(team, start_date, end_date)
        .annotate(week=TruncWeek("merged_at", output_field=DateField(), tzinfo=dt.UTC))
        .values("week")
        .annotate(**figures)
        .order_by("week")
    )
    return {row.pop("week"): row for row in rows}


def weekly_cycle_time(team, start_date: dt.date, end_date: dt.date) -> list[dict]:
    """``[{"week": monday, "prs_merged": int, "median_cycle_time", "avg_cycle_time": Decimal | None}]``, every week
    of the range; the median is PostgreSQL's ``percentile_cont`` (``percentiles``), in the same statement."""
    found = _by_week(
        team,
        start_date,
        end_date,
        prs=Count("id"),
        median=percentile_of_hundredths(0.5, "cycle_time_hours"),
        cycle=Avg("cycle_time_hours"),
    )
    empty = {"prs": 0, "median": None, "cycle": None}
    return [
        {
            "week": week,
            "prs_merged": row["prs"],
            "median_cycle_time": from_scaled(row["median"], HUNDREDTHS),
            "avg_cycle_time": two_places(row["cycle"]),
        }
        for week, row in ((week, found.get(week, empty)) for week in weeks_of(start_date, end_date))
    ]


def weekly_ai_share(team, start_date: dt.date, end_date: dt.date) -> list[dict]:
    """``[{"week", "answered": int, "ai_assisted": int, "ai_assisted_pct": Decimal | None}]``, every week.

    A survey is one-to-one with its PR, so joining it does not inflate anything; unanswered
    surveys (``author_ai_assisted`` null) and PRs without a survey are not counted.
    """
    found = _by_week(
        team,
        start_date,
        end_date,
        answered=Count("survey", filter=Q(survey__author_ai_assisted__isnull=False)),
        ai=Count("survey", filter=Q(survey__author_ai_assisted=True)),
    )
    empty = {"answered": 0, "ai": 0}
    return [
        {
            "week": week,
            "answered": row["answered"],
            "ai_assisted": row["ai"],
            "ai_assisted_pct": percent(row["ai"], row["answered"]),
        }
        for week, row in ((week, found.get(week, empty)) for week in weeks_of(start_date, end_date))
    ]


@dataclass(frozen=True)
class SizeBucket:
    name: str
    lower: int  # lines changed, inclusive
    upper: int | None  # exclusive; None = no limit

    @property
    def description(self) -> str:
        if self.upper is None:
            return f"{self.lower}+ lines"
        if self.lower == 0:
            return f"<{self.upper} lines"
        return f"{self.lower}-{self.upper - 1} lines"

    def condition(self) -> Q:
        condition = Q(lines_changed__gte=self.lower)
        if self.upper is not None:
            condition &= Q(lines_changed__lt=self.upper)
        return condition


SIZE_BUCKETS = (
    SizeBucket("XS", 0, 10),
    SizeBucket("S", 10, 50),
    SizeBucket("M", 50, 250),
    SizeBucket("L", 250, 1000),
    SizeBucket("XL", 1000, None),
)


def pr_size_distribution(team, start_date: dt.date, end_date: dt.date) -> list[dict]:
    """``[{"bucket": "XS", "description": "<10 lines", "prs": int}, ...]``: all five buckets, in size order.

    One statement: a conditional count per bucket over ``additions + deletions``.
    """
    counts = (
        merged_in_range(team, start_date, end_date)
        .annotate(lines_changed=F("additions") + F("deletions"))
        .aggregate(**{bucket.name: Count("id", filter=bucket.condition()) for bucket in SIZE_BUCKETS})
    )
    return [
        {"bucket": bucket.name, "description": bucket.description, "prs": counts[bucket.name]}
        for bucket in SIZE_BUCKETS
    ]
