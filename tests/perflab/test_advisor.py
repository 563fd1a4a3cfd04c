"""The index advisor: predicates read from real plans, and on the pre-0003 schema it finds the shipped indexes.

The seed is notebook 06's test shape (20 teams x 50 members x 20 PRs, 20k PRs over a year), interleaved by
arrival and analyzed, generated once for the module and emptied at the end.
"""

from types import SimpleNamespace

import pandas as pd
import pytest

from apps.perflab import advisor, indexes
from tests.perflab.conftest import END, START, WEEK, year_of_twenty_teams

PR = indexes.PR_TABLE


@pytest.fixture(scope="module")
def dataset(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), year_of_twenty_teams("adv") as team:
        yield SimpleNamespace(team=team)


def table(advice: pd.DataFrame) -> str:
    """The measured candidates, best first, as the failure message."""
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 45):
        return "\n" + str(advisor.measured(advice, top=25))


def by_call(workload, name):
    return [s for s in workload.statements if name in s.call_site]


@pytest.mark.django_db
def test_the_workload_groups_the_bench_reads_by_fingerprint(dataset):
    workload = advisor.capture_workload(dataset.team, start=START, end=END, week=WEEK)
    fingerprints = [s.fingerprint for s in workload.statements]
    assert len(fingerprints) == len(set(fingerprints))
    assert all(s.count >= 1 and s.total_ms > 0 for s in workload.statements)
    assert any(PR in s.sql for s in workload.statements)


@pytest.mark.django_db
def test_predicates_of_known_statements(dataset):
    team = dataset.team
    with advisor.pre_0003_schema():
        sql = (
            'SELECT COUNT(*) FROM "metrics_pullrequest" WHERE "metrics_pullrequest"."team_id" = %s '
            "AND \"metrics_pullrequest\".\"state\" = 'merged' AND \"metrics_pullrequest\".\"merged_at\" >= %s "
            'AND "metrics_pullrequest"."merged_at" < %s'
        )
        found = advisor.predicates(advisor.explain(sql, [team.pk, START, END]), sql)
        # the order follows the plan (index condition first): the candidates try every permutation anyway
        assert set(found[PR].equality) == {"team_id", "state"}, found
        assert (found[PR].range, found[PR].ordering) == (["merged_at"], []), found
        assert set(found[PR].compared) == {"team_id", "state", "merged_at"}, found

        sql = (
            'SELECT "metrics_pullrequest"."id" FROM "metrics_pullrequest" WHERE "metrics_pullrequest"."team_id" = %s '
            'ORDER BY "metrics_pullrequest"."pr_created_at" DESC LIMIT 25'
        )
        found = advisor.predicates(advisor.explain(sql, [team.pk]), sql)
        assert found[PR].as_dict() == {"equality": ["team_id"], "range": [], "ordering": ["pr_created_at"]}, found

        sql = (
            'SELECT m."id", COUNT(p."id") FROM "metrics_teammember" m JOIN "metrics_pullrequest" p '
            "ON p.\"author_id\" = m.\"id\" AND p.\"state\" = 'merged' AND p.\"merged_at\" >= %s "
            'WHERE m."team_id" = %s GROUP BY m."id"'
        )
        found = advisor.predicates(advisor.explain(sql, [START, team.pk]), sql)
        assert set(found[PR].equality) == {"author_id", "state"}, found
        assert found[PR].range == ["merged_at"], found
        assert found["metrics_teammember"].equality == ["team_id"], found
        # the join column is fixed per probe, not compared with a value: no index needs it to hold the predicate
        assert set(found[PR].compared) == {"state", "merged_at"}, found


def test_candidate_columns_put_equality_first():
    preds = advisor.Predicates(equality=["team_id", "state"], range=["merged_at"])
    columns = advisor.candidate_columns(preds)
    assert columns[:3] == [("team_id", "state", "merged_at"), ("team_id", "state"), ("state", "team_id", "merged_at")]
    assert ("merged_at", "team_id") not in columns


@pytest.mark.django_db
def test_on_the_pre_0003_schema_it_rediscovers_the_shipped_indexes(dataset):
    with advisor.pre_0003_schema():
        workload = advisor.capture_workload(dataset.team, start=START, end=END, week=WEEK)
        advice = advisor.advise(workload)
    shown = table(advice)
    found = advisor.rediscovered(advice)
    shipped = indexes.shipped_indexes()
    assert [index.name for index in found] == [index.name for index in shipped], shown
    # not junk: at most one more than the shipped ones (the embedded PostgreSQL 18 also chose an index of
    # Copilot usage for the adoption read), and nothing that repeats a shipped index
    earning = advisor.earning(advice)
    assert len(earning) <= len(shipped) + 1, shown
    assert sorted(advisor.duplicates_of_shipped(advice)) == sorted(
        earning[earning.table == PR].candidate
    ), shown


@pytest.mark.django_db
def test_on_todays_schema_it_proposes_no_duplicate_of_a_shipped_index(dataset):
    workload = advisor.capture_workload(dataset.team, start=START, end=END, week=WEEK)
    advice = advisor.advise(workload, repeat=3)
    shipped = {(index.table, index.columns) for index in indexes.shipped_indexes()}
    assert not {(row.table, tuple(row.columns)) for row in advice.itertuples()} & shipped, table(advice)
    assert advisor.duplicates_of_shipped(advice) == [], table(advice)
