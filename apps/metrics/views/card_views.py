"""The dashboard's cards and tables of figures: key metrics, Copilot adoption, AI impact, and what each figure means.

Each card is a figure of the range against the period of equal length before it. One rule for every
card: against a previous period without data (no PR merged in it; for Copilot, nothing shown and no chat)
the change says "no data to compare", never a growth from 0. "—" is a figure that cannot be computed
(no PR merged, no survey answered, nothing shown); 0 is a figure that was computed and is zero.

Statements: ``get_key_metrics_comparison`` (2 cold), ``get_copilot_adoption`` (2 cold), ``get_ai_impact``
(1 cold), each 0 warm (the versioned team cache).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.shortcuts import render

from apps.metrics.services.ai_impact_service import get_ai_impact
from apps.metrics.services.copilot_adoption_service import get_copilot_adoption, used_copilot
from apps.metrics.services.dashboard_service import change, get_key_metrics_comparison
from apps.metrics.views.params import DateRange, fragment_error, team_and_range

NO_COMPARISON = "no data to compare"


@dataclass(frozen=True)
class CardSpec:
    key: str  # the figure's key in the service's answer
    label: str
    definition: str
    unit: str = ""
    better: str | None = None  # which way is better: "up", "down", or None when neither is
    share: bool = False  # a percentage of something: its change reads in points
    secondary: str | None = None  # the key of a figure shown under the value
    secondary_label: str = ""
    secondary_unit: str = ""


KEY_METRIC_CARDS = (
    CardSpec("prs_merged", "PRs merged", "Pull requests merged in the range (bots' included).", better="up"),
    CardSpec(
        "median_cycle_time",
        "Cycle time",
        "Median hours from a PR's opening to its merge, over the PRs merged in the range; the average below it.",
        unit="h",
        better="down",
        secondary="avg_cycle_time",
        secondary_label="average",
        secondary_unit="h",
    ),
    CardSpec(
        "median_review_time",
        "Review time",
        "Median hours from a PR's opening to its first review, over the merged PRs that were reviewed; "
        "the average below it.",
        unit="h",
        better="down",
        secondary="avg_review_time",
        secondary_label="average",
        secondary_unit="h",
    ),
    CardSpec(
        "ai_assisted_pct",
        "AI-assisted PRs",
        "Of the merged PRs whose author answered the survey, the share they called AI-assisted.",
        unit="%",
        share=True,
    ),
    CardSpec(
        "avg_quality_rating",
        "Review quality",
        "Reviewers' average rating of the merged PRs: 1 needs work, 2 good, 3 great. 2.33 / 3 is that average.",
        unit="/ 3",
        better="up",
    ),
)

COPILOT_CARDS = (
    CardSpec(
        "active_users",
        "Copilot users",
        "Active members shown at least one Copilot suggestion in the range, of all active members "
        "(bots left out); the share is adoption.",
        better="up",
        secondary="adoption_pct",
        secondary_label="adoption",
        secondary_unit="%",
    ),
    CardSpec(
        "acceptance_rate",
        "Acceptance rate",
        "Copilot suggestions accepted of those shown, over the range's days.",
        unit="%",
        better="up",
        share=True,
    ),
    CardSpec("lines_accepted", "Lines accepted", "Lines of code added by accepting Copilot suggestions.", better="up"),
    CardSpec("chat_interactions", "Chat interactions", "Prompts members sent to Copilot Chat."),
)

# What the tables and the two kinds of empty mean, after the cards' own definitions.
TABLE_DEFINITIONS = (
    (
        "AI impact",
        "Merged PRs of the range by their author's survey answer: AI-assisted, not AI-assisted, or "
        "unanswered (no survey, or not answered yet: kept apart, not counted as either). For each group the "
        "median and the 75th percentile (a quarter of the PRs took longer) of cycle time, review time and size "
        "(lines added + deleted), with the number of PRs each figure is over.",
    ),
    (
        "Team breakdown",
        "One row per member who is active or merged a PR in the range: PRs merged, average and "
        "median cycle and review time, the AI-assisted share of their answered surveys, their PRs' review "
        "quality, and their Copilot figures (acceptance rate, lines accepted, days with suggestions shown).",
    ),
    (
        "— against 0",
        "— means there is nothing to compute the figure from (no PR merged, no survey answered, "
        "no suggestion shown); 0 or 0% is a figure that was computed and is zero.",
    ),
)


def _change_text(spec: CardSpec, delta: dict) -> tuple[str | None, str]:
    if delta["delta"] > 0:
        direction = "up"
    elif delta["delta"] < 0:
        direction = "down"
    else:
        return "flat", "no change"
    if spec.share:
        return direction, f"{delta['delta']:+} pts"
    if delta["percent"] is not None:
        return direction, f"{delta['percent']:+}%"
    return direction, f"{delta['delta']:+}"  # a figure of 0 before (an average of 0.00 h): no percentage


def card(spec: CardSpec, current: dict, previous: dict, *, comparable: bool, unit: str | None = None) -> dict:
    """One card's context; ``comparable`` is False when the previous period has no data."""
    value, before = current[spec.key], previous[spec.key]
    delta = change(value, before) if comparable else {"delta": None}
    if delta["delta"] is None:
        direction, change_text = None, NO_COMPARISON if value is not None else ""
    else:
        direction, change_text = _change_text(spec, delta)
    if direction in (None, "flat") or spec.better is None:
        tone = "neutral"
    else:
        tone = "good" if direction == spec.better else "bad"
    return {
        "key": spec.key,
        "label": spec.label,
        "definition": spec.definition,
        "unit": spec.unit if unit is None else unit,
        "value": value,
        "previous": before,
        "secondary": current[spec.secondary] if spec.secondary else None,
        "secondary_label": spec.secondary_label,
        "secondary_unit": spec.secondary_unit,
        "has_secondary": spec.secondary is not None,
        "direction": direction,
        "change_text": change_text,
        "tone": tone,
    }


