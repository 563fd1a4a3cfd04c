"""Notebook 00's worked example: display names read one member at a time against one ``in_bulk``."""

from __future__ import annotations

from apps.perflab import series
from apps.perflab.datagen import DatasetSpec
from apps.perflab.variants import END_DATE

SIZES = (5, 10, 20, 40, 80)


def spec_for(members: int) -> DatasetSpec:
    return DatasetSpec(teams=1, members_per_team=members, prs_per_member=2, days=14, seed=7, end_date=END_DATE)


def _member_ids(seeded) -> list[int]:
    from apps.metrics.models import TeamMember

    return list(TeamMember.objects.filter(team_id=seeded.team_ids[0]).order_by("id").values_list("id", flat=True))


def names_by_loop(seeded):
    from apps.metrics.models import TeamMember

    ids = _member_ids(seeded)
    return lambda: [TeamMember.objects.get(pk=pk).display_name for pk in ids]


def names_in_bulk(seeded):
    from apps.metrics.models import TeamMember

    ids = _member_ids(seeded)
    return lambda: [member.display_name for member in map(TeamMember.objects.in_bulk(ids).get, ids)]


def scale(sizes=SIZES, *, repeat: int = 5, progress: bool = False):
    return series.scale_series(
        sizes, spec_for, {"baseline": names_by_loop, "fix": names_in_bulk}, repeat=repeat, progress=progress
    )
