"""Migrations 0006-0008 and 0010-0011: columns the models read survive notebook 06's trip back to 0002; the review
key builds concurrently.

These tests migrate for real (``transactional_db``) and always migrate forward again at the end.
"""

import io
from importlib import import_module

from django.apps import apps
from django.core.management import call_command
from django.db import connection

from apps.metrics.models import PRReview

NEW_COLUMNS = {
    "metrics_teammember": {"is_bot", "user_id"},
    "metrics_pullrequest": {"closed_at", "github_updated_at"},
    "metrics_prreview": {"github_review_id"},
}
REVIEW_KEY = "prreview_unique_team_review_id"


def columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def review_constraints() -> dict:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, PRReview._meta.db_table)


def test_back_to_0002_keeps_the_columns_todays_models_read(migrate_forward_at_the_end):
    call_command("migrate", "metrics", "0002", verbosity=0)  # what notebook 06 does first
    # every column of every metrics model: a migration adding one must depend on 0001 alone (see 0006, 0010)
    for model in apps.get_app_config("metrics").get_models():
        table = model._meta.db_table
        declared = {field.column for field in model._meta.concrete_fields}
        assert declared <= columns(table), f"{table} lacks {sorted(declared - columns(table))} at metrics 0002"
    assert review_constraints()[REVIEW_KEY]["unique"]


def test_back_to_0001_drops_them_and_forward_builds_them_again(migrate_forward_at_the_end):
    call_command("migrate", "metrics", "0001", verbosity=0)
    for table, new in NEW_COLUMNS.items():
        assert not new & columns(table), table
    assert REVIEW_KEY not in review_constraints()

    call_command("migrate", "metrics", verbosity=0)
    for table, new in NEW_COLUMNS.items():
        assert new <= columns(table), table
    key = review_constraints()[REVIEW_KEY]
    assert key["unique"] and key["columns"] == ["team_id", "github_review_id"]


def test_the_review_key_is_built_concurrently_outside_a_transaction(transactional_db):
    migration = import_module("apps.metrics.migrations.0007_prreview_unique_review_id").Migration
    assert migration.atomic is False
    forward, backward = io.StringIO(), io.StringIO()
    call_command("sqlmigrate", "metrics", "0007", stdout=forward)
    call_command("sqlmigrate", "metrics", "0007", "--backwards", stdout=backward)
    assert "CREATE UNIQUE INDEX CONCURRENTLY" in forward.getvalue()
    assert f'ADD CONSTRAINT "{REVIEW_KEY}" UNIQUE USING INDEX' in forward.getvalue()
    assert f'DROP CONSTRAINT "{REVIEW_KEY}"' in backward.getvalue()
    assert "BEGIN" not in forward.getvalue() + backward.getvalue()