def cards_context(team, date_range: DateRange, *, read=get_key_metrics_comparison) -> dict:
    """The key-metric cards: one ``get_key_metrics_comparison`` (2 statements cold, 0 warm), or ``read``,
    a function of ``(team, start, end)`` that answers alike."""
    comparison = read(team, date_range.start, date_range.end)
    current, previous = comparison["current"], comparison["previous"]
    comparable = previous["prs_merged"] > 0
    return {
        "cards": [card(spec, current, previous, comparable=comparable) for spec in KEY_METRIC_CARDS],
        "previous_range": DateRange(*comparison["previous_range"]),
    }


def copilot_context(team, date_range: DateRange, *, read=get_copilot_adoption) -> dict:
    """Copilot adoption's cards and per-member figures: one ``get_copilot_adoption`` (2 cold, 0 warm), or ``read``."""
    adoption = read(team, date_range.start, date_range.end)
    current, previous = adoption["current"], adoption["previous"]
    comparable = used_copilot(previous)
    members_unit = f"of {current['active_members']}"
    return {
        "copilot_cards": [
            card(
                spec,
                current,
                previous,
                comparable=comparable,
                unit=members_unit if spec.key == "active_users" else None,
            )
            for spec in COPILOT_CARDS
        ],
        "copilot_members": {member["member_id"]: member for member in adoption["members"]},
        "copilot_has_data": any(used_copilot(week) for week in adoption["weekly"]),
    }


IMPACT_GROUPS = (("ai_assisted", "AI-assisted"), ("not_ai_assisted", "Not AI-assisted"), ("unanswered", "Unanswered"))
IMPACT_FIGURES = (
    ("cycle_time", "Cycle time", "h"),
    ("review_time", "Review time", "h"),
    ("pr_size", "PR size", "lines"),
)


def ai_impact_context(team, date_range: DateRange, *, read=get_ai_impact) -> dict:
    """AI impact as a table: a row per figure, per group its median, 75th percentile and count (1 cold, 0 warm);
    ``read`` is ``get_ai_impact`` unless given."""
    impact = read(team, date_range.start, date_range.end)
    return {
        "impact_groups": [{"key": key, "label": label, "prs": impact[key]["prs"]} for key, label in IMPACT_GROUPS],
        "impact_rows": [
            {
                "key": figure,
                "label": label,
                "unit": unit,
                "cells": [impact[group][figure] for group, _ in IMPACT_GROUPS],
            }
            for figure, label, unit in IMPACT_FIGURES
        ],
    }


def definitions() -> list[tuple[str, str]]:
    """Every figure on the dashboard with what it means, in the page's order."""
    cards = [(spec.label, spec.definition) for spec in KEY_METRIC_CARDS + COPILOT_CARDS]
    return cards + list(TABLE_DEFINITIONS)


@team_and_range(on_error=fragment_error)
def key_metrics_cards(request, team, date_range: DateRange):
    """The five metric cards as an HTML fragment (the dashboard includes the same template)."""
    context = {"team": team, "range": date_range, **cards_context(team, date_range)}
    return render(request, "metrics/partials/key_metrics_cards.html", context)
