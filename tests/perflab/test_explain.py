"""EXPLAIN parsing, the plan helpers and what-if indexes, on a real PostgreSQL with enough rows to matter.

20k pull requests of one team, created ten minutes apart: a one-day window on pr_created_at is under 1% of
the table, so without an index the planner scans the table and with (team_id, pr_created_at) it does not.
"""

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.db import DatabaseError, connection, transaction

from apps.metrics.factories import TeamMemberFactory
from apps.metrics.models import PullRequest
from apps.perflab.explain import ExplainError, Plan, explain, parse_plan, seq_scans, summary, uses_index, what_if
from apps.teams.factories import TeamFactory

ROWS = 20_000
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TABLE = "metrics_pullrequest"
CANDIDATE = "whatif_metrics_pullrequest_team_id_pr_created_at"

# One statement for all rows: every third PR is open (merged_at NULL), the others merge a day after creation,
# which keeps the state/merged_at check constraints satisfied. mod() instead of % avoids escaping the placeholder.
INSERT_PULL_REQUESTS = f"""
    INSERT INTO {TABLE} (
        team_id, author_id, github_pr_id, github_repo, title, state, pr_created_at, merged_at,
        additions, deletions, is_revert, is_hotfix, is_ai_assisted
    )
    SELECT
        %(team)s, %(author)s, i, 'acme/app', 'PR ' || i,
        CASE WHEN mod(i, 3) = 0 THEN 'open' ELSE 'merged' END,
        %(start)s + i * interval '10 minutes',
        CASE WHEN mod(i, 3) = 0 THEN NULL ELSE %(start)s + i * interval '10 minutes' + interval '1 day' END,
        10, 2, false, false, mod(i, 2) = 0
    FROM generate_series(1, %(rows)s) AS i
"""


@pytest.fixture
def pull_requests(db):
    team = TeamFactory()
    author = TeamMemberFactory(team=team)
    with connection.cursor() as cursor:
        cursor.execute(INSERT_PULL_REQUESTS, {"team": team.id, "author": author.id, "start": START, "rows": ROWS})
        # Fresh statistics, or the planner would cost the table as the empty one it saw last.
        cursor.execute(f"ANALYZE {TABLE}")
        # The shipped (team, pr_created_at) index is exactly this module's "missing index" example:
        # drop it for the test (the test's transaction rolls the drop back).
        cursor.execute("DROP INDEX pr_team_created_idx")
    return SimpleNamespace(team=team, merged=PullRequest.objects.filter(state="merged").count())


def one_day_of(team):
    """A selective range query: one day out of about 139."""
    day = START + dt.timedelta(days=50)
    return PullRequest.objects.filter(team=team, pr_created_at__gte=day, pr_created_at__lt=day + dt.timedelta(days=1))


def index_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [name])
        return cursor.fetchone() is not None


def table_indexes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [TABLE])
        return [name for (name,) in cursor.fetchall()]


class TestExplain:
    def test_queryset_plan_counts_the_rows_it_returns(self, pull_requests):
        plan = explain(PullRequest.objects.filter(state="merged"))
        node_types = {node.node_type for node in plan.nodes()}
        assert "Seq Scan" in node_types
        # The root emits every row of the result (a Gather sums its workers), whatever the plan's shape.
        assert plan.root.actual_rows == pull_requests.merged
        assert plan.root.actual_loops == 1
        assert plan.execution_time_ms > 0 and plan.planning_time_ms > 0
        assert '"metrics_pullrequest"."state" = %s' in plan.sql

    def test_sql_string_with_params(self, pull_requests):
        plan = explain(f"SELECT count(*) FROM {TABLE} WHERE team_id = %s", [pull_requests.team.id])
        assert plan.root.node_type == "Aggregate"
        assert plan.root.actual_rows == 1
        scan = next(node for node in plan.nodes() if node.relation == TABLE)
        assert scan.actual_rows * scan.actual_loops == pytest.approx(ROWS, rel=0.01)
        assert scan.estimated_rows > 0 and scan.total_cost >= scan.startup_cost
        assert scan.shared_hit_blocks is not None and scan.shared_read_blocks is not None
        assert scan.alias == TABLE

    def test_seq_scans_names_the_table(self, pull_requests):
        assert seq_scans(explain(one_day_of(pull_requests.team))) == [TABLE]

    def test_without_analyze_nothing_runs_and_actuals_are_none(self, pull_requests):
        plan = explain(one_day_of(pull_requests.team), analyze=False)
        assert plan.execution_time_ms is None and plan.planning_time_ms is None
        assert all(node.actual_rows is None and node.shared_hit_blocks is None for node in plan.nodes())
        assert plan.root.estimated_rows > 0
        assert seq_scans(plan) == [TABLE]

    def test_analyze_of_a_write_is_rolled_back(self, pull_requests):
        explain(f"DELETE FROM {TABLE} WHERE team_id = %s", [pull_requests.team.id])
        assert PullRequest.objects.count() == ROWS

    def test_literal_percent_without_params(self, pull_requests):
        plan = explain(f"SELECT id FROM {TABLE} WHERE title LIKE 'PR 1%'")
        assert plan.root.actual_rows == 1 + 10 + 100 + 1000 + 10000

    def test_bad_sql_raises_and_the_connection_stays_usable(self, pull_requests):
        with pytest.raises(DatabaseError, match="no_such_column") as excinfo:
            explain(f"SELECT no_such_column FROM {TABLE}")
        assert isinstance(excinfo.value, ExplainError)
        # The failed statement was confined to a savepoint: the test's transaction carries on.
        assert PullRequest.objects.count() == ROWS

    def test_empty_queryset_is_refused_clearly(self, db):
        with pytest.raises(ValueError, match="never match"):
            explain(PullRequest.objects.none())


