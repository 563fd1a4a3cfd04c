"""Problem 6 in the lab: the composite indexes and the statements they are for.

- ``shipped_indexes()``: the indexes the models declare (``Meta.indexes``), which migration 0003 builds
  concurrently. ``audit_candidates()``: the audit's five proposals, and the replacement, as what-if candidates.
- ``shipped_statements(team, ...)``: the SQL the services send, captured by running them (key metrics, survey
  ratings, team breakdown, weekly chart, PR list page and count, Copilot member lookup, weekly aggregation), each
  with the indexes meant to serve it.
- ``plan_table`` / ``plan_verdicts``: each statement's plans before and after, read with ``explain.access_paths``
  and ``explain.rows_read``; ``plans_with``: the plans with more indexes alongside.
- ``evaluate_candidates`` / ``candidate_verdicts``: each candidate alone, built in a rolled-back transaction.
- The schema and the data: ``temporary_indexes`` / ``without_indexes`` (inside a rolled-back transaction),
  ``interleave_by_arrival`` (rows in the order a live database receives them), ``existing_indexes``,
  ``invalid_indexes``, ``index_sizes``, ``table_size``.

Elsewhere: how latency grows with the table, without and with the indexes, is ``series.growth_series`` (charted by
``plots.latency_grid``); what building them costs a writer meanwhile, ``index_builds``.

Lab tools: the rolled-back DDL takes locks that block writers. Not for production use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
from django.db import connection
from django.db.models import Index, Model
from django.db.models.functions import Lower

from apps.perflab.capture import capture_queries
from apps.perflab.explain import SEQ_SCAN, Plan, access_paths, explain, probes, rolled_back, rows_read

PR_TABLE = "metrics_pullrequest"
MEMBER_TABLE = "metrics_teammember"
TEAM_MERGED = "pr_team_state_merged_idx"
AUTHOR_MERGED = "pr_author_state_merged_idx"
TEAM_CREATED = "pr_team_created_idx"
LOGIN_UNIQUE = "teammember_unique_team_github_username"  # the functional unique index of migration 0002


# --- the indexes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexDefinition:
    """A B-tree index on plain columns: what the models declare and the audit proposed."""

    name: str
    table: str
    columns: tuple[str, ...]

    def create_sql(self, *, concurrently: bool = False) -> str:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(column) for column in self.columns)
        how = "CONCURRENTLY " if concurrently else ""
        return f"CREATE INDEX {how}{quote(self.name)} ON {quote(self.table)} ({columns})"

    def renamed(self, name: str) -> IndexDefinition:
        return dataclasses.replace(self, name=name)

    def __str__(self) -> str:
        return f"{self.table} ({', '.join(self.columns)})"


def _definition(model: type[Model], index: Index) -> IndexDefinition:
    descending = any(field.startswith("-") for field in index.fields)
    if descending or index.expressions or index.condition is not None or index.include or index.opclasses:
        raise ValueError(f"{index.name}: only plain ascending column indexes are modelled here")
    columns = tuple(model._meta.get_field(field).column for field in index.fields)
    return IndexDefinition(name=index.name, table=model._meta.db_table, columns=columns)


def shipped_indexes() -> list[IndexDefinition]:
    """The composite indexes the models declare (and migration 0003 builds), in declaration order."""
    from apps.metrics.models import PullRequest, TeamMember

    return [_definition(model, index) for model in (PullRequest, TeamMember) for index in model._meta.indexes]


@dataclass(frozen=True)
class Candidate:
    """A what-if index and the statements it was proposed for."""

    label: str
    index: IndexDefinition
    proposed_for: tuple[str, ...]


# What the audit proposed each index for (its words: "dashboard queries", "team breakdown", "date range queries",
# "Copilot sync lookup", "weekly aggregation"), as the statements of ``shipped_statements``.
PROPOSED_FOR = {
    ("team", "state", "merged_at"): ("key metrics", "survey ratings", "weekly chart"),
    ("team", "author", "merged_at"): ("team breakdown",),
    ("team", "pr_created_at"): ("PR list page", "PR list count"),
    ("team", "github_username"): ("Copilot member lookup",),
    ("team", "is_active"): ("weekly aggregation",),
}
# The team breakdown's join fixes the author, not the team: the author leads instead.
REPLACEMENT = ("metrics.PullRequest", ("author", "state", "merged_at"), ("team breakdown",))
# Notebook 06's verdicts, by candidate label.
REJECTED = (
    "PullRequest (team, author, merged_at)",
    "TeamMember (team, github_username)",
    "TeamMember (team, is_active)",
)


def audit_candidates(*, with_replacement: bool = True) -> list[Candidate]:
    """The audit's five proposals (``baselines.AUDIT_INDEXES``) as what-if candidates, then the replacement."""
    from django.apps import apps

    from apps.perflab.baselines import AUDIT_INDEXES

    proposals = [(label, fields, PROPOSED_FOR[tuple(fields)]) for label, fields in AUDIT_INDEXES]
    candidates = []
    for label, fields, proposed_for in proposals + ([REPLACEMENT] if with_replacement else []):
        model = apps.get_model(label)
        columns = tuple(model._meta.get_field(field).column for field in fields)
        table = model._meta.db_table
        index = IndexDefinition(name=_whatif_name(table, columns), table=table, columns=columns)
        candidates.append(Candidate(f"{model.__name__} ({', '.join(fields)})", index, tuple(proposed_for)))
    return candidates


