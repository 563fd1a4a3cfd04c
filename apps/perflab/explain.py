"""EXPLAIN analysis for the performance lab: parse PostgreSQL plans and try indexes that do not exist yet.

``explain()`` runs ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` on a QuerySet or a SQL string and returns a
``Plan``: a tree of frozen ``PlanNode`` dataclasses plus helpers (``uses_index``, ``seq_scans``,
``index_names``, ``summary``). ``access_paths``, ``probes`` and ``rows_read`` say how a plan reads one table:
through which indexes, whether an index's leading column is fixed, and how many of its rows. ``what_if()``
creates candidate indexes inside a savepoint, compares the plan before and after, and rolls everything back.

Notebooks compare output as text (nbval), so ``summary()`` names only node types, relations and indexes:
costs, row counts and timings change from run to run and machine to machine and stay out of it. Only
EXPLAIN options that PostgreSQL 15 knows are used, since CI runs on 15 and development on 18.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connections, transaction
from django.db.models import QuerySet

__all__ = [
    "ExplainError",
    "Plan",
    "PlanNode",
    "SEQ_SCAN",
    "WhatIf",
    "access_paths",
    "explain",
    "index_names",
    "parse_plan",
    "probes",
    "rows_read",
    "seq_scans",
    "summary",
    "uses_index",
    "what_if",
]

# A candidate index for what_if(): either a CREATE INDEX statement or ("table", ["col", ...]).
IndexSpec = str | tuple[str, Sequence[str]]

# PostgreSQL truncates longer identifiers (with only a NOTICE); we truncate first so names stay predictable.
_MAX_IDENTIFIER_LENGTH = 63

# What ``access_paths`` calls a sequential scan of the table.
SEQ_SCAN = "seq scan"

_HTML_COLUMNS = ("node", "relation", "index", "est rows", "actual rows", "time ms")


class ExplainError(DatabaseError):
    """EXPLAIN failed; the message carries the database's error and the statement that was explained."""


@dataclass(frozen=True)
class PlanNode:
    """One node of a plan. Fields EXPLAIN did not report (e.g. actual_* without ANALYZE) are None."""

    node_type: str
    relation: str | None
    index_name: str | None
    alias: str | None
    estimated_rows: int | None
    # Per loop, as PostgreSQL reports it. A float because PostgreSQL 18 reports fractional averages.
    actual_rows: float | None
    actual_loops: int | None
    # Per loop too: multiply by actual_loops for the node's total time.
    actual_total_time_ms: float | None
    startup_cost: float | None
    total_cost: float | None
    shared_hit_blocks: int | None
    shared_read_blocks: int | None
    children: tuple[PlanNode, ...] = ()

    def walk(self, depth: int = 0) -> Iterator[tuple[int, PlanNode]]:
        """Depth-first (pre-order) walk yielding (depth, node), the order EXPLAIN prints nodes in."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def label(self) -> str:
        """'Index Scan using idx on table': node type, index and relation, nothing run-dependent."""
        parts = [self.node_type]
        if self.index_name:
            parts.append(f"using {self.index_name}")
        if self.relation:
            parts.append(f"on {self.relation}")
        return " ".join(parts)


@dataclass(frozen=True)
class Plan:
    """A parsed EXPLAIN result. ``str(plan)`` is the deterministic summary; notebooks render a table."""

    root: PlanNode
    planning_time_ms: float | None
    execution_time_ms: float | None
    sql: str
    raw: dict[str, Any] = field(repr=False)

    def nodes(self) -> Iterator[PlanNode]:
        """Every node, depth-first from the root."""
        return (node for _, node in self.root.walk())

    def uses_index(self, name: str) -> bool:
        return uses_index(self, name)

    def seq_scans(self) -> list[str]:
        return seq_scans(self)

    def index_names(self) -> list[str]:
        return index_names(self)

    def summary(self) -> str:
        return summary(self)

    def __str__(self) -> str:
        return summary(self)

    def _repr_html_(self) -> str:
        header = "".join(f"<th>{title}</th>" for title in _HTML_COLUMNS)
        rows = "".join(_html_row(depth, node) for depth, node in self.root.walk())
        return f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def uses_index(plan: Plan, name: str) -> bool:
    """True if any node reads index ``name``: Index Scan, Index Only Scan or Bitmap Index Scan alike."""
    return any(node.index_name == name for node in plan.nodes())


def seq_scans(plan: Plan) -> list[str]:
    """Relations read by a sequential scan, distinct, in plan order.

    A parallel sequential scan counts too: in JSON it is a "Seq Scan" node with "Parallel Aware" set.
    """
    return _distinct(node.relation for node in plan.nodes() if node.node_type == "Seq Scan" and node.relation)


def index_names(plan: Plan) -> list[str]:
    """Indexes the plan reads, distinct, in plan order."""
    return _distinct(node.index_name for node in plan.nodes() if node.index_name)


def summary(plan: Plan) -> str:
    """One line per node, indented two spaces per level, without costs, rows or timings."""
    return "\n".join("  " * depth + node.label() for depth, node in plan.root.walk())


def raw_nodes(raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan as EXPLAIN's JSON gives it (``{"Plan": ...}``), keys such as "Filter" included."""
    stack = [raw["Plan"]]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.get("Plans", ()))


