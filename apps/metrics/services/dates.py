"""Date ranges: inclusive calendar days in UTC, turned into half-open datetime bounds.

``merged_at >= start`` and ``merged_at < end + 1 day``: never ``__date``, whose cast defeats indexes.
"""

from __future__ import annotations

import datetime as dt


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def range_bounds(start: dt.date | None, end: dt.date | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``[start 00:00 UTC, end + 1 day 00:00 UTC)``; either side may be open (None)."""
    lower = day_start(start) if start else None
    upper = day_start(end + dt.timedelta(days=1)) if end else None
    return lower, upper


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period of equal length that ends the day before ``start``."""
    length = (end - start).days + 1
    return start - dt.timedelta(days=length), start - dt.timedelta(days=1)


def monday_of(day: dt.date) -> dt.date:
    """The Monday of ``day``'s ISO week."""
    return day - dt.timedelta(days=day.weekday())
