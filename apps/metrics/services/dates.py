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


def isoformat_of_postgres_text(text: str | None) -> str:
    """PostgreSQL's text of a timestamptz, as ``datetime.isoformat()`` writes the same instant in UTC; "" for None.

    The PR export reads its two timestamps as text (``::text``): parsing 200k datetimes only to print them again
    took a third of its time. A UTC session prints ``2026-03-02 10:00:00.12+00`` (fraction trimmed);
    isoformat writes ``2026-03-02T10:00:00.120000+00:00``. Other offsets are converted to UTC.
    """
    if text is None:
        return ""
    if not text.endswith("+00"):
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC).isoformat()
    day, _, clock = text[:-3].partition(" ")
    if "." in clock:
        whole, _, fraction = clock.partition(".")
        clock = f"{whole}.{fraction.ljust(6, '0')}"
    return f"{day}T{clock}+00:00"