def access_paths(plan: Plan, table: str) -> list[str]:
    """How ``plan`` reads ``table``: ``"seq scan"`` and/or the index names, in plan order, distinct.

    A bitmap heap scan is attributed the indexes of its bitmap index scans (which name no table).
    """
    paths: list[str] = []
    for node in plan.nodes():
        if node.relation != table:
            continue
        if node.node_type == "Seq Scan":
            paths.append(SEQ_SCAN)
        elif node.index_name:
            paths.append(node.index_name)
        elif node.node_type == "Bitmap Heap Scan":
            paths += [child.index_name for _, child in node.walk() if child.index_name]
    return list(dict.fromkeys(paths))


def probes(plan: Plan, index: str, column: str) -> bool:
    """True if ``plan`` reads ``index`` with an equality on ``column`` (its leading column) in the index condition.

    An index read without its leading column fixed (PostgreSQL 18's skip scan, or a full index scan) is used,
    but not as designed: it steps through every value of that column.
    """
    pattern = re.compile(rf"\(+{re.escape(column)} = ")
    return any(
        node.get("Index Name") == index and pattern.search(node.get("Index Cond", "")) for node in raw_nodes(plan.raw)
    )


def rows_read(plan: Plan, table: str) -> int:
    """Rows of ``table`` the plan examined: what its scans returned plus what their filters threw away. A bitmap
    heap scan counts the index entries its bitmap index scans collected where they are more: a BitmapAnd of two
    indexes reads every entry of both, though the heap scan then returns only rows in both.

    Rows an index condition skipped are not read. Per-loop figures are multiplied by the loops (parallel
    workers and nested-loop probes alike). Needs an EXPLAIN ANALYZE plan.
    """
    total = 0.0
    for node in raw_nodes(plan.raw):
        if node.get("Relation Name") != table or "Actual Rows" not in node:
            continue
        per_loop = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        per_loop += node.get("Rows Removed by Index Recheck", 0)
        if node.get("Node Type") == "Bitmap Heap Scan":
            per_loop = max(per_loop, sum(
                entry.get("Actual Rows", 0) for entry in raw_nodes({"Plan": node})
                if entry.get("Node Type") == "Bitmap Index Scan"
            ))
        total += per_loop * node.get("Actual Loops", 1)
    return round(total)


def parse_plan(raw: dict[str, Any], sql: str = "") -> Plan:
    """Build a Plan from one element of EXPLAIN (FORMAT JSON)'s output (the dict holding "Plan")."""
    return Plan(
        root=_parse_node(raw["Plan"]),
        planning_time_ms=raw.get("Planning Time"),
        execution_time_ms=raw.get("Execution Time"),
        sql=sql,
        raw=raw,
    )


def explain(
    query: QuerySet | str, params: Sequence[Any] | None = None, *, analyze: bool = True, using: str = "default"
) -> Plan:
    """EXPLAIN a QuerySet or a SQL string (``%s`` placeholders, ``params`` alongside) on ``connections[using]``.

    With ``analyze`` the statement really runs, so it runs inside a savepoint that is always rolled back:
    explaining an UPDATE or DELETE leaves the data alone, and a failing statement leaves an enclosing
    transaction usable. Raises ExplainError (a DatabaseError) when PostgreSQL rejects the statement.
    """
    sql, params = _sql_and_params(query, params, using)
    with rolled_back(using):
        raw = _run_explain(sql, params, analyze=analyze, using=using)
    return parse_plan(raw, sql)


