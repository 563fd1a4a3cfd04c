"""GitHub Copilot per-user daily records, and how one maps to ``AIUsageDaily``.

Source: the organisation's per-user usage report,
``GET /orgs/{org}/copilot/metrics/reports/users-1-day?day=YYYY-MM-DD``, which answers
``{"download_links": [...], "report_day": "YYYY-MM-DD"}``; each link is an NDJSON file with
one record per user and day. Mapping to ``AIUsageDaily`` (source ``copilot``):

==============================  =================================
record field                    AIUsageDaily field
==============================  =================================
``user_login``                  ``member`` (case-insensitive match on ``github_username``)
``day``                         ``date``
``code_generation_activity_count``   ``suggestions_shown``
``code_acceptance_activity_count``   ``suggestions_accepted``
``loc_suggested_to_add_sum``    ``lines_suggested``
``loc_added_sum``               ``lines_accepted``
``user_initiated_interaction_count`` ``chat_interactions``
(accepted / shown x 100)        ``acceptance_rate`` (2 places; null when nothing shown)
==============================  =================================

Breakdowns by IDE and feature are not stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from apps.metrics.services.numbers import percent


class MalformedCopilotRecord(ValueError):
    """A Copilot usage record lacks a field or has a value of the wrong type."""


_COUNTS = {
    "code_generation_activity_count": "suggestions_shown",
    "code_acceptance_activity_count": "suggestions_accepted",
    "loc_suggested_to_add_sum": "lines_suggested",
    "loc_added_sum": "lines_accepted",
    "user_initiated_interaction_count": "chat_interactions",
}


@dataclass(frozen=True)
class CopilotUserDay:
    login: str
    day: dt.date
    suggestions_shown: int
    suggestions_accepted: int
    lines_suggested: int
    lines_accepted: int
    chat_interactions: int

    @property
    def acceptance_rate(self) -> Decimal | None:
        return percent(self.suggestions_accepted, self.suggestions_shown)

    def usage_fields(self) -> dict:
        """The ``AIUsageDaily`` values this record sets (besides team, member, date and source)."""
        return {
            "suggestions_shown": self.suggestions_shown,
            "suggestions_accepted": self.suggestions_accepted,
            "lines_suggested": self.lines_suggested,
            "lines_accepted": self.lines_accepted,
            "chat_interactions": self.chat_interactions,
            "acceptance_rate": self.acceptance_rate,
        }


def parse_user_day(record: object, *, source: str = "record") -> CopilotUserDay:
    """Validate one NDJSON record; ``source`` (a URL, a line number) goes into the error."""
    if not isinstance(record, dict):
        raise MalformedCopilotRecord(f"{source}: expected a JSON object, got {type(record).__name__}")
    login = record.get("user_login")
    if not isinstance(login, str) or not login.strip():
        raise MalformedCopilotRecord(f"{source}: user_login missing or not a string")
    try:
        day = dt.date.fromisoformat(str(record.get("day")))
    except ValueError as exc:
        raise MalformedCopilotRecord(f"{source}: day {record.get('day')!r} is not a YYYY-MM-DD date") from exc
    counts = {}
    for field, target in _COUNTS.items():
        value = record.get(field, 0)
        if value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MalformedCopilotRecord(f"{source}: {field} must be a non-negative integer, got {value!r}")
        counts[target] = value
    return CopilotUserDay(login=login.strip(), day=day, **counts)
