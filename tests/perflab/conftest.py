"""Fixtures the lab's index tests share."""

import datetime as dt
from contextlib import contextmanager

from apps.perflab import datagen, indexes
from apps.perflab.series import reset_generated_data
from apps.teams.models import Team

END = dt.date(2026, 3, 31)
START = END - dt.timedelta(days=29)  # the dashboard's default: the last 30 days
WEEK = dt.date(2026, 3, 16)


@contextmanager
def year_of_twenty_teams(slug_prefix: str):
    """20 teams x 50 members x 20 PRs (20k PRs over a year), interleaved by arrival as a live database holds them
    and analyzed; yields the first team, and empties the generated data at the end.

    Enough rows that, without its index, a statement reads the table another way and touches more pages.
    """
    spec = datagen.DatasetSpec(
        teams=20, members_per_team=50, prs_per_member=20, days=365, seed=11, end_date=END, team_slug_prefix=slug_prefix
    )
    seeded = datagen.generate(spec, progress=False)
    try:
        indexes.interleave_by_arrival()
        yield Team.objects.get(pk=seeded.team_ids[0])
    finally:
        reset_generated_data()