@dataclass(frozen=True)
class WhatIf:
    """The plan of one query before and after creating candidate indexes (which were then rolled back)."""

    before: Plan
    after: Plan
    created: list[str]
    sizes: dict[str, int]

    @property
    def used(self) -> list[str]:
        """The candidate indexes the after-plan reads."""
        return [name for name in self.created if uses_index(self.after, name)]

    def summary(self) -> str:
        """Both plan summaries and each candidate's verdict; sizes are left out as they vary by version."""
        lines = ["before:", _indent(summary(self.before)), "after:", _indent(summary(self.after)), "candidates:"]
        lines += [f"  {name}: {'used' if name in self.used else 'not used'}" for name in self.created]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def what_if(
    query: QuerySet | str, indexes: Sequence[IndexSpec], params: Sequence[Any] | None = None, *, using: str = "default"
) -> WhatIf:
    """EXPLAIN ANALYZE ``query``, create ``indexes``, ANALYZE their tables, EXPLAIN ANALYZE again, roll back.

    ``indexes`` holds CREATE INDEX statements or ("table", ["col", ...]) specs, which become
    ``CREATE INDEX whatif_<table>_<cols> ON table (cols)``. Everything happens in one atomic block that
    is rolled back, a savepoint when a transaction is already open (as in a pytest-django test), so only
    the what-if part is undone and the schema is left exactly as it was. The plain CREATE INDEX holds a
    lock that blocks writes to the table until the rollback: this is a lab tool, not for production.
    """
    sql, params = _sql_and_params(query, params, using)
    statements = [_create_index_sql(spec, using) for spec in indexes]
    with rolled_back(using):
        before = parse_plan(_run_explain(sql, params, analyze=True, using=using), sql)
        _check_deferred_constraints_now(using)
        created = _create_indexes(statements, using)
        _analyze_tables(sorted({table for _, table in created.values()}), using)
        after = parse_plan(_run_explain(sql, params, analyze=True, using=using), sql)
        sizes = _index_sizes(created, using)
    return WhatIf(before=before, after=after, created=list(created), sizes=sizes)


# --- parsing ---------------------------------------------------------------------------------------------


def _parse_node(data: dict[str, Any]) -> PlanNode:
    return PlanNode(
        node_type=data["Node Type"],
        relation=data.get("Relation Name"),
        index_name=data.get("Index Name"),
        alias=data.get("Alias"),
        estimated_rows=data.get("Plan Rows"),
        actual_rows=_optional_float(data.get("Actual Rows")),
        actual_loops=data.get("Actual Loops"),
        actual_total_time_ms=data.get("Actual Total Time"),
        startup_cost=data.get("Startup Cost"),
        total_cost=data.get("Total Cost"),
        shared_hit_blocks=data.get("Shared Hit Blocks"),
        shared_read_blocks=data.get("Shared Read Blocks"),
        children=tuple(_parse_node(child) for child in data.get("Plans", ())),
    )


def _optional_float(value: float | int | None) -> float | None:
    # PostgreSQL 15 reports whole rows, 18 fractional ones: one type for both keeps comparisons simple.
    return None if value is None else float(value)


