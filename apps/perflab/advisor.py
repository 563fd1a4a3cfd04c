"""An index advisor in the lab: find composite B-tree candidates from the workload's plans and measure each for real.

Dexter and HypoPG estimate costs and suggest single-column indexes; this measures. Public API:

- ``capture_workload(team, start=..., end=..., week=...) -> Workload``: runs the public service reads the
  ``perf_bench`` workload makes for one team (key metrics, team breakdown, weekly chart, PR list page, AI impact,
  Copilot adoption, weekly aggregation) under ``capture_queries()``, writes rolled back, and groups the SELECTs by
  fingerprint (count, total time, one representative SQL and params each).
- ``predicates(plan, sql) -> dict[table, Predicates]``: the equality, range and ordering columns of each table, read
  from the plan (Seq Scan filters, Index Cond, Filter, Recheck Cond, Sort Key) and from the SQL (joins, ORDER BY).
- ``propose(workload, ...) -> list[Proposal]``: composite candidates per table: equality columns first (each
  permutation of up to three), then one range or ordering column; those an existing index covers as a prefix skipped.
- ``advise(workload, *, ...) -> pd.DataFrame``: every candidate measured (below), one row per candidate, with a
  verdict; ``earning(advice)`` the rows that earn their keep.
- ``pre_0003_schema()``: a context manager (a rolled-back transaction) with the schema before migration 0003: the
  shipped composite indexes dropped, the single-column team_id/author_id indexes that 0004 dropped built again.
- ``rediscovered(advice) -> list[IndexDefinition]``: the shipped indexes (``indexes.shipped_indexes()``) whose table
  and columns, in order, an earning candidate has; ``duplicates_of_shipped(advice)``: earning candidates that
  repeat a shipped index or a prefix of one.

How the candidates are chosen (``advise``):

1. Screen: each candidate is built in a rolled-back savepoint and every workload statement EXPLAINed (nothing
   run); the statements whose plan reads it are its users. A candidate the planner never reads is "unused".
2. Rounds, greedy: with the indexes chosen so far built, each remaining candidate is built beside them and its
   users EXPLAIN ANALYZEd ``repeat`` times (medians) against their time without it. A statement is *helped*
   when its plan reads the candidate and its median falls. A candidate is eligible when the helped statements'
   time, weighted by count, falls by ``min_saving_pct`` (30%) and by ``min_saving_ms`` (0.2 ms per workload run).
   Among the eligible within ``band`` (80%) of the best saving, the preferred (``_preference``: the whole
   compared predicate in the index, then fewer columns, then the most selective column first) whose saving holds
   when measured again in alternated pairs (``_confirm``; a saving that does not was noise, and the round is
   measured again without it) and whose write cost is at most ``max_write_cost_pct`` (30%) is chosen; the next
   round measures the rest with it in place.
3. Stop when no candidate is eligible. Verdicts: "earns its keep" (chosen), "redundant" (eligible once, but a
   chosen index now does its work), "too slow to write", "saves too little", "unused".

The write cost is how much more WAL a multi-row ``INSERT ... SELECT`` of ``write_rows`` pull-request rows (copies of
existing rows with new keys) writes with the candidate, each insert in a rolled-back savepoint: the work every
index adds to every write, counted in bytes (a time would be blurred by whatever else the machine runs; notebook
11 times bulk loads where it weighs an index alone). A candidate too slow to write makes its twins (the same
columns in another order) too slow as well.

Lab tool: CREATE/DROP INDEX in a transaction blocks the table's writers until the rollback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import re
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd
from django.db import connection

from apps.perflab.capture import capture_queries
from apps.perflab.explain import Plan, explain, raw_nodes, rolled_back
from apps.perflab.indexes import IndexDefinition, shipped_indexes, temporary_indexes, without_indexes

PR_TABLE = "metrics_pullrequest"
# What migration 0004 dropped (its names): the schema before 0003 had them.
PRE_0003_SINGLE_COLUMN = {
    "metrics_pullrequest_team_id_48d93192": "team_id",
    "metrics_pullrequest_author_id_a3e9758c": "author_id",
}
VERDICT_EARNS = "earns its keep"


# --- the workload ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadStatement:
    """One fingerprint of the workload: how often it ran, its total time, one SQL and params to explain."""

    fingerprint: str
    count: int
    total_ms: float
    sql: str
    params: tuple
    call_site: str = ""

    def explain(self) -> Plan:
        return explain(self.sql, list(self.params))


@dataclass(frozen=True)
class Workload:
    statements: tuple[WorkloadStatement, ...]

    def slowest(self, top: int | None = None) -> list[WorkloadStatement]:
        ordered = sorted(self.statements, key=lambda s: s.total_ms, reverse=True)
        return ordered[:top] if top else ordered

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"fingerprint": s.fingerprint[:90], "count": s.count, "total_ms": round(s.total_ms, 2)}
             for s in self.slowest()]
        )


def workload_calls(team, *, start: dt.date, end: dt.date, week: dt.date) -> list:
    """The perf_bench workload's reads for ``team``, as the app's public functions (cold paths, no cache)."""
    from apps.metrics.services import (
        aggregation_service,
        ai_impact_service,
        chart_service,
        copilot_adoption_service,
        dashboard_service,
        pr_list_service,
    )

    return [
        lambda: dashboard_service.compute_key_metrics(team, [(start, end)]),
        lambda: dashboard_service.get_team_breakdown(team, start, end),
        lambda: chart_service.weekly_cycle_time(team, start, end),
        lambda: list(pr_list_service.pull_request_page(team, start=start, end=end).object_list),
        lambda: ai_impact_service.compute_ai_impact(team, start, end),
        lambda: copilot_adoption_service.compute_copilot_adoption(team, start, end),
        lambda: aggregation_service.aggregate_team_weekly_metrics(team, week),
    ]


def capture_workload(team, *, start: dt.date, end: dt.date, week: dt.date) -> Workload:
    """Run the workload once under ``capture_queries()`` (writes rolled back); group its SELECTs by fingerprint."""
    with rolled_back(constraints_immediate=True), capture_queries(call_sites=True) as capture:
        for call in workload_calls(team, start=start, end=end, week=week):
            call()
    by_fp: dict[str, list] = {}
    for query in capture.queries:
        if query.sql.lstrip().upper().startswith(("SELECT", "WITH")):
            by_fp.setdefault(query.fingerprint, []).append(query)
    statements = [
        WorkloadStatement(
            fingerprint=fp,
            count=len(items),
            total_ms=sum(q.duration for q in items) * 1000,
            sql=items[0].sql,
            params=tuple(items[0].params or ()),
            call_site=items[0].call_site,
        )
        for fp, items in by_fp.items()
    ]
    return Workload(tuple(statements))


# --- reading predicates from plans ----------------------------------------------------------------------


@dataclass
class Predicates:
    """Columns of one table a statement fixes (equality), bounds (range) or orders by."""

    equality: list[str] = field(default_factory=list)
    range: list[str] = field(default_factory=list)
    ordering: list[str] = field(default_factory=list)
    # the columns the SQL compares with a value (a parameter or a literal), not with another table's column
    compared: list[str] = field(default_factory=list)

    def add(self, kind: str, column: str) -> None:
        columns = getattr(self, kind)
        if column not in columns:
            columns.append(column)

    def as_dict(self) -> dict[str, list[str]]:
        return {"equality": self.equality, "range": self.range, "ordering": self.ordering}


_COND_KEYS = ("Filter", "Index Cond", "Recheck Cond", "Join Filter", "Hash Cond", "Merge Cond")
# (column)::text = ..., column = ..., alias.column IN / = ANY
_IDENT = r'(?:"?(?P<alias>[a-z_][a-z0-9_]*)"?\.)?\(*"?(?P<column>[a-z_][a-z0-9_]*)"?\)*(?:::[a-z ]+)?'
_CMP = re.compile(_IDENT + r"\s*(?P<op>=|>=|<=|<|>|= ANY|IN)\s")


def _table_columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def _aliases(sql: str) -> dict[str, str]:
    """alias -> table for ``"table" alias`` / ``"table" AS alias`` in the SQL, and each table for itself."""
    found = {}
    for table, alias in re.findall(r'(?:FROM|JOIN)\s+"([a-z_0-9]+)"(?:\s+(?:AS\s+)?"?([A-Za-z][A-Za-z0-9_]*)"?)?', sql):
        found[table] = table
        if alias and alias.upper() not in {"ON", "WHERE", "LEFT", "INNER", "GROUP", "ORDER", "JOIN"}:
            found[alias] = table
    return found


# "alias"."column" = %s, U2."merged_at" >= %s, "state" IN (%s, ...): a column compared with a value
_VALUE_CMP = re.compile(
    r'(?:"?([A-Za-z_][A-Za-z0-9_]*)"?\.)?"([a-z_][a-z0-9_]*)"\s*(?:=|>=|<=|<|>|IN)\s*\(?(?:%s|\'|\d)'
)


def _classify(op: str) -> str:
    return "equality" if op in {"=", "= ANY", "IN"} else "range"


def predicates(plan: Plan, sql: str | None = None) -> dict[str, Predicates]:
    """Equality, range and ordering columns per table, from the plan's scans and sorts and the SQL.

    A scan node names its relation; its conditions' columns that the table has are counted for it. Sort keys and
    the SQL's join conditions and ORDER BY are attributed through the alias or the table name.
    """
    sql = sql if sql is not None else plan.sql
    aliases = _aliases(sql)
    columns_of = {table: _table_columns(table) for table in set(aliases.values())}
    found: dict[str, Predicates] = {}

    def note(table: str | None, kind: str, column: str) -> None:
        if table in columns_of and column in columns_of[table] and column != "id":
            found.setdefault(table, Predicates()).add(kind, column)

    for node in raw_nodes(plan.raw):
        relation = node.get("Relation Name")
        if relation and relation not in columns_of:
            columns_of[relation] = _table_columns(relation)
        for key in _COND_KEYS:
            for match in _CMP.finditer(node.get(key, "")):
                table = aliases.get(match["alias"]) if match["alias"] else relation
                # a join condition: "(author_id = m.id)" fixes author_id per probe
                note(table, _classify(match["op"]), match["column"])
        for sort_key in node.get("Sort Key", ()):
            match = re.match(_IDENT, sort_key.strip())
            if match:
                table = aliases.get(match["alias"]) if match["alias"] else _only_table(columns_of, match["column"])
                note(table, "ordering", match["column"])
    # The SQL: join columns fixed per probe, and ORDER BY that an index could deliver (then no Sort node shows).
    for left_table, left_col, right_table, right_col in re.findall(
        r'"([a-z_0-9]+)"\."([a-z_0-9]+)"\s*=\s*"([a-z_0-9]+)"\."([a-z_0-9]+)"', sql
    ):
        note(aliases.get(left_table, left_table), "equality", left_col)
        note(aliases.get(right_table, right_table), "equality", right_col)
    order_by = re.search(r"ORDER BY (.*?)(?: LIMIT| OFFSET|$)", sql, re.S)
    if order_by:
        for table, column in re.findall(r'"([a-z_0-9]+)"\."([a-z_0-9]+)"', order_by.group(1)):
            note(aliases.get(table, table), "ordering", column)
    for alias, column in _VALUE_CMP.findall(sql):
        note(aliases.get(alias, alias) if alias else _only_table(columns_of, column), "compared", column)
    for preds in found.values():
        preds.range = [c for c in preds.range if c not in preds.equality]
        preds.ordering = [c for c in preds.ordering if c not in preds.equality]
    return found


def _only_table(columns_of: dict[str, set[str]], column: str) -> str | None:
    tables = [table for table, columns in columns_of.items() if column in columns]
    return tables[0] if len(tables) == 1 else None


# --- candidates -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    index: IndexDefinition
    fingerprints: tuple[str, ...]

    @property
    def label(self) -> str:
        return str(self.index)


def index_columns(table: str) -> list[tuple[str, ...]]:
    """The key columns of each valid plain index on ``table`` (expression indexes left out)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array(SELECT a.attname FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(n, o) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) "
            "FROM pg_index i WHERE i.indrelid = %s::regclass AND i.indisvalid AND i.indexprs IS NULL "
            "AND i.indpred IS NULL",
            [table],
        )
        return [tuple(columns) for (columns,) in cursor.fetchall()]


