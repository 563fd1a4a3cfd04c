"""What every problem module's experiment shares: the fixed dates, and variants that run on the seeded team.

A variant (``series.VariantFactory``) gets what ``datagen.generate`` returned and gives back the
operation to measure; most operations are one function of the team and the dashboard's range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

END_DATE = dt.date(2026, 3, 31)  # fixed: nbval compares outputs run after run, perf_bench rows compare run to run
RANGE = (dt.date(2026, 3, 2), END_DATE)  # the dashboard's default: the last 30 days


def first_team(seeded):
    """The first team the dataset generated (the experiments seed one)."""
    from apps.teams.models import Team

    return Team.objects.get(pk=seeded.team_ids[0])


def on_team(function: Callable[..., Any], *args: Any) -> Callable[[Any], Callable[[], Any]]:
    """A variant that calls ``function(team, *args)`` on the seeded team (args default to the dashboard's range)."""
    args = args or RANGE

    def make(seeded):
        team = first_team(seeded)
        return lambda: function(team, *args)

    return make
