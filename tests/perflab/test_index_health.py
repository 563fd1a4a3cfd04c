import datetime as dt

import pytest
from django.db import connection

from apps.metrics.factories import TeamMemberFactory
from apps.metrics.models import Commit
from apps.perflab import index_health
from apps.perflab.explain import rolled_back
from apps.perflab.indexes import IndexDefinition

pytestmark = pytest.mark.django_db(transaction=False)


def _redundant(*statements):
    with rolled_back(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        return index_health.prefix_of_another(["metrics_commit"])[["index", "covered by"]].values.tolist()


def test_a_plain_prefix_is_named_once():
    assert _redundant(
        "CREATE INDEX h_a ON metrics_commit (github_repo)",  # the lead of two: named once
        "CREATE INDEX h_ab ON metrics_commit (github_repo, committed_at)",
        "CREATE INDEX h_abc ON metrics_commit (github_repo, committed_at, additions)",
    ) == [["h_a", "h_ab"], ["h_ab", "h_abc"]]


def test_two_identical_indexes_name_one():
    assert _redundant(
        "CREATE INDEX h_x1 ON metrics_commit (deletions)", "CREATE INDEX h_x2 ON metrics_commit (deletions)"
    ) == [["h_x2", "h_x1"]]


def test_unique_partial_include_expression_and_ordering_are_not_prefixes():
    assert (
        _redundant(
            "CREATE UNIQUE INDEX h_u ON metrics_commit (additions)",
            "CREATE INDEX h_p ON metrics_commit (deletions) WHERE additions > 0",
            "CREATE INDEX h_i ON metrics_commit (github_repo) INCLUDE (additions)",
            "CREATE INDEX h_e ON metrics_commit (lower(github_repo))",
            "CREATE INDEX h_d ON metrics_commit (committed_at DESC)",
            "CREATE INDEX h_long ON metrics_commit (additions, deletions, github_repo, committed_at)",
            "CREATE INDEX h_opc ON metrics_commit (github_repo text_pattern_ops, additions)",
        )
        == []
    )


def test_usage_counts_scans_since_the_reset():
    index_health.reset_statistics()
    list(Commit.objects.filter(team_id=0, github_sha="x"))
    usage = index_health.index_usage(["metrics_commit"]).set_index("index")
    assert usage.loc["commit_unique_team_sha", "scans"] == 0  # inside the test's transaction: not flushed
    assert {"commit_team_committed_idx", "commit_unique_team_sha"} <= set(usage.index)
    unused = index_health.never_scanned(usage.reset_index())
    assert unused.set_index("index").loc["commit_unique_team_sha", "enforces"]


def test_write_cost_loads_and_rolls_back_with_and_without():
    member = TeamMemberFactory()
    rows = index_health.commit_rows(member.team_id, [member.id], 200)
    index = IndexDefinition("h_candidate", "metrics_commit", ("additions",))
    cost = index_health.write_cost(index, rows, table="metrics_commit", repeat=2)
    assert cost.rows == 200 and len(cost.with_index) == len(cost.without_index) == 2
    assert cost.as_dict()["rows/s with"] > 0
    dropped = index_health.write_cost("commit_team_committed_idx", rows, table="metrics_commit", repeat=1)
    assert dropped.index == "commit_team_committed_idx"
    assert Commit.objects.count() == 0  # every load was rolled back
    assert "commit_team_committed_idx" in _names() and "h_candidate" not in _names()


def _names():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'metrics_commit'")
        return {name for (name,) in cursor.fetchall()}


def test_commit_rows_are_distinct_and_in_the_year():
    rows = index_health.commit_rows(1, [5, 6], 1000)
    assert len(set(rows["github_sha"].tolist())) == 1000
    assert set(rows["author_id"].tolist()) <= {5, 6}
    assert rows["committed_at"].max() <= __import__("numpy").datetime64("2026-03-31T00:00:00")
    assert rows["committed_at"].min() >= __import__("numpy").datetime64(dt.datetime(2025, 3, 31))


def test_freshness_reports_every_app_table():
    freshness = index_health.statistics_freshness(["metrics_commit", "teams_team"])
    assert freshness["table"].tolist() == ["metrics_commit", "teams_team"]
    assert {"changed_since_analyze", "last_analyze", "last_autoanalyze", "analyzed"} <= set(freshness.columns)


def _spec(prefix, **fields):
    from apps.perflab.datagen import DatasetSpec

    shape = {"teams": 1, "members_per_team": 10, "prs_per_member": 3, "days": 60, "seed": 3, **fields}
    return DatasetSpec(end_date=dt.date(2026, 3, 31), team_slug_prefix=prefix, **shape)


def test_commit_count_is_weighed_with_and_without_its_index():
    from apps.perflab import datagen
    from apps.teams.models import Team

    seeded = datagen.generate(_spec("cc"), progress=False)
    team = Team.objects.get(id=seeded.team_ids[0])
    statement = index_health.commit_count_statement(team, dt.date(2026, 3, 16))
    assert "committed_at" in statement.sql and statement.table == "metrics_commit"
    weighed = index_health.weigh_index(statement, index_health.COMMIT_INDEX, repeat=1)
    assert list(weighed.index) == ["without commit_team_committed_idx", "with commit_team_committed_idx"]
    assert index_health.COMMIT_INDEX not in weighed.iloc[0]["reads"]
    assert index_health.COMMIT_INDEX in indexes_of("metrics_commit")  # the drop was rolled back


def indexes_of(table):
    from apps.perflab.indexes import existing_indexes

    return existing_indexes(table)


def test_stale_plan_experiment_times_before_and_after_analyze():
    from apps.perflab import datagen
    from apps.perflab.indexes import shipped_statements

    datagen.generate(_spec("small"), progress=False)
    result = index_health.stale_plan_experiment(
        _spec("stale", members_per_team=20, prs_per_member=20),
        lambda team: shipped_statements(
            team, start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 31), week=dt.date(2026, 3, 16)
        ),
        repeat=1,
    )
    assert "key metrics" in result.index
    assert result.loc["key metrics", "stale estimate"] < result.loc["key metrics", "fresh estimate"]
    assert (result[["stale ms", "fresh ms"]] > 0).all().all()
    with connection.cursor() as cursor:  # autovacuum is back to its default afterwards
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'metrics_pullrequest'")
        assert cursor.fetchone()[0] in (None, [])