def _covered(columns: tuple[str, ...], existing: list[tuple[str, ...]]) -> bool:
    return any(index[: len(columns)] == columns for index in existing)


def candidate_columns(preds: Predicates, *, max_equality: int = 3) -> list[tuple[str, ...]]:
    """Equality columns first (every permutation of up to ``max_equality``), then at most one range/order column."""
    equality = preds.equality[:max_equality]
    tails = list(dict.fromkeys(preds.range + preds.ordering))
    out: list[tuple[str, ...]] = []
    for size in range(len(equality), 0, -1):
        for head in itertools.permutations(equality, size):
            out += [(*head, tail) for tail in tails]
            if size > 1 or not tails:
                out.append(head)
    return list(dict.fromkeys(c for c in out if len(c) >= 2))


def propose(workload: Workload, *, top: int | None = 10, min_total_ms: float = 0.0) -> list[Proposal]:
    """Composite candidates from the slowest statements' plans, skipping what an existing index covers."""
    wanted: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    existing: dict[str, list[tuple[str, ...]]] = {}
    for statement in workload.slowest(top):
        if statement.total_ms < min_total_ms:
            continue
        plan = statement.explain()
        for table, preds in predicates(plan, statement.sql).items():
            existing.setdefault(table, index_columns(table))
            for columns in candidate_columns(preds):
                if not _covered(columns, existing[table]):
                    wanted.setdefault((table, columns), []).append(statement.fingerprint)
    return [
        Proposal(IndexDefinition(_name(table, columns), table, columns), tuple(fps))
        for (table, columns), fps in wanted.items()
    ]


