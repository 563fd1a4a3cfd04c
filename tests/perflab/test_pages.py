"""The audited dashboard renders the same page as the shipped one, with more statements."""

import datetime as dt

import pytest
from django.test import Client

from apps.perflab.capture import capture_queries
from apps.perflab.datagen import DatasetSpec, generate
from apps.perflab.pages import audited_dashboard, dashboard_answer
from apps.teams.factories import MembershipFactory
from apps.teams.models import Team

pytestmark = pytest.mark.django_db


@pytest.mark.allow_repeats("the audited page is the seed's code (baselines.py): its N+1 is what this test compares")
def test_audited_and_shipped_pages_agree():
    seeded = generate(DatasetSpec(teams=1, members_per_team=12, prs_per_member=6, days=40, seed=8,
                                  end_date=dt.date(2026, 3, 31)), progress=False)
    team = Team.objects.get(pk=seeded.team_ids[0])
    client = Client()
    client.force_login(MembershipFactory(team=team).user)
    url = f"/t/{team.slug}/?start=2026-03-02&end=2026-03-31"
    with capture_queries() as audited, audited_dashboard():
        before = dashboard_answer(client.get(url))
    with capture_queries() as shipped:
        after = dashboard_answer(client.get(url))
    assert before == after
    assert audited.count > 4 * 12 > shipped.count
    with capture_queries() as again:  # outside the block the shipped code is back (and warm)
        client.get(url)
    assert again.count < shipped.count
