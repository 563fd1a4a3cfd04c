"""The hand-written SQL floors answer exactly what the shipped services answer."""

import datetime as dt

import pytest

from apps.metrics.services import dashboard_service
from apps.perflab import floors
from apps.perflab.datagen import DatasetSpec, generate
from apps.teams.models import Team

pytestmark = pytest.mark.django_db

RANGES = [
    (dt.date(2026, 2, 1), dt.date(2026, 3, 31)),
    (dt.date(2026, 3, 30), dt.date(2026, 3, 30)),
    (dt.date(2025, 1, 1), dt.date(2025, 1, 31)),  # before the data: nothing merged
]


@pytest.mark.parametrize("seed", [1, 2])
def test_floors_equal_the_services(seed):
    end = dt.date(2026, 3, 31)
    spec = DatasetSpec(teams=2, members_per_team=12, prs_per_member=8, days=60, seed=seed, end_date=end)
    result = generate(spec, progress=False)
    for team in Team.objects.filter(pk__in=result.team_ids):
        for start, end in RANGES:
            assert floors.team_breakdown_sql(team, start, end) == dashboard_service.get_team_breakdown(team, start, end)
            assert floors.key_metrics_sql(team, start, end) == dashboard_service.compute_key_metrics(
                team, [(start, end)]
            )[0]
