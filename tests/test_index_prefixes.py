"""No migration leaves an index on the app's tables that a longer index already leads with (issue 15 §2).

A non-unique index whose key columns (expressions, operator classes, predicate considered) lead another index of
its table serves no read the other cannot, and costs every write: drop it in a migration (see metrics 0004, 0012).
"""

import pytest
from django.db import connection

from apps.perflab.explain import rolled_back
from apps.perflab.index_health import app_tables, prefix_of_another

pytestmark = pytest.mark.django_db


def test_the_app_tables_are_those_of_its_apps():
    tables = app_tables()
    assert {"metrics_pullrequest", "integrations_githubintegration", "teams_membership"} <= set(tables)
    assert all(table.split("_")[0] in {"metrics", "integrations", "teams"} for table in tables)


def test_no_index_is_a_non_unique_prefix_of_another():
    redundant = prefix_of_another()
    assert redundant.empty, f"redundant indexes left by the migrations:\n{redundant.to_string()}"


def test_the_checker_names_a_redundant_index():
    with rolled_back(), connection.cursor() as cursor:
        cursor.execute("CREATE INDEX lint_redundant_pr_team ON metrics_pullrequest (team_id, state)")
        cursor.execute("CREATE UNIQUE INDEX lint_unique_pr_team ON metrics_pullrequest (team_id, id)")
        redundant = prefix_of_another()
    assert redundant[["index", "covered by"]].values.tolist() == [
        ["lint_redundant_pr_team", "pr_team_state_merged_idx"]
    ]
