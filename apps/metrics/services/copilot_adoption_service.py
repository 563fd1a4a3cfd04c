"""Copilot adoption (issue 13 §1): cards against the previous period, a weekly trend, per-member figures.

Read from ``AIUsageDaily`` rows with ``source = "copilot"`` (Cursor rows are not Copilot), whose
columns the Copilot sync fills from GitHub's per-user daily report (``apps.integrations.copilot_records``):

=========================  ==================================================  ==============================
figure here                AIUsageDaily column                                 GitHub report field
=========================  ==================================================  ==============================
``suggestions_shown``      ``suggestions_shown``                               ``code_generation_activity_count``
``suggestions_accepted``   ``suggestions_accepted``                            ``code_acceptance_activity_count``
``lines_accepted``         ``lines_accepted``                                  ``loc_added_sum``
``chat_interactions``      ``chat_interactions``                               ``user_initiated_interaction_count``
=========================  ==================================================  ==============================

``lines_suggested`` is not shown; the stored per-day ``acceptance_rate`` is never averaged: every rate
here is recomputed from the sums, ``accepted / shown`` in percent (``numbers.percent``: two places, half
up), None when nothing was shown.

Who counts: the team's **active members** (``is_active``), bots (``is_bot``) left out, as the team
breakdown leaves them out. They are the denominator of adoption and the only members whose usage is
counted anywhere here, so the cards equal the sums of the member table and ``active_users`` never
exceeds ``active_members``. (The usage of a member since deactivated stays stored but is not shown.)
Membership is as it is now: both periods share the denominator.

- ``active_users``: distinct active members with ``suggestions_shown > 0`` on at least one day of the
  period (a day with only chat does not make a user); ``adoption_pct`` = active_users / active_members.
- Totals: ``suggestions_shown``, ``suggestions_accepted``, ``lines_accepted``, ``chat_interactions``,
  summed over the period's days; ``acceptance_rate`` = accepted / shown.
- ``change``: each card figure against the previous period of equal length
  (``dates.previous_period``), as ``dashboard_service.change`` computes it for the key metrics.
- ``weekly``: every ISO week the range touches (Monday, ``AIUsageDaily.date`` is a UTC day), in order,
  zero-filled; the first and last weeks count only the range's days. ``active_users`` per week:
  distinct members with suggestions shown that week.
- ``members``: every active member, by display name then id, with their totals, rate and
  ``days_active`` (days with suggestions shown); a member without usage has zeros and a None rate.

Statements: ``compute_copilot_adoption`` runs TWO whatever the team's size or the range's length: one
for the cards of both periods (conditional aggregation over members LEFT JOIN their usage), one
``UNION ALL`` of the per-member and the per-week groups of the range. ``get_copilot_adoption`` caches the
result under the team's data version (the Copilot sync bumps it when it writes rows): 0 statements warm.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, DateField, F, FilteredRelation, IntegerField, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, TruncWeek

from apps.metrics.models import AIUsageDaily, TeamMember
from apps.metrics.models.team import avatar_url_for
from apps.metrics.services.compiled import CompiledQuery
from apps.metrics.services.dashboard_service import change
from apps.metrics.services.dates import monday_of, previous_period
from apps.metrics.services.numbers import percent
from apps.metrics.services.team_cache import cached_figures

Period = tuple[dt.date, dt.date]
COPILOT = AIUsageDaily.Source.COPILOT
# card figure -> summed AIUsageDaily column
SUMMED = {
    "suggestions_shown": "suggestions_shown",
    "suggestions_accepted": "suggestions_accepted",
    "lines_accepted": "lines_accepted",
    "chat_interactions": "chat_interactions",
}
CARD_FIGURES = (
    "active_members",
    "active_users",
    "adoption_pct",
    "suggestions_shown",
    "suggestions_accepted",
    "acceptance_rate",
    "lines_accepted",
    "chat_interactions",
)


def used_copilot(figures: dict) -> bool:
    """Any usage in a period's or a week's figures: a suggestion shown or a chat (the rule for "no data")."""
    return bool(figures["suggestions_shown"] or figures["chat_interactions"])


def _people(team_id: int):
    """The members every figure is about: active, not bots."""
    return TeamMember.objects.filter(team_id=team_id, is_active=True, is_bot=False)


# --- statement 1: the cards of both periods --------------------------------------------------------


def _cards_rows(team_id, span_start, span_end, start_0, end_0, start_1, end_1):
    # the span goes into the JOIN's ON clause: members without usage stay (LEFT JOIN), counted as members
    usage = Q(
        ai_usage__team_id=team_id,
        ai_usage__source=COPILOT,
        ai_usage__date__gte=span_start,
        ai_usage__date__lte=span_end,
    )
    figures = {"members": Count("id", distinct=True)}
    for i, (start, end) in enumerate(((start_0, end_0), (start_1, end_1))):
        in_period = Q(usage__date__gte=start, usage__date__lte=end)
        figures[f"users_{i}"] = Count("id", distinct=True, filter=in_period & Q(usage__suggestions_shown__gt=0))
        figures |= {f"{name}_{i}": Sum(f"usage__{column}", filter=in_period) for name, column in SUMMED.items()}
    return (
        _people(team_id)
        .annotate(usage=FilteredRelation("ai_usage", condition=usage))
        .order_by()
        # grouped by the (one) team: a single row, or none when the team has no active member
        .values("team_id")
        .annotate(**figures)
    )


_CARDS = CompiledQuery(
    _cards_rows,
    team_id=int,
    span_start=dt.date,
    span_end=dt.date,
    start_0=dt.date,
    end_0=dt.date,
    start_1=dt.date,
    end_1=dt.date,
)


def _card(row: dict, i: int) -> dict:
    members, users = row.get("members", 0), row.get(f"users_{i}", 0)
    sums = {name: row.get(f"{name}_{i}") or 0 for name in SUMMED}  # SUM over no row is NULL
    return {
        "active_members": members,
        "active_users": users,
        "adoption_pct": percent(users, members),
        **sums,
        "acceptance_rate": percent(sums["suggestions_accepted"], sums["suggestions_shown"]),
    }


def compute_copilot_cards(team, periods: list[Period]) -> list[dict]:
    """The card figures of two periods (the range, then the one before it) in ONE statement; never cached."""
    if len(periods) != 2:
        raise ValueError(f"Copilot cards are computed for 2 periods at once, not {len(periods)}")
    (start_0, end_0), (start_1, end_1) = periods
    row = next(
        iter(
            _CARDS.rows(
                team_id=team.id,
                span_start=min(start_0, start_1),
                span_end=max(end_0, end_1),
                start_0=start_0,
                end_0=end_0,
                start_1=start_1,
                end_1=end_1,
            )
        ),
        {},
    )
    return [_card(row, 0), _card(row, 1)]


# --- statement 2: per member and per week, for the range ----------------------------------------------

# the columns both halves of the UNION ALL select, in this order
_DETAIL_COLUMNS = (
    "member_id",
    "week",
    "display_name",
    "github_username",
    "github_id",
    "users",
    "shown",
    "accepted",
    "lines",
    "chats",
    "days",
)
_DETAIL_SUMS = {
    "shown": "suggestions_shown",
    "accepted": "suggestions_accepted",
    "lines": "lines_accepted",
    "chats": "chat_interactions",
}


def _detail_rows(team_id, start, end):
    usage = Q(ai_usage__team_id=team_id, ai_usage__source=COPILOT, ai_usage__date__gte=start, ai_usage__date__lte=end)
    members = (
        _people(team_id)
        .annotate(usage=FilteredRelation("ai_usage", condition=usage))
        .order_by()
        .values(member_id=F("id"))
        .annotate(
            week=Value(None, output_field=DateField()),
            users=Value(0),
            **{name: Coalesce(Sum(f"usage__{column}"), 0) for name, column in _DETAIL_SUMS.items()},
            days=Count("usage", filter=Q(usage__suggestions_shown__gt=0)),  # one row per day and source
        )
        .values(*_DETAIL_COLUMNS)
    )
    weeks = (
        AIUsageDaily.objects.filter(team_id=team_id, source=COPILOT, date__gte=start, date__lte=end)
        .filter(member__team_id=team_id, member__is_active=True, member__is_bot=False)
        # date_trunc of a date is a timestamp: cast back to the Monday's date
        .annotate(week=Cast(TruncWeek("date"), DateField()))
        .order_by()
        .values("week")
        .annotate(
            member_id=Value(None, output_field=IntegerField()),
            display_name=Value(""),
            github_username=Value(""),
            github_id=Value(""),
            users=Count("member", distinct=True, filter=Q(suggestions_shown__gt=0)),
            **{name: Sum(column) for name, column in _DETAIL_SUMS.items()},
            days=Value(0),
        )
        .values(*_DETAIL_COLUMNS)
    )
    # weeks first, in order (a member row's week is NULL, sorted last), then members by name and id
    return members.union(weeks, all=True).order_by("week", "display_name", "member_id")


_DETAIL = CompiledQuery(_detail_rows, team_id=int, start=dt.date, end=dt.date)


def weeks_of(start: dt.date, end: dt.date) -> list[dt.date]:
    """The Mondays of every ISO week the range touches, in order."""
    first, last = monday_of(start), monday_of(end)
    return [first + dt.timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _figures(row: dict) -> dict:
    return {
        "suggestions_shown": row["shown"],
        "suggestions_accepted": row["accepted"],
        "acceptance_rate": percent(row["accepted"], row["shown"]),
        "lines_accepted": row["lines"],
        "chat_interactions": row["chats"],
    }


_EMPTY_WEEK = {"users": 0, "shown": 0, "accepted": 0, "lines": 0, "chats": 0}


def compute_copilot_detail(team, start: dt.date, end: dt.date) -> tuple[list[dict], list[dict]]:
    """``(weekly, members)`` for the range in ONE statement; never cached."""
    rows = _DETAIL.rows(team_id=team.id, start=start, end=end)
    found = {row["week"]: row for row in rows if row["member_id"] is None}
    weekly = [
        {"week": week, "active_users": row["users"], **_figures(row)}
        for week, row in ((week, found.get(week, _EMPTY_WEEK)) for week in weeks_of(start, end))
    ]
    members = [
        {
            "member_id": row["member_id"],
            "display_name": row["display_name"],
            "github_username": row["github_username"],
            "avatar_url": avatar_url_for(row["github_username"], row["github_id"]),
            **_figures(row),
            "days_active": row["days"],
        }
        for row in rows
        if row["member_id"] is not None
    ]
    return weekly, members


# --- together, and cached ---------------------------------------------------------------------------


def compute_copilot_adoption(team, start: dt.date, end: dt.date) -> dict:
    """Cards of the range and the previous period, their change, the weekly trend, the member table.

    ``{"current", "previous", "previous_range", "change": {figure: {"delta", "percent"}}, "weekly", "members"}``.
    Two statements whatever the data; never cached: what a cache miss runs (notebooks, benchmarks).
    """
    previous = previous_period(start, end)
    current_card, previous_card = compute_copilot_cards(team, [(start, end), previous])
    weekly, members = compute_copilot_detail(team, start, end)
    return {
        "current": current_card,
        "previous": previous_card,
        "previous_range": previous,
        "change": {figure: change(current_card[figure], previous_card[figure]) for figure in CARD_FIGURES},
        "weekly": weekly,
        "members": members,
    }


def get_copilot_adoption(team, start: dt.date, end: dt.date) -> dict:
    """``compute_copilot_adoption`` cached in Redis for 5 minutes under the team's data version: 2 cold, 0 warm."""
    return cached_figures(
        "copilot-adoption", team.id, [(start, end)], lambda: compute_copilot_adoption(team, start, end)
    )
