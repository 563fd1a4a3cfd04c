"""Request parameters shared by the dashboard, chart and PR-list views: parsed once, 400 on bad input.

``team_and_range`` is the request handling those views share: the team (404 unless the user is a
member), then the range, a bad one answered in the view's own form (``json_error``, ``fragment_error``
or the page's own) with HTTP 400.

Every value is checked before anything is read: a parameter given twice, a date outside
``EARLIEST_DAY``..``LATEST_DAY`` (so no range, previous period or day after can overflow), a
number that is not a positive whole number in ASCII digits, or text with control characters
(PostgreSQL text cannot hold NUL) is an ``InvalidParameter`` whose message the user can act on.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.teams.services import get_team_for_user

DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years, a leap day included
# Git began in 2005; any range, its previous period and the day after its end stay representable.
EARLIEST_DAY = dt.date(1970, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)
MAX_NUMBER = 2**63 - 1  # PostgreSQL's bigint
_SHOWN_CHARACTERS = 40
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_DIGITS = re.compile(r"[0-9]+")


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


def shown(value: str) -> str:
    """The value as a message quotes it: repr, cut short."""
    if len(value) > _SHOWN_CHARACTERS:
        return repr(value[:_SHOWN_CHARACTERS]) + f" (and {len(value) - _SHOWN_CHARACTERS} more characters)"
    return repr(value)


def single_value(params, name: str) -> str | None:
    """The parameter's one value, None when absent; given more than once it is refused, not guessed."""
    values = params.getlist(name) if hasattr(params, "getlist") else [params[name]] if name in params else []
    if len(values) > 1:
        raise InvalidParameter(f"{name} is given {len(values)} times; give it once")
    return values[0] if values else None


def parse_text(params, name: str, *, max_length: int) -> str | None:
    """Free text (stripped), None when empty; control characters and overlong values are refused."""
    value = (single_value(params, name) or "").strip()
    if not value:
        return None
    if _CONTROL_CHARACTERS.search(value):
        raise InvalidParameter(f"{name} must not contain control characters, not {shown(value)}")
    if len(value) > max_length:
        raise InvalidParameter(f"{name} is at most {max_length} characters, not {len(value)}")
    return value


def _parse_day(name: str, value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(f"{name} must be a date as YYYY-MM-DD, not {shown(value)}") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidParameter(f"{name} must be between {EARLIEST_DAY} and {LATEST_DAY}, not {day}")
    return day


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def parse_date_range(params, *, today: dt.date | None = None) -> DateRange:
    """``?start=&end=`` (inclusive days, UTC); by default the last 30 days ending today."""
    today = today or today_utc()
    start_text, end_text = single_value(params, "start"), single_value(params, "end")
    end = _parse_day("end", end_text) if end_text else today
    if start_text:
        start = _parse_day("start", start_text)
    else:
        start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start < EARLIEST_DAY:
            raise InvalidParameter(f"end must be {DEFAULT_DAYS - 1} days after {EARLIEST_DAY} when start is not given")
    if end < start:
        raise InvalidParameter(f"end ({end}) is before start ({start})")
    date_range = DateRange(start, end)
    if date_range.days > MAX_DAYS:
        raise InvalidParameter(f"the range is {date_range.days} days; at most {MAX_DAYS} (two years) are allowed")
    return date_range


def parse_optional_int(params, name: str) -> int | None:
    value = single_value(params, name)
    if value in (None, ""):
        return None
    # int() would take " 7", "7_0" and full-width digits: a number here is ASCII digits only.
    if not _ASCII_DIGITS.fullmatch(value):
        raise InvalidParameter(f"{name} must be a positive whole number, not {shown(value)}")
    number = int(value)
    if number < 1:
        raise InvalidParameter(f"{name} must be a positive whole number, not {number}")
    if number > MAX_NUMBER:
        raise InvalidParameter(f"{name} must be at most {MAX_NUMBER}")
    return number


def parse_choice(params, name: str, choices, *, default: str | None = None) -> str | None:
    """One of ``choices``, ``default`` when absent or empty."""
    value = single_value(params, name) or None
    if value is None:
        return default
    if value not in choices:
        raise InvalidParameter(f"{name} must be one of {', '.join(choices)}, not {shown(value)}")
    return value


def team_and_range(on_error):
    """``view(request, team, date_range)`` for a GET with ``?start=&end=``: access first, then the range.

    A bad range is answered by ``on_error(request, team, error)`` (HTTP 400), in the view's own form.
    """

    def decorate(view):
        @require_GET
        @functools.wraps(view)
        def wrapper(request, team_slug: str, **kwargs):
            team = get_team_for_user(request.user, team_slug)
            try:
                date_range = parse_date_range(request.GET)
            except InvalidParameter as error:
                return on_error(request, team, error)
            return view(request, team, date_range, **kwargs)

        return wrapper

    return decorate


def json_error(request, team, error: InvalidParameter) -> JsonResponse:
    return JsonResponse({"error": f"Bad request: {error}"}, status=400)


def fragment_error(request, team, error: InvalidParameter):
    return render(request, "metrics/partials/error.html", {"error": error}, status=400)
