"""Problem 6: each shipped statement reads its intended index (the writers during a build: test_index_builds.py).

The plans are checked on 20 teams x 50 members x 20 PRs (20k PRs over a year), interleaved by arrival as a live
database holds them and analyzed: enough rows that, without its index, each statement reads the table another
way (a sequential scan or a single-column index) and touches more pages. The dataset is generated once for the
module, committed, and emptied at the end.
"""

from types import SimpleNamespace

import pytest

from apps.perflab import explain, indexes
from apps.perflab.explain import SEQ_SCAN
from apps.perflab.indexes import AUTHOR_MERGED, PR_TABLE, TEAM_CREATED, TEAM_MERGED
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
    assert explain.rows_read(plan, PR_TABLE) == in_range  # the index condition fixes team and range: nothing filtered
    with indexes.without_indexes([TEAM_CREATED, TEAM_MERGED]):
        fallback = statement.explain()
    assert explain.rows_read(fallback, PR_TABLE) >= dataset.team.pull_requests.count()  # the team's whole year


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
    assert SEQ_SCAN not in explain.access_paths(plan, statement.table), failure(statement, plan)


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
    fallback = explain.access_paths(without, PR_TABLE)
    assert fallback and not set(intended) & set(fallback), without.summary()
    more = explain.rows_read(without, PR_TABLE) > 2 * explain.rows_read(with_index, PR_TABLE)
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
    assert explain.access_paths(plan, PR_TABLE)  # something reads the table
    assert explain.access_paths(plan, "no_such_table") == []
    with_index = statement.explain()
    assert explain.probes(with_index, TEAM_MERGED, "team_id")
    assert not explain.probes(with_index, TEAM_MERGED, "author_id")
