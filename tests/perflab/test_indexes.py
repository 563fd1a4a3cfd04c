"""Problem 6: each shipped statement reads its intended index, and building indexes concurrently spares writers.

The plans are checked on 20 teams x 50 members x 20 PRs (20k PRs over a year), interleaved by arrival as a live
database holds them and analyzed: enough rows that, without its index, each statement reads the table another
way (a sequential scan or a single-column index) and touches more pages. The dataset is generated once for the
module, committed, and emptied at the end.

The writer tests commit for real (CREATE INDEX CONCURRENTLY cannot run in a transaction block): a writer
thread inserts pull requests on its own connection while indexes are built. Both builds are made to last at
least HOLD seconds: the plain build keeps its transaction open (as an atomic migration does until it ends), the
concurrent build waits out an older snapshot held on a third connection (as it waits for any long transaction).
"""

from types import SimpleNamespace

import pytest
from django.db import connection

from apps.metrics.factories import TeamMemberFactory
from apps.perflab import indexes
from apps.perflab.indexes import AUTHOR_MERGED, PR_TABLE, SEQ_SCAN, TEAM_CREATED, TEAM_MERGED
from apps.teams.factories import TeamFactory
from tests.perflab.conftest import END, START, WEEK, year_of_twenty_teams

PR_STATEMENTS = [
    ("key metrics", (TEAM_MERGED,)),
    ("survey ratings", (TEAM_MERGED,)),
    ("team breakdown", (AUTHOR_MERGED,)),
    ("weekly chart", (TEAM_MERGED,)),
    ("PR list page", (TEAM_CREATED,)),
    ("PR list count", (TEAM_CREATED,)),
    ("weekly aggregation", (TEAM_MERGED, AUTHOR_MERGED)),
]
HOLD = 1.0  # seconds: a plain build blocks the writer at least this long, a concurrent one never does


@pytest.fixture(scope="module")
def dataset(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), year_of_twenty_teams("ix") as team:
        statements = indexes.shipped_statements(team, start=START, end=END, week=WEEK)
        yield SimpleNamespace(team=team, statements={s.label: s for s in statements})


def failure(statement, plan) -> str:
    return f"{statement.label}: expected one of {statement.intended}\n{plan.summary()}\n{statement.sql}"


# --- the indexes and the migration agree ---------------------------------------------------------------


def test_the_models_declare_what_migration_0003_builds():
    from importlib import import_module

    migration = import_module("apps.metrics.migrations.0003_composite_indexes").Migration
    built = [operation.index.name for operation in migration.operations]
    assert built == [index.name for index in indexes.shipped_indexes()] == [TEAM_MERGED, AUTHOR_MERGED, TEAM_CREATED]
    assert [index.columns for index in indexes.shipped_indexes()] == [
        ("team_id", "state", "merged_at"),
        ("author_id", "state", "merged_at"),
        ("team_id", "pr_created_at"),
    ]


@pytest.mark.django_db
def test_the_test_database_has_them_valid():
    present = indexes.existing_indexes(PR_TABLE)
    assert {TEAM_MERGED, AUTHOR_MERGED, TEAM_CREATED} <= set(present)
    assert indexes.invalid_indexes() == []
    assert set(indexes.index_sizes([TEAM_MERGED, "no_such_index"])) == {TEAM_MERGED}


def test_audit_candidates_are_the_five_proposals_then_the_replacement():
    labels = [candidate.label for candidate in indexes.audit_candidates()]
    assert labels == [
        "PullRequest (team, state, merged_at)",
        "PullRequest (team, author, merged_at)",
        "PullRequest (team, pr_created_at)",
        "TeamMember (team, github_username)",
        "TeamMember (team, is_active)",
        "PullRequest (author, state, merged_at)",
    ]
    by_label = {candidate.label: candidate for candidate in indexes.audit_candidates()}
    assert by_label["PullRequest (team, author, merged_at)"].index.columns == ("team_id", "author_id", "merged_at")
    assert by_label["PullRequest (team, author, merged_at)"].proposed_for == ("team breakdown",)


# --- plans --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rows_read_counts_what_scans_return_and_filter_out(dataset):
    statement = dataset.statements["PR list count"]
    plan = statement.explain()
    counted = statement.run()  # one row: the count
    assert counted == 1
    in_range = dataset.team.pull_requests.filter(pr_created_at__date__gte=START, pr_created_at__date__lte=END).count()
    assert indexes.rows_read(plan, PR_TABLE) == in_range  # the index condition fixes team and range: nothing filtered
    with indexes.without_indexes([TEAM_CREATED, TEAM_MERGED]):
        fallback = statement.explain()
    assert indexes.rows_read(fallback, PR_TABLE) >= dataset.team.pull_requests.count()  # the team's whole year


@pytest.mark.django_db
def test_the_statements_are_what_the_services_send(dataset):
    statements = dataset.statements
    assert list(statements) == [
        "key metrics",
        "survey ratings",
        "team breakdown",
        "weekly chart",
        "PR list page",
        "PR list count",
        "Copilot member lookup",
        "weekly aggregation",
    ]
    assert all(s.sql.lstrip().upper().startswith("SELECT") for s in statements.values())
    assert dataset.team.id in statements["key metrics"].params
    assert "LOWER(" in statements["Copilot member lookup"].sql.upper()
    assert statements["PR list page"].run() == 50  # a full first page


