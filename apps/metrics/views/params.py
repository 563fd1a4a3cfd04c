"""Request parameters shared by the dashboard, chart and PR-list views: parsed once, 400 on bad input."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.http import HttpResponseBadRequest

DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years, a leap day included


class InvalidParameter(ValueError):
    """A query parameter the user can fix; its message is shown with HTTP 400."""


@dataclass(frozen=True)
class DateRange:
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_query(self) -> str:
        return f"start={self.start.isoformat()}&end={self.end.isoformat()}"


def _parse_day(name: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(f"{name} must be a date as YYYY-MM-DD, not {value!r}") from None


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def parse_date_range(params, *, today: dt.date | None = None) -> DateRange:
    """``?start=&end=`` (inclusive days, UTC); by default the last 30 days ending today."""
    today = today or today_utc()
    end = _parse_day("end", params["end"]) if params.get("end") else today
    start = _parse_day("start", params["start"]) if params.get("start") else end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise InvalidParameter(f"end ({end}) is before start ({start})")
    date_range = DateRange(start, end)
    if date_range.days > MAX_DAYS:
        raise InvalidParameter(f"the range is {date_range.days} days; at most {MAX_DAYS} (two years) are allowed")
    return date_range


def parse_optional_int(params, name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidParameter(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise InvalidParameter(f"{name} must be positive, not {number}")
    return number


def bad_request(error: InvalidParameter) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(f"Bad request: {error}", content_type="text/plain; charset=utf-8")