def _whatif_name(table: str, columns: Sequence[str]) -> str:
    return "_".join(["whatif", table.removeprefix("metrics_"), *columns])[:63]


def column_index(table: str, column: str) -> str:
    """The name of the single-column index on ``table`` (``column``): say, Django's index of a foreign key."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
            "WHERE i.indrelid = %s::regclass AND i.indnatts = 1 AND i.indexprs IS NULL AND a.attname = %s "
            "ORDER BY c.relname LIMIT 1",
            [table, column],
        )
        row = cursor.fetchone()
    if row is None:
        raise LookupError(f"no single-column index on {table} ({column})")
    return row[0]


def existing_indexes(table: str) -> list[str]:
    """Index names on ``table``, sorted."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [table])
        return [name for (name,) in cursor.fetchall()]


def index_sizes(names: Sequence[str]) -> dict[str, int]:
    """Bytes of each named index (``pg_relation_size``); missing names are left out."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c WHERE c.relkind = 'i' AND c.relname = ANY(%s)",
            [list(names)],
        )
        sizes = dict(cursor.fetchall())
    return {name: sizes[name] for name in names if name in sizes}


def table_size(table: str) -> int:
    """Bytes of the table's heap (without its indexes)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [table])
        return cursor.fetchone()[0]


def invalid_indexes() -> list[str]:
    """Indexes left INVALID (a failed or cancelled concurrent build), sorted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE NOT i.indisvalid ORDER BY c.relname"
        )
        return [name for (name,) in cursor.fetchall()]


@contextlib.contextmanager
def temporary_indexes(indexes: Sequence[IndexDefinition], *, analyze: bool = False) -> Iterator[None]:
    """The indexes exist inside the block, in a transaction that is rolled back (writers wait meanwhile)."""
    with rolled_back(constraints_immediate=True):
        with connection.cursor() as cursor:
            for index in indexes:
                cursor.execute(index.create_sql())
            if analyze:
                for table in sorted({index.table for index in indexes}):
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
        yield


@contextlib.contextmanager
def without_indexes(names: Sequence[str]) -> Iterator[None]:
    """The named indexes are gone inside the block, in a transaction that is rolled back."""
    with rolled_back(constraints_immediate=True):
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        yield


def interleave_by_arrival(table: str = PR_TABLE, column: str = "pr_created_at") -> None:
    """Rewrite ``table`` in ``column`` order (CLUSTER on a throwaway index), then ANALYZE.

    ``datagen`` writes each team's rows together, so a team's PRs sit on a few neighbouring pages and any
    index on team_id reads them cheaply. A live database receives PRs as they happen, every team's
    interleaved, so a team's PRs are spread over the whole table: that is the layout measured here.
    """
    quote = connection.ops.quote_name
    helper = quote(f"perflab_{table}_arrival")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX {helper} ON {quote(table)} ({quote(column)}, id)")
        cursor.execute(f"CLUSTER {quote(table)} USING {helper}")
        cursor.execute(f"DROP INDEX {helper}")
        cursor.execute(f"ANALYZE {quote(table)}")


# --- the statements ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One statement a service sends, its parameters, and the indexes it should read ``table`` through.

    ``intended`` names every index that serves it as designed (one is enough).
    """

    label: str
    sql: str
    params: tuple
    intended: tuple[str, ...]
    table: str = PR_TABLE

    def reads_intended(self, plan: Plan) -> bool:
        return any(plan.uses_index(name) for name in self.intended)

    def explain(self) -> Plan:
        return explain(self.sql, list(self.params))

    def run(self) -> int:
        """Execute it and fetch every row; returns the row count."""
        with connection.cursor() as cursor:
            cursor.execute(self.sql, list(self.params))
            return len(cursor.fetchall())


