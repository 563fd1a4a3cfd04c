"""Migration 0003: the composite indexes built concurrently, dropped concurrently on the way back.

CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block, so these tests commit
(``transactional_db``) and always migrate forward again at the end.
"""

import io
from importlib import import_module

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently
from django.core.management import call_command
from django.db import connection

from apps.metrics.models import PullRequest, TeamMember

MIGRATION = "0003_composite_indexes"
INDEXES = {
    "pr_team_state_merged_idx": ["team_id", "state", "merged_at"],
    "pr_author_state_merged_idx": ["author_id", "state", "merged_at"],
    "pr_team_created_idx": ["team_id", "pr_created_at"],
}


def composite_indexes() -> dict[str, tuple[list[str], bool]]:
    """Our indexes on the PR table as they are in the database: name -> (columns, valid)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, array_agg(a.attname ORDER BY k.ordinality), bool_and(i.indisvalid)
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ordinality)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = 'metrics_pullrequest'::regclass AND c.relname = ANY(%s)
            GROUP BY c.relname
            """,
            [list(INDEXES)],
        )
        return {name: (list(columns), valid) for name, columns, valid in cursor.fetchall()}


def test_the_migration_is_non_atomic_and_concurrent():
    migration = import_module(f"apps.metrics.migrations.{MIGRATION}").Migration
    assert migration.atomic is False
    assert all(isinstance(operation, AddIndexConcurrently) for operation in migration.operations)
    assert {operation.index.name: operation.index.fields for operation in migration.operations} == {
        "pr_team_state_merged_idx": ["team", "state", "merged_at"],
        "pr_author_state_merged_idx": ["author", "state", "merged_at"],
        "pr_team_created_idx": ["team", "pr_created_at"],
    }
    assert all(len(name) <= 30 for name in INDEXES)  # Django's limit for index names


def test_the_models_declare_exactly_what_the_migrations_build(db):
    # makemigrations --check exits non-zero when the models and the migrations disagree
    call_command("makemigrations", "metrics", "--check", "--dry-run", verbosity=0)
    assert {index.name for index in PullRequest._meta.indexes} == set(INDEXES)
    assert TeamMember._meta.indexes == []  # both TeamMember proposals were rejected (notebook 06)


def test_the_sql_both_ways_is_concurrent(transactional_db):
    forward, backward = io.StringIO(), io.StringIO()
    call_command("sqlmigrate", "metrics", MIGRATION, stdout=forward)
    call_command("sqlmigrate", "metrics", MIGRATION, "--backwards", stdout=backward)
    assert forward.getvalue().count("CREATE INDEX CONCURRENTLY") == 3
    assert backward.getvalue().count("DROP INDEX CONCURRENTLY") == 3
    assert "BEGIN" not in forward.getvalue() + backward.getvalue()  # no transaction around them


def test_migrating_back_drops_the_indexes_and_forward_builds_them_again(migrate_forward_at_the_end):
    assert composite_indexes() == {name: (columns, True) for name, columns in INDEXES.items()}

    call_command("migrate", "metrics", "0002", verbosity=0)
    assert composite_indexes() == {}

    call_command("migrate", "metrics", MIGRATION, verbosity=0)
    assert composite_indexes() == {name: (columns, True) for name, columns in INDEXES.items()}


def test_it_refuses_to_run_inside_a_transaction(migrate_forward_at_the_end):
    from django.db import NotSupportedError, transaction
    from django.db.migrations.executor import MigrationExecutor

    call_command("migrate", "metrics", "0002", verbosity=0)
    executor = MigrationExecutor(connection)
    with pytest.raises(NotSupportedError, match="cannot be executed inside a transaction"), transaction.atomic():
        executor.migrate([("metrics", MIGRATION)])
    assert composite_indexes() == {}