def _name(table: str, columns: Sequence[str]) -> str:
    return "_".join(["advisor", table.removeprefix("metrics_"), *columns])[:63]


# --- measuring ------------------------------------------------------------------------------------------


def _median_ms(statement: WorkloadStatement, repeat: int) -> tuple[float, Plan]:
    plans = [statement.explain() for _ in range(repeat)]
    return statistics.median(p.execution_time_ms for p in plans), plans[-1]


def _reads_table(plan: Plan, table: str) -> bool:
    return any(node.relation == table for node in plan.nodes())


def _insert_sql(table: str, rows: int) -> str:
    """Copies of ``rows`` existing rows with fresh keys: what a bulk sync writes (every index updated)."""
    columns = sorted(_table_columns(table) - {"id"})
    quote = connection.ops.quote_name
    if table != PR_TABLE:
        raise ValueError("the write cost is measured on pull requests")
    select = [("github_pr_id + 1000000000" if c == "github_pr_id" else quote(c)) for c in columns]
    return (
        f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) "
        f"SELECT {', '.join(select)} FROM {quote(table)} ORDER BY id LIMIT {rows}"
    )


def insert_wal_bytes(sql: str) -> int:
    """The WAL one bulk insert writes (EXPLAIN (ANALYZE, WAL)), in a savepoint rolled back at once: the heap's
    rows and every index's entries, a figure a busy machine does not blur as it does a time."""
    with rolled_back(constraints_immediate=True), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, WAL, FORMAT JSON) {sql}")
        (result,) = cursor.fetchone()
        plan = (json.loads(result) if isinstance(result, str) else result)[0]["Plan"]
        return int(plan["WAL Bytes"])