class TestSummary:
    def test_is_an_indented_tree_of_labels_only(self, pull_requests):
        text = summary(explain(f"SELECT count(*) FROM {TABLE} WHERE team_id = %s", [pull_requests.team.id]))
        lines = text.splitlines()
        assert lines[0] == "Aggregate"
        assert f"  Seq Scan on {TABLE}" in lines

    def test_has_no_numbers_and_is_identical_across_runs(self, pull_requests):
        query = one_day_of(pull_requests.team)
        first, second = explain(query), explain(query)
        assert str(first) == str(second) == first.summary()
        assert not re.search(r"\d+(\.\d+)?\s*(ms|s)\b|cost|rows|time", str(first))

    def test_html_table_for_notebooks(self, pull_requests):
        plan = explain(one_day_of(pull_requests.team))
        html = plan._repr_html_()
        assert html.startswith("<table>") and html.count("<tr>") == 1 + len(list(plan.nodes()))
        assert f"<td>{TABLE}</td>" in html and "<th>time ms</th>" in html


class TestParsedPlans:
    """Shapes the planner will not reliably produce on test data, checked from hand-written JSON."""

    BITMAP = {
        "Plan": {
            "Node Type": "Bitmap Heap Scan",
            "Relation Name": TABLE,
            "Alias": "pr",
            "Plan Rows": 150,
            "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "pr_created_idx", "Plan Rows": 150}],
        }
    }

    def test_bitmap_index_scan_counts_as_using_the_index(self):
        plan = parse_plan(self.BITMAP)
        assert uses_index(plan, "pr_created_idx") and not uses_index(plan, "other_idx")
        assert plan.index_names() == ["pr_created_idx"]
        assert plan.seq_scans() == []
        assert str(plan) == f"Bitmap Heap Scan on {TABLE}\n  Bitmap Index Scan using pr_created_idx"

    def test_missing_fields_are_none(self):
        node = parse_plan(self.BITMAP).root.children[0]
        assert node.relation is None and node.actual_rows is None and node.total_cost is None
        assert isinstance(parse_plan(self.BITMAP), Plan)


class TestWhatIf:
    def test_candidate_index_turns_the_seq_scan_into_an_index_read(self, pull_requests):
        result = what_if(one_day_of(pull_requests.team), [(TABLE, ["team_id", "pr_created_at"])])
        assert result.created == [CANDIDATE]
        assert seq_scans(result.before) == [TABLE]
        assert uses_index(result.after, CANDIDATE)
        assert result.used == [CANDIDATE]
        assert result.sizes[CANDIDATE] > 0
        # Same query, same answer, before and after.
        assert result.before.root.actual_rows == result.after.root.actual_rows == one_day_of(pull_requests.team).count()

    def test_schema_and_data_are_left_as_they_were(self, pull_requests):
        indexes_before = table_indexes()
        what_if(one_day_of(pull_requests.team), [(TABLE, ["team_id", "pr_created_at"])])
        assert not index_exists(CANDIDATE)
        assert table_indexes() == indexes_before
        # Only the what-if part was rolled back: the rows inserted earlier in this test's transaction remain.
        assert PullRequest.objects.count() == ROWS

    def test_foreign_keys_stay_deferred_afterwards(self, pull_requests):
        # what_if fires deferred checks early so CREATE INDEX may run; the rollback must restore the deferral.
        what_if(one_day_of(pull_requests.team), [(TABLE, ["team_id", "pr_created_at"])])
        with transaction.atomic():
            # A dangling author is accepted until commit only while the foreign key is still deferred.
            PullRequest.objects.filter(github_pr_id=1).update(author_id=2**31 - 1)
            transaction.set_rollback(True)

    def test_create_index_statements_including_unnamed_ones(self, pull_requests):
        result = what_if(
            one_day_of(pull_requests.team),
            [f"CREATE INDEX whatif_by_created ON {TABLE} (pr_created_at)", f"CREATE INDEX ON {TABLE} (is_hotfix)"],
        )
        assert result.created[0] == "whatif_by_created"
        assert len(result.created) == 2 and result.created[1].startswith(TABLE)
        assert result.used == ["whatif_by_created"]
        assert not any(index_exists(name) for name in result.created)

    def test_summary_shows_both_plans_and_the_verdicts(self, pull_requests):
        candidates = [(TABLE, ["team_id", "pr_created_at"]), (TABLE, ["title"])]
        text = str(what_if(one_day_of(pull_requests.team), candidates))
        assert text.startswith(f"before:\n  Seq Scan on {TABLE}\nafter:\n")
        assert f"using {CANDIDATE} on {TABLE}" in text
        assert text.endswith(f"candidates:\n  {CANDIDATE}: used\n  whatif_metrics_pullrequest_title: not used")
        assert text == str(what_if(one_day_of(pull_requests.team), candidates))

    def test_a_failing_candidate_rolls_back_and_leaves_the_connection_usable(self, pull_requests):
        with pytest.raises(DatabaseError):
            what_if(one_day_of(pull_requests.team), [(TABLE, ["team_id"]), (TABLE, ["no_such_column"])])
        assert not index_exists("whatif_metrics_pullrequest_team_id")
        assert PullRequest.objects.count() == ROWS

    def test_bad_spec_is_refused(self, db):
        with pytest.raises(ValueError, match="non-empty list"):
            what_if(f"SELECT 1 FROM {TABLE}", [(TABLE, "team_id")])
