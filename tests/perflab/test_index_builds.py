"""Problem 6's writers: building indexes concurrently spares a writer, building them plainly blocks it.

The writer tests commit for real (CREATE INDEX CONCURRENTLY cannot run in a transaction block): a writer
thread inserts pull requests on its own connection while indexes are built. Both builds are made to last at
least HOLD seconds: the plain build keeps its transaction open (as an atomic migration does until it ends), the
concurrent build waits out an older snapshot held on a third connection (as it waits for any long transaction).
"""

from types import SimpleNamespace

import pytest
from django.db import connection

from apps.metrics.factories import TeamMemberFactory
from apps.perflab import index_builds, indexes
from apps.perflab.indexes import PR_TABLE
from apps.teams.factories import TeamFactory

HOLD = 1.0  # seconds: a plain build blocks the writer at least this long, a concurrent one never does


# --- writers during a build ---------------------------------------------------------------------------


@pytest.fixture
def busy_table(transactional_db):
    """A team with 20k committed PRs (enough for a build to take a moment) and lab indexes to build."""
    team = TeamFactory()
    author = TeamMemberFactory(team=team)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {PR_TABLE} (team_id, author_id, github_pr_id, github_repo, title, state, pr_created_at,
                                    additions, deletions, is_revert, is_hotfix, is_ai_assisted)
            SELECT %s, %s, i, 'acme/app', 'PR ' || i, 'open', now() - i * interval '1 minute', 1, 1, false, false,
                   false
            FROM generate_series(1, 20000) AS i
            """,
            [team.id, author.id],
        )
    lab = [index.renamed(f"lab_{index.name}") for index in indexes.shipped_indexes()]
    try:
        yield SimpleNamespace(team=team, lab=lab)
    finally:
        index_builds.drop_indexes([index.name for index in lab])


def test_a_concurrent_build_lets_the_writer_insert_throughout(busy_table):
    run = index_builds.while_writing(
        index_builds.build_concurrently(busy_table.lab, hold=HOLD), team_id=busy_table.team.id, label="concurrently"
    )
    assert run.build_seconds >= HOLD  # it waited out the older snapshot ...
    assert run.inserts_during_build >= 20  # ... while the writer kept inserting
    # never blocked for the hold (waits of a few hundred ms happen on a busy 2-core machine)
    assert run.longest_wait_ms < HOLD * 1000 * 0.75, run.as_dict()
    assert set(indexes.existing_indexes(PR_TABLE)) >= {index.name for index in busy_table.lab}
    assert indexes.invalid_indexes() == []
    assert busy_table.team.pull_requests.count() == 20000  # the writer's rows were removed


def test_a_plain_build_blocks_the_writer_until_it_commits(busy_table):
    run = index_builds.while_writing(
        index_builds.build_plainly(busy_table.lab, hold=HOLD), team_id=busy_table.team.id, label="plain"
    )
    assert run.build_seconds >= HOLD
    assert run.longest_wait_ms >= HOLD * 1000, run.as_dict()  # one insert waited for the whole hold
    assert run.inserts_per_second < run.inserts_per_second_before / 10, run.as_dict()
    assert run.as_dict()["build"] == "plain"


def test_a_concurrent_build_refuses_to_run_in_a_transaction(busy_table):
    from django.db import transaction

    with transaction.atomic(), pytest.raises(RuntimeError, match="transaction block"):
        index_builds.build_concurrently(busy_table.lab)()


# --- the figures of a run, without a database -------------------------------------------------------------


def test_a_writer_run_counts_only_the_inserts_that_overlapped_the_build():
    run = index_builds.WriterRun(
        label="plain",
        build_started=1.0,
        build_finished=3.0,
        inserts=((0.2, 0.001), (0.999, 0.002), (1.001, 2.0), (3.002, 0.001), (3.5, 0.001)),
    )
    assert run.build_seconds == 2.0
    assert run.inserts_during_build == 2  # the one under way at the start and the one that waited
    assert run.longest_wait_ms == pytest.approx(2000.0)
    assert run.inserts_completed_during_build == 1
    assert run.inserts_per_second == 0.5 and run.inserts_per_second_before == 1.0
    assert run.as_dict()["longest_wait_ms"] == 2000.0