def _estimated_users(proposal: Proposal, statements: Sequence[WorkloadStatement]) -> list[WorkloadStatement]:
    """The statements whose estimated plan (EXPLAIN, nothing run) reads the candidate once it exists."""
    with temporary_indexes([proposal.index]):
        return [
            s for s in statements if explain(s.sql, list(s.params), analyze=False).uses_index(proposal.index.name)
        ]


def _distinct_values(table: str) -> dict[str, float]:
    """Each column's estimated number of distinct values (pg_stats; a negative n_distinct is a share of rows)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.attname, CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples ELSE s.n_distinct END "
            "FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename "
            "WHERE s.schemaname = current_schema() AND s.tablename = %s",
            [table],
        )
        return dict(cursor.fetchall())


def _preference(index: IndexDefinition, measurement: dict, distinct: dict[str, dict[str, float]]) -> tuple:
    """Among candidates that save as much, in this order:

    1. the fewest columns the helped statements compare with a value that the candidate lacks (per statement):
       an index that holds the whole predicate reads the same rows whatever the data, one that leaves a
       comparison to a filter leans on the data (on the seeded data ``merged_at`` is set only on merged PRs, so
       ``state = 'merged'`` filters nothing; no constraint says so);
    2. fewer columns;
    3. the most selective column leading (its prefix then serves the most other statements).
    """
    counts = distinct.setdefault(index.table, _distinct_values(index.table))
    helped = measurement["statements helped"] or 1
    return (
        measurement["left to filter"] / helped,
        len(index.columns),
        [-counts.get(column, 0.0) for column in index.columns],
    )


def advise(
    workload: Workload,
    *,
    top: int | None = 10,
    repeat: int = 5,
    write_rows: int = 5000,
    min_saving_pct: float = 30.0,
    min_saving_ms: float = 0.2,
    max_write_cost_pct: float = 30.0,
    band: float = 0.8,
    max_rounds: int = 8,
) -> pd.DataFrame:
    """Propose candidates from the workload, screen them by the planner, then choose greedily by measuring.

    Each round measures every remaining candidate with the indexes chosen so far in place, so a candidate that
    only repeats a chosen one's work saves nothing any more; the round's pick is the preferred one (``_preference``)
    among those within ``band`` of the best saving that meet the thresholds and whose write cost is affordable.
    One row per candidate, as measured in the last round it took part in (see the module).
    """
    proposals = propose(workload, top=top)
    users = {p.index.name: _estimated_users(p, workload.statements) for p in proposals}
    compared = {
        s.fingerprint: {table: set(preds.compared) for table, preds in predicates(s.explain(), s.sql).items()}
        for s in workload.statements
    }
    remaining = [p for p in proposals if users[p.index.name]]
    measured: dict[str, dict] = {}
    chosen: list[IndexDefinition] = []
    eligible_once: set[str] = set()
    too_slow: set[str] = set()
    unconfirmed: set[str] = set()
    distinct: dict[str, dict[str, float]] = {}
    for round_number in range(1, max_rounds + 1):
        if not remaining:
            break
        with temporary_indexes(chosen, analyze=True):
            touched = {s.fingerprint: s for p in remaining for s in users[p.index.name]}
            current = {fp: _median_ms(s, repeat)[0] for fp, s in touched.items()}
            for proposal in remaining:
                measurement = _measure(proposal, users[proposal.index.name], current, compared, repeat)
                measured[proposal.index.name] = {**measurement, "round": round_number}
            eligible = [
                p
                for p in remaining
                if measured[p.index.name]["saving %"] >= min_saving_pct
                and measured[p.index.name]["saving ms"] >= min_saving_ms
            ]
            eligible_once.update(p.index.name for p in eligible)
            best = max((measured[p.index.name]["saving ms"] for p in eligible), default=0.0)
            ranked = sorted(
                (p for p in eligible if measured[p.index.name]["saving ms"] >= band * best),
                key=lambda p: _preference(p.index, measured[p.index.name], distinct),
            )
            pick, unconfirmed_now = None, False
            for proposal in ranked:
                if proposal.index.name in too_slow:
                    continue
                helps = measured[proposal.index.name]["helped"]
                helped = [s for s in users[proposal.index.name] if s.fingerprint in helps]
                confirmed = _confirm(proposal, helped, repeat)
                measured[proposal.index.name].update(confirmed)
                if confirmed["saving %"] < min_saving_pct or confirmed["saving ms"] < min_saving_ms:
                    unconfirmed.add(proposal.index.name)
                    unconfirmed_now = True
                    continue
                cost = _write_cost(proposal.index, rows=write_rows)
                if cost is None or cost <= max_write_cost_pct:
                    measured[proposal.index.name]["write cost %"] = cost
                    pick = proposal
                    break
                # the same columns in another order build an index as large: as slow to write
                for twin in remaining:
                    if set(twin.index.columns) == set(proposal.index.columns):
                        measured[twin.index.name]["write cost %"] = cost
                        too_slow.add(twin.index.name)
        if pick is None:
            if not unconfirmed_now:
                break
            # a saving that did not hold in alternated pairs was noise: measure the round again without it
            remaining = [p for p in remaining if p.index.name not in unconfirmed | too_slow]
            continue
        chosen.append(pick.index)
        measured[pick.index.name]["chosen in round"] = round_number
        remaining = [p for p in remaining if p is not pick and p.index.name not in too_slow]

    rows = []
    for proposal in proposals:
        name = proposal.index.name
        row = {"candidate": name, "table": proposal.index.table, "columns": proposal.index.columns}
        row.update(measured.get(name, _unmeasured()))
        if "chosen in round" in row:
            verdict = VERDICT_EARNS
        elif not users[name]:
            verdict = "unused"
        elif name in too_slow:
            verdict = "too slow to write"
        elif name in unconfirmed:
            verdict = "saves too little"
        elif name in eligible_once:
            verdict = "redundant"
        else:
            verdict = "saves too little"
        row["verdict"] = verdict
        rows.append(row)
    advice = pd.DataFrame(rows, columns=_COLUMNS)
    return advice.sort_values(["chosen in round", "saving ms"], ascending=[True, False], na_position="last")


def _unmeasured() -> dict:
    measured = ("before ms", "after ms", "saving ms", "saving %")
    return {"statements helped": 0, "left to filter": 0, "helped": (), **dict.fromkeys(measured, 0.0)}


def _measure(
    proposal: Proposal, statements: Sequence[WorkloadStatement], current: dict, compared: dict, repeat: int
) -> dict:
    """The candidate built beside what is in place: the statements it helps, their time before and after, and
    the compared columns of its table that it leaves to a filter."""
    index = proposal.index
    helped, saved, spent, unindexed = [], 0.0, 0.0, 0
    with temporary_indexes([index], analyze=True):
        size = _size(index.name)
        for statement in statements:
            before_ms = current[statement.fingerprint]
            after_ms, after_plan = _median_ms(statement, repeat)
            if after_plan.uses_index(index.name) and after_ms < before_ms:
                helped.append(statement.fingerprint)
                saved += (before_ms - after_ms) * statement.count
                spent += before_ms * statement.count
                unindexed += len(compared[statement.fingerprint].get(index.table, set()) - set(index.columns))
    return {
        "statements helped": len(helped),
        "left to filter": unindexed,
        "helped": tuple(helped),
        "before ms": round(spent, 3),
        "after ms": round(spent - saved, 3),
        "saving ms": round(saved, 3),
        "saving %": round(100 * saved / spent, 1) if spent else 0.0,
        "size bytes": size,
    }


def _confirm(proposal: Proposal, helped: Sequence[WorkloadStatement], repeat: int) -> dict:
    """The saving measured again in ``repeat`` alternated pairs (the helped statements without the candidate,
    then with it), so that a moment when the machine was busy makes neither side look slow alone."""
    before = {s.fingerprint: [] for s in helped}
    after = {s.fingerprint: [] for s in helped}
    for _ in range(repeat):
        for statement in helped:
            before[statement.fingerprint].append(statement.explain().execution_time_ms)
        with temporary_indexes([proposal.index]):
            for statement in helped:
                after[statement.fingerprint].append(statement.explain().execution_time_ms)
    spent = sum(statistics.median(before[s.fingerprint]) * s.count for s in helped)
    kept = sum(statistics.median(after[s.fingerprint]) * s.count for s in helped)
    saved = spent - kept
    return {
        "before ms": round(spent, 3),
        "after ms": round(kept, 3),
        "saving ms": round(saved, 3),
        "saving %": round(100 * saved / spent, 1) if spent else 0.0,
    }


def _write_cost(index: IndexDefinition, *, rows: int) -> float | None:
    """How much more a bulk insert writes with the candidate, in percent of its WAL (None where not measured)."""
    if index.table != PR_TABLE:
        return None
    sql = _insert_sql(index.table, rows)

    def least() -> int:
        # a page's first change after a checkpoint logs the whole page (a full-page image): the least of three
        # inserts is the one that logged none
        return min(insert_wal_bytes(sql) for _ in range(3))

    without = least()
    with temporary_indexes([index]):
        return round(100 * (least() / without - 1), 1)


_COLUMNS = [
    "candidate",
    "table",
    "columns",
    "statements helped",
    "left to filter",
    "helped",
    "before ms",
    "after ms",
    "saving ms",
    "saving %",
    "size bytes",
    "write cost %",
    "round",
    "chosen in round",
    "verdict",
]


def _size(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(c.oid) FROM pg_class c WHERE c.relname = %s", [name])
        return cursor.fetchone()[0]


SHOWN = ["columns", "table", "statements helped", "saving ms", "saving %", "write cost %", "chosen in round", "verdict"]


def measured(advice: pd.DataFrame, top: int | None = 12) -> pd.DataFrame:
    """The candidates the planner read, best first, in the columns worth reading (a notebook's table, a failure)."""
    shown = advice[advice.verdict != "unused"][SHOWN].set_index("columns")
    return shown.head(top) if top else shown


def earning(advice: pd.DataFrame) -> pd.DataFrame:
    return advice[advice.verdict == VERDICT_EARNS]


def rediscovered(advice: pd.DataFrame) -> list[IndexDefinition]:
    """Shipped indexes an earning candidate matches: same table, same columns in the same order."""
    found = {(row.table, tuple(row.columns)) for row in earning(advice).itertuples()}
    return [index for index in shipped_indexes() if (index.table, index.columns) in found]


def duplicates_of_shipped(advice: pd.DataFrame) -> list[str]:
    """Earning candidates equal to a shipped index or to a prefix of one (an index that already exists)."""
    shipped = [(index.table, index.columns) for index in shipped_indexes()]
    return [
        row.candidate
        for row in earning(advice).itertuples()
        if any(table == row.table and columns[: len(row.columns)] == tuple(row.columns) for table, columns in shipped)
    ]


# --- the schema before migration 0003 -------------------------------------------------------------------


@contextlib.contextmanager
def pre_0003_schema() -> Iterator[None]:
    """Inside a rolled-back transaction: no shipped composite index, the single-column FK indexes 0004 dropped back.

    Savepoints nest, so ``what_if`` and ``temporary_indexes`` work inside.
    """
    quote = connection.ops.quote_name
    with without_indexes([index.name for index in shipped_indexes()]):
        with connection.cursor() as cursor:
            for name, column in PRE_0003_SINGLE_COLUMN.items():
                cursor.execute(f"CREATE INDEX {quote(name)} ON {quote(PR_TABLE)} ({quote(column)})")
            cursor.execute(f"ANALYZE {quote(PR_TABLE)}")
        yield