def _distinct(values: Iterator[str | None]) -> list[str]:
    return list(dict.fromkeys(value for value in values if value))


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _html_row(depth: int, node: PlanNode) -> str:
    cells = [
        "&nbsp;" * (4 * depth) + html.escape(node.node_type),
        html.escape(node.relation or ""),
        html.escape(node.index_name or ""),
        _format_number(node.estimated_rows),
        _format_number(node.actual_rows),
        "" if node.actual_total_time_ms is None else f"{node.actual_total_time_ms:.3f}",
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _format_number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


# --- running ---------------------------------------------------------------------------------------------


@contextmanager
def rolled_back(using: str = "default", *, constraints_immediate: bool = False) -> Iterator[None]:
    """An atomic block that is always rolled back: a savepoint inside an open transaction, else a transaction.

    ``constraints_immediate``: check deferred constraints at once (``SET CONSTRAINTS ALL IMMEDIATE``):
    pending deferred foreign-key checks would make CREATE/DROP INDEX refuse to run in the block.
    """
    with transaction.atomic(using=using):
        if constraints_immediate:
            with connections[using].cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        yield
        transaction.set_rollback(True, using=using)


def _sql_and_params(query: QuerySet | str, params: Sequence[Any] | None, using: str) -> tuple[str, Any]:
    if isinstance(query, str):
        # params stays None when not given, so a literal % in hand-written SQL is not taken for a placeholder.
        return query, params
    if params is not None:
        raise TypeError("params are only for SQL strings: a QuerySet carries its own")
    try:
        # The compiler's SQL with separate params is what actually runs; str(qs.query) inlines values unquoted.
        return query.query.get_compiler(using=using).as_sql()
    except EmptyResultSet as exc:
        raise ValueError("this QuerySet can never match a row (e.g. .none()), so it sends no SQL to explain") from exc


def _explain_prefix(analyze: bool) -> str:
    # BUFFERS needs ANALYZE for per-node counts; both options exist in PostgreSQL 15.
    return "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " if analyze else "EXPLAIN (FORMAT JSON) "


def _run_explain(sql: str, params: Any, *, analyze: bool, using: str) -> dict[str, Any]:
    try:
        with connections[using].cursor() as cursor:
            cursor.execute(_explain_prefix(analyze) + sql, params)
            (result,) = cursor.fetchone()
    except DatabaseError as exc:
        raise ExplainError(f"EXPLAIN failed: {exc}\nstatement: {sql}") from exc
    return _first_plan(result)


def _first_plan(result: Any) -> dict[str, Any]:
    # psycopg decodes the json column already; other drivers may hand over the text.
    if isinstance(result, str):
        result = json.loads(result)
    return result[0]


# --- what-if indexes -------------------------------------------------------------------------------------


def _check_deferred_constraints_now(using: str) -> None:
    """Fire pending deferred-constraint checks, which PostgreSQL requires before CREATE INDEX on the table.

    Django declares foreign keys DEFERRABLE INITIALLY DEFERRED, so rows written earlier in the same transaction
    (a pytest-django test, a notebook cell inside atomic) leave "pending trigger events" behind. Rolling back
    the savepoint restores both the deferred mode and the pending checks, so the caller sees no difference.
    """
    with connections[using].cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _create_index_sql(spec: IndexSpec, using: str) -> str:
    if isinstance(spec, str):
        return spec
    table, columns = spec
    if isinstance(columns, str) or not columns:
        raise ValueError(f"index spec {spec!r}: give the columns as a non-empty list, e.g. ('table', ['col'])")
    quote = connections[using].ops.quote_name
    name = "_".join(["whatif", table, *columns])[:_MAX_IDENTIFIER_LENGTH]
    return f"CREATE INDEX {quote(name)} ON {quote(table)} ({', '.join(quote(column) for column in columns)})"


_INDEXES_SQL = """
    SELECT i.indexrelid, index_class.relname, i.indrelid::regclass::text
    FROM pg_index AS i JOIN pg_class AS index_class ON index_class.oid = i.indexrelid
"""


def _existing_indexes(using: str) -> dict[int, tuple[str, str]]:
    """oid -> (index name, table as a quoted, qualified-if-needed name usable in SQL)."""
    with connections[using].cursor() as cursor:
        cursor.execute(_INDEXES_SQL)
        return {oid: (name, table) for oid, name, table in cursor.fetchall()}


def _create_indexes(statements: list[str], using: str) -> dict[str, tuple[int, str]]:
    """Run each CREATE INDEX; return index name -> (oid, table) for what each one created.

    Names and tables come from the catalog rather than from parsing the statement, so statements that let
    PostgreSQL choose the name, quote identifiers or qualify the schema all work.
    """
    created: dict[str, tuple[int, str]] = {}
    for statement in statements:
        known = _existing_indexes(using)
        with connections[using].cursor() as cursor:
            cursor.execute(statement)
        new = {oid: entry for oid, entry in _existing_indexes(using).items() if oid not in known}
        if not new:
            # e.g. IF NOT EXISTS on an existing name: the comparison would then be about nothing.
            raise ValueError(f"candidate created no index (does it exist already?): {statement}")
        created.update({name: (oid, table) for oid, (name, table) in new.items()})
    return created


def _analyze_tables(tables: list[str], using: str) -> None:
    # Fresh statistics so the after-plan is costed on the same footing as a real deployment's
    # (expression indexes in particular have no statistics until ANALYZE).
    with connections[using].cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def _index_sizes(created: dict[str, tuple[int, str]], using: str) -> dict[str, int]:
    # By oid, not by name: the same index name may exist in another schema.
    oids = [oid for oid, _ in created.values()]
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT oid, pg_relation_size(oid) FROM pg_class WHERE oid = ANY(%s)", [oids])
        size_by_oid = dict(cursor.fetchall())
    return {name: size_by_oid[oid] for name, (oid, _) in created.items()}