def _selects(operation: Callable[[], object]) -> list[tuple[str, tuple]]:
    """The SELECT statements ``operation`` sends, in order; anything it writes is rolled back."""
    with rolled_back(constraints_immediate=True), capture_queries(call_sites=False) as capture:
        operation()
    return [(q.sql, tuple(q.params or ())) for q in capture.queries if q.sql.lstrip().upper().startswith("SELECT")]


def shipped_statements(
    team, *, start: dt.date, end: dt.date, week: dt.date, logins: Sequence[str] | None = None
) -> list[Statement]:
    """Run each shipped read once for ``team`` and keep the SQL it sent (writes rolled back).

    The range ``start``..``end`` is the dashboard's (and the PR list's), ``week`` the weekly aggregation's;
    ``logins`` are looked up as a Copilot sync would (default: every login of the team).
    """
    from apps.integrations import copilot_service
    from apps.metrics.models import TeamMember
    from apps.metrics.services import aggregation_service, chart_service, dashboard_service, pr_list_service

    if logins is None:
        members = TeamMember.objects.filter(team=team).exclude(github_username="")
        logins = list(members.annotate(login=Lower("github_username")).values_list("login", flat=True))

    def pr_list_page():
        return list(pr_list_service.pull_request_page(team, start=start, end=end).object_list)

    (key_metrics, ratings) = _selects(lambda: dashboard_service.compute_key_metrics(team, [(start, end)]))
    breakdown = _selects(lambda: dashboard_service.get_team_breakdown(team, start, end))[0]  # the members
    (chart,) = _selects(lambda: chart_service.weekly_cycle_time(team, start, end))
    (count, page) = _selects(pr_list_page)
    (lookup,) = _selects(lambda: copilot_service.members_by_login(team, set(logins)))
    weekly = _selects(lambda: aggregation_service.aggregate_team_weekly_metrics(team, week))[0]  # the members
    member_team = column_index(MEMBER_TABLE, "team_id")
    found = [
        ("key metrics", key_metrics, (TEAM_MERGED,), PR_TABLE),
        ("survey ratings", ratings, (TEAM_MERGED,), PR_TABLE),
        ("team breakdown", breakdown, (AUTHOR_MERGED,), PR_TABLE),
        ("weekly chart", chart, (TEAM_MERGED,), PR_TABLE),
        ("PR list page", page, (TEAM_CREATED,), PR_TABLE),
        ("PR list count", count, (TEAM_CREATED,), PR_TABLE),
        # indexes that were there before: the team's members through team_id when most logins are asked for (a
        # sync asks for all), the unique (team, lower(github_username)) when a few are
        ("Copilot member lookup", lookup, (member_team, LOGIN_UNIQUE), MEMBER_TABLE),
        # its join fixes the team and the author: either index serves it
        ("weekly aggregation", weekly, (TEAM_MERGED, AUTHOR_MERGED), PR_TABLE),
    ]
    return [Statement(label, sql, params, intended, table) for label, (sql, params), intended, table in found]


