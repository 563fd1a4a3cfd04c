"""Problem 9, the dashboard page: the audited page against the shipped one, cold (every figure recomputed) and warm.

Notebook 09 charts ``scale``: the page as a signed-in member of the team requests it.
"""

from __future__ import annotations

from apps.perflab import series
from apps.perflab.datagen import DatasetSpec
from apps.perflab.pages import audited_dashboard, dashboard_answer
from apps.perflab.variants import END_DATE, RANGE

SIZES = (10, 25, 50, 100, 200)
QUERY = f"?start={RANGE[0]}&end={RANGE[1]}"


def spec_for(members: int) -> DatasetSpec:
    return DatasetSpec(teams=1, members_per_team=members, prs_per_member=20, days=90, seed=9, end_date=END_DATE)


def page(seeded, viewer):
    """A client signed in as ``viewer`` (made a member of the seeded team) and the team's dashboard URL."""
    from django.test import Client

    from apps.teams.models import Membership, Team

    team = Team.objects.get(pk=seeded.team_ids[0])
    Membership.objects.get_or_create(user=viewer, team=team)
    client = Client()
    client.force_login(viewer)
    return client, f"/t/{team.slug}/{QUERY}"


def variants(viewer) -> dict:
    from apps.metrics.services.team_cache import bump_team_data_version

    def audited(seeded):
        client, url = page(seeded, viewer)

        def run():
            with audited_dashboard():
                return dashboard_answer(client.get(url))

        return run

    def cold(seeded):
        client, url = page(seeded, viewer)

        def run():
            bump_team_data_version(seeded.team_ids[0])  # every cached figure of the team recomputed
            return dashboard_answer(client.get(url))

        return run

    def warm(seeded):
        client, url = page(seeded, viewer)
        client.get(url)
        return lambda: dashboard_answer(client.get(url))

    return {"baseline": audited, "fix, cold": cold, "fix, warm": warm}


def scale(viewer, sizes=SIZES, *, repeat: int = 5, progress: bool = False):
    return series.scale_series(sizes, spec_for, variants(viewer), repeat=repeat, progress=progress)
