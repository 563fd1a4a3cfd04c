"""Scale series: fresh data per size, statements and latency per variant, answers compared."""

import datetime as dt

import pytest

from apps.metrics.models import TeamMember
from apps.perflab import series
from apps.perflab.datagen import DatasetSpec

pytestmark = pytest.mark.django_db


def spec_for(members):
    end = dt.date(2026, 3, 1)
    return DatasetSpec(teams=1, members_per_team=members, prs_per_member=1, days=7, seed=3, end_date=end)


def loop(seeded):
    ids = list(TeamMember.objects.filter(team_id=seeded.team_ids[0]).order_by("id").values_list("id", flat=True))
    return lambda: [TeamMember.objects.get(pk=pk).display_name for pk in ids]


def bulk(seeded):
    ids = list(TeamMember.objects.filter(team_id=seeded.team_ids[0]).order_by("id").values_list("id", flat=True))
    return lambda: [m.display_name for m in map(TeamMember.objects.in_bulk(ids).get, ids)]


def test_series_records_statements_per_size_and_variant():
    df = series.scale_series([3, 6], spec_for, {"baseline": loop, "fix": bulk}, repeat=2, warmup=0, progress=False)
    assert list(df.columns) == series.SERIES_COLUMNS
    assert df[["size", "variant", "statements"]].values.tolist() == [
        [3, "baseline", 3],
        [3, "fix", 1],
        [6, "baseline", 6],
        [6, "fix", 1],
    ]
    assert (df.median_ms > 0).all() and df.same_answer.all()
    table = series.statements_table(df)
    assert list(table.columns) == ["baseline", "fix"] and table.loc[6, "baseline"] == 6


def test_each_size_starts_from_fresh_data():
    series.scale_series([4, 2], spec_for, {"fix": bulk}, repeat=1, warmup=0, progress=False)
    assert TeamMember.objects.count() == 2  # the 4-member dataset was emptied first


def test_different_answers_fail_loudly():
    def wrong(seeded):
        return lambda: ["someone else"]

    with pytest.raises(series.DifferentAnswers, match="'wrong' differs from 'baseline'"):
        series.scale_series([3], spec_for, {"baseline": bulk, "wrong": wrong}, repeat=1, progress=False)


def test_needs_sizes_and_variants():
    with pytest.raises(ValueError):
        series.scale_series([], spec_for, {"fix": bulk}, progress=False)


def test_reset_clears_cached_figures():
    from django.core.cache import cache

    cache.set("team:1:figure", 42)
    series.reset_generated_data()
    assert cache.get("team:1:figure") is None


def test_growth_series_refuses_a_schema_that_already_has_the_indexes():
    from apps.perflab import indexes

    # the test database is migrated: the shipped indexes exist, so there is no "without" to time
    with pytest.raises(ValueError, match="migrate back first"):
        series.growth_series([1], shape=spec_for(3), statements_for=lambda team: [], indexes=indexes.shipped_indexes())