def evaluate_candidates(statements: Sequence[Statement], candidates: Sequence[Candidate]) -> pd.DataFrame:
    """Each candidate alone against the schema as it is: one row per (candidate, statement).

    Columns: ``proposed`` (the candidate was proposed for this statement), ``used`` (the plan reads it),
    ``probed`` (with its leading column fixed), ``before_ms``/``after_ms`` (EXPLAIN ANALYZE) and the
    candidate's ``size_bytes``. Each candidate is built in its own rolled-back transaction.
    """
    before = {statement.label: statement.explain() for statement in statements}
    rows = []
    for candidate in candidates:
        index = candidate.index
        with temporary_indexes([index]):
            size = index_sizes([index.name])[index.name]
            for statement in statements:
                after = statement.explain()
                rows.append(
                    {
                        "candidate": candidate.label,
                        "statement": statement.label,
                        "proposed": statement.label in candidate.proposed_for,
                        "used": after.uses_index(index.name),
                        "probed": probes(after, index.name, index.columns[0]),
                        "before_ms": before[statement.label].execution_time_ms,
                        "after_ms": after.execution_time_ms,
                        "size_bytes": size,
                    }
                )
    return pd.DataFrame(rows)


def candidate_verdicts(evaluation: pd.DataFrame) -> pd.DataFrame:
    """Per candidate (``evaluate_candidates``' rows): the statements it was proposed for, which of them probe
    it with its leading column fixed, and whether any statement reads it at all.

    "probed by" does not depend on the PostgreSQL version; "used" may (18 can skip-scan an index whose leading
    column the query leaves open, 15 cannot).
    """
    rows = []
    for candidate, group in evaluation.groupby("candidate", sort=False):
        proposed = group[group.proposed]
        probed = proposed[proposed.probed]
        rows.append(
            {
                "candidate": candidate,
                "proposed for": ", ".join(proposed.statement),
                "probed by": ", ".join(probed.statement) or "none",
                "used by any statement": bool(group.used.any()),
            }
        )
    return pd.DataFrame(rows).set_index("candidate")


def plan_verdicts(before: dict[str, Plan], after: dict[str, Plan], statements: Sequence[Statement]) -> pd.DataFrame:
    """Per statement, what holds on any PostgreSQL version: the intended index is read after, no sequential scan
    of its table is left, and whether it reads at least ten times fewer rows of its table than before."""
    rows = []
    for statement in statements:
        read_before = rows_read(before[statement.label], statement.table)
        read_after = rows_read(after[statement.label], statement.table)
        rows.append(
            {
                "statement": statement.label,
                "intended index used": statement.reads_intended(after[statement.label]),
                "seq scan left": SEQ_SCAN in access_paths(after[statement.label], statement.table),
                "10x fewer rows read": read_before >= 10 * read_after,
            }
        )
    return pd.DataFrame(rows).set_index("statement")


def plans_with(statements: Sequence[Statement], indexes: Sequence[IndexDefinition]) -> dict[str, Plan]:
    """Every statement's plan with ``indexes`` built (in a rolled-back transaction) next to what exists."""
    with temporary_indexes(indexes):
        return {statement.label: statement.explain() for statement in statements}


def plan_table(plans: dict[str, tuple[Plan, Plan]], statements: Sequence[Statement]) -> pd.DataFrame:
    """Before/after per statement: how each reads its table, and the EXPLAIN ANALYZE times.

    ``plans`` maps a statement's label to its (before, after) plans. The path columns are deterministic;
    the millisecond columns are not.
    """
    rows = []
    for statement in statements:
        before, after = plans[statement.label]
        table = statement.table
        rows.append(
            {
                "statement": statement.label,
                "reads": table.removeprefix("metrics_"),
                "before": " + ".join(access_paths(before, table)),
                "after": " + ".join(access_paths(after, table)),
                "intended index used": statement.reads_intended(after),
                "before ms": round(before.execution_time_ms, 2),
                "after ms": round(after.execution_time_ms, 2),
            }
        )
    return pd.DataFrame(rows).set_index("statement")