@pytest.mark.django_db
@pytest.mark.parametrize("label", [label for label, _ in PR_STATEMENTS] + ["Copilot member lookup"])
def test_each_statement_reads_its_intended_index(dataset, label):
    statement = dataset.statements[label]
    plan = statement.explain()
    assert statement.reads_intended(plan), failure(statement, plan)
    assert SEQ_SCAN not in indexes.access_paths(plan, statement.table), failure(statement, plan)


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "intended"), PR_STATEMENTS)
def test_without_its_index_the_statement_reads_the_table_otherwise_and_more_of_it(dataset, label, intended):
    statement = dataset.statements[label]
    assert statement.intended == intended
    with_index = statement.explain()
    with indexes.without_indexes(intended):
        without = statement.explain()
    # the planner reads the table some other way (a sequential scan, a single-column index, another composite
    # index, skip-scanned on PostgreSQL 18), and that way reads more pages
    fallback = indexes.access_paths(without, PR_TABLE)
    assert fallback and not set(intended) & set(fallback), without.summary()
    more = indexes.rows_read(without, PR_TABLE) > 2 * indexes.rows_read(with_index, PR_TABLE)
    assert more, f"{without.summary()}\n---\n{with_index.summary()}"
    assert set(intended) <= set(indexes.existing_indexes(PR_TABLE))  # the drop was rolled back


@pytest.mark.django_db
def test_rejected_candidates_go_unused_next_to_the_shipped_indexes(dataset):
    rejected = [c.index for c in indexes.audit_candidates() if c.label in indexes.REJECTED]
    assert len(rejected) == 3
    plans = indexes.plans_with(list(dataset.statements.values()), rejected)
    for label, plan in plans.items():
        used = [index.name for index in rejected if plan.uses_index(index.name)]
        assert used == [], f"{label} reads {used}\n{plan.summary()}"
    assert not set(indexes.existing_indexes(PR_TABLE)) & {index.name for index in rejected}


@pytest.mark.django_db
def test_the_team_breakdown_never_fixes_the_team_of_a_team_led_index(dataset):
    """The audit's (team, author, merged_at) cannot be probed by the breakdown: its join fixes no team."""
    statement = dataset.statements["team breakdown"]
    team_led = next(c for c in indexes.audit_candidates() if c.label == "PullRequest (team, author, merged_at)")
    author_led = next(c for c in indexes.audit_candidates() if c.label == "PullRequest (author, state, merged_at)")
    with indexes.without_indexes([AUTHOR_MERGED]):
        table = indexes.evaluate_candidates([statement], [team_led, author_led])
    verdict = table.set_index("candidate")
    assert not verdict.loc[team_led.label, "probed"]
    assert verdict.loc[author_led.label, "probed"] and verdict.loc[author_led.label, "used"]
    assert verdict.loc[author_led.label, "size_bytes"] > 0


@pytest.mark.django_db
def test_access_paths_and_probes_read_bitmap_scans(dataset):
    statement = dataset.statements["key metrics"]
    with indexes.without_indexes([TEAM_MERGED]):
        plan = statement.explain()
    assert indexes.access_paths(plan, PR_TABLE)  # something reads the table
    assert indexes.access_paths(plan, "no_such_table") == []
    with_index = statement.explain()
    assert indexes.probes(with_index, TEAM_MERGED, "team_id")
    assert not indexes.probes(with_index, TEAM_MERGED, "author_id")


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
        indexes.drop_indexes([index.name for index in lab])


def test_a_concurrent_build_lets_the_writer_insert_throughout(busy_table):
    run = indexes.while_writing(
        indexes.build_concurrently(busy_table.lab, hold=HOLD), team_id=busy_table.team.id, label="concurrently"
    )
    assert run.build_seconds >= HOLD  # it waited out the older snapshot ...
    assert run.inserts_during_build >= 20  # ... while the writer kept inserting
    # never blocked for the hold (waits of a few hundred ms happen on a busy 2-core machine)
    assert run.longest_wait_ms < HOLD * 1000 * 0.75, run.as_dict()
    assert set(indexes.existing_indexes(PR_TABLE)) >= {index.name for index in busy_table.lab}
    assert indexes.invalid_indexes() == []
    assert busy_table.team.pull_requests.count() == 20000  # the writer's rows were removed


def test_a_plain_build_blocks_the_writer_until_it_commits(busy_table):
    run = indexes.while_writing(
        indexes.build_plainly(busy_table.lab, hold=HOLD), team_id=busy_table.team.id, label="plain"
    )
    assert run.build_seconds >= HOLD
    assert run.longest_wait_ms >= HOLD * 1000, run.as_dict()  # one insert waited for the whole hold
    assert run.inserts_per_second < run.inserts_per_second_before / 10, run.as_dict()
    assert run.as_dict()["build"] == "plain"


def test_a_concurrent_build_refuses_to_run_in_a_transaction(busy_table):
    from django.db import transaction

    with transaction.atomic(), pytest.raises(RuntimeError, match="transaction block"):
        indexes.build_concurrently(busy_table.lab)()


# --- the figures of a run, without a database -------------------------------------------------------------


def test_a_writer_run_counts_only_the_inserts_that_overlapped_the_build():
    run = indexes.WriterRun(
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


def test_the_figures_draw_every_statement_and_every_run():
    import pandas as pd
    from matplotlib import pyplot as plt

    series = pd.DataFrame(
        [
            {"size": size, "teams": size // 10, "statement": label, "variant": variant, "median_ms": ms, "min_ms": ms}
            for size in (10, 100)
            for label in ("a", "b", "c", "d", "e")
            for variant, ms in (("without", size / 10), ("with", 1.0))
        ]
    )
    grid = indexes.latency_grid(series)
    assert [ax.get_title(loc="left") for ax in grid.axes if ax.get_visible()] == ["a", "b", "c", "d", "e"]
    run = indexes.WriterRun("x", 0.1, 0.2, ((0.0, 0.001), (0.15, 0.01)))
    timeline = indexes.writer_timeline([run, run])
    assert len(timeline.axes) == 2 and "longest wait 10 ms" in timeline.axes[0].get_title(loc="left")
    plt.close("all")
