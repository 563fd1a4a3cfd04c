"""Index health (issue 15 §2): which indexes the workload reads, which are redundant, what each costs writers,
and how fresh the planner's statistics are.

- ``app_tables()``: the tables of the project's own apps (``apps.*`` but the lab): metrics, integrations, teams.
- ``reset_statistics()`` before a workload, then ``index_usage()``: scans, tuples read and fetched, blocks hit and
  read and size of every index (``pg_stat_user_indexes`` joined to ``pg_statio_user_indexes``);
  ``never_scanned(usage)``: those the workload never read, constraint indexes told apart.
- ``index_definitions()`` and ``prefix_of_another()``: an index whose key columns (expressions, operator classes,
  collations, ordering) are a leading prefix of another's on the same table, with the same access method and the same
  partial predicate. A UNIQUE index is never redundant (it enforces its constraint), nor is one with INCLUDE columns.
- ``write_cost(index, columns)``: COPY of generated rows with and without an index, each run in a rolled-back
  transaction, alternated, median rows/s; ``commit_rows`` generates commits for it.
- ``statistics_freshness()``: rows changed since the last ANALYZE and when it ran, per table.
- ``stale_plan_experiment(...)``: a team's history bulk-loaded without ANALYZE (autovacuum off for the app's tables
  meanwhile), the dashboard's statements timed and explained on the lying statistics, then after ANALYZE.

Lab tools: the rolled-back DDL takes locks that block writers. Not for production use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection

from apps.perflab import datagen
from apps.perflab.explain import access_paths, rolled_back, rows_read
from apps.perflab.indexes import IndexDefinition, Statement, _selects, without_indexes
from apps.perflab.pgcopy import copy_columns
from apps.perflab.series import analyze_tables
from apps.perflab.timing import measure


def app_tables() -> list[str]:
    """The tables of the project's apps (``apps.*``, the lab left out), many-to-many tables included; sorted."""
    from django.apps import apps

    return sorted(
        model._meta.db_table
        for config in apps.get_app_configs()
        if config.name.startswith("apps.") and config.label != "perflab"
        for model in config.get_models(include_auto_created=True)
    )


def _rows(sql: str, params: Sequence | None = None) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- usage --------------------------------------------------------------------------------------------------


def reset_statistics() -> None:
    """Zero this database's cumulative statistics, so that "never scanned" means never since now."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_reset()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")


def flush_statistics() -> None:
    """Make this session's pending counters visible: PostgreSQL 15+ flushes them lazily, or on request."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT current_setting('server_version_num')::int")
        if cursor.fetchone()[0] >= 150000:
            cursor.execute("SELECT pg_stat_force_next_flush()")


USAGE_SQL = """
SELECT s.relname AS table, s.indexrelname AS index, s.idx_scan AS scans, s.idx_tup_read AS tuples_read,
       s.idx_tup_fetch AS tuples_fetched, io.idx_blks_hit AS blocks_hit, io.idx_blks_read AS blocks_read,
       pg_relation_size(s.indexrelid) AS bytes, i.indisunique AS is_unique
FROM pg_stat_user_indexes s
JOIN pg_statio_user_indexes io USING (indexrelid)
JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE s.relname = ANY(%s)
ORDER BY s.relname, s.indexrelname
"""


def index_usage(tables: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per index of ``tables`` (default: ``app_tables()``): scans, tuples, blocks, bytes, uniqueness."""
    flush_statistics()
    return pd.DataFrame(_rows(USAGE_SQL, [list(tables or app_tables())]))


def never_scanned(usage: pd.DataFrame) -> pd.DataFrame:
    """The indexes with no scan; ``enforces`` tells a UNIQUE (or primary key) index, which writes need, apart."""
    unused = usage[usage["scans"] == 0][["table", "index", "bytes", "is_unique"]]
    return unused.rename(columns={"is_unique": "enforces"}).reset_index(drop=True)


# --- redundancy -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexShape:
    """What makes two indexes interchangeable for reads: per key column its text, opclass, collation, ordering."""

    name: str
    table: str
    method: str
    keys: tuple[tuple[str, int, int, int], ...]
    unique: bool
    includes: int  # INCLUDE columns
    predicate: str | None

    def is_prefix_of(self, other: IndexShape) -> bool:
        """Whether every read of this index could use ``other`` instead: its keys lead ``other``'s."""
        if self.unique or self.includes or other.name == self.name:
            return False
        if (other.table, other.method, other.predicate) != (self.table, self.method, self.predicate):
            return False
        if other.keys[: len(self.keys)] != self.keys:
            return False
        # two identical non-unique indexes: name one of them (the later name), not both
        return len(other.keys) > len(self.keys) or other.unique or self.name > other.name


DEFINITIONS_SQL = """
SELECT c.relname AS name, t.relname AS table, am.amname AS method, i.indisunique AS unique,
       i.indnatts - i.indnkeyatts AS includes, pg_get_expr(i.indpred, i.indrelid) AS predicate,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k) AS keys,
       i.indclass::oid[] AS opclasses, i.indcollation::oid[] AS collations, i.indoption::int2[] AS options
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_am am ON am.oid = c.relam
WHERE t.relname = ANY(%s) AND t.relnamespace = 'public'::regnamespace
ORDER BY t.relname, c.relname
"""


def index_definitions(tables: Sequence[str] | None = None) -> list[IndexShape]:
    """Every index of ``tables`` (default: ``app_tables()``) as an ``IndexShape``."""
    shapes = []
    for row in _rows(DEFINITIONS_SQL, [list(tables or app_tables())]):
        count = len(row["keys"])
        keys = zip(
            row["keys"], row["opclasses"][:count], row["collations"][:count], row["options"][:count], strict=True
        )
        shapes.append(
            IndexShape(
                row["name"], row["table"], row["method"], tuple(keys), row["unique"], row["includes"], row["predicate"]
            )
        )
    return shapes


def prefix_of_another(tables: Sequence[str] | None = None) -> pd.DataFrame:
    """Each non-unique index whose keys lead another index of its table: (table, index, keys, covered by)."""
    shapes = index_definitions(tables)
    found = [
        {"table": a.table, "index": a.name, "keys": ", ".join(k[0] for k in a.keys), "covered by": b.name}
        for a in shapes
        for b in shapes
        if a.is_prefix_of(b)
    ]
    first: dict[str, dict] = {}
    for row in found:
        first.setdefault(row["index"], row)  # one covering index is enough to name
    return pd.DataFrame(list(first.values()), columns=["table", "index", "keys", "covered by"])


# --- write cost -----------------------------------------------------------------------------------------------


def commit_rows(
    team_id: int,
    author_ids: Sequence[int],
    count: int,
    *,
    seed: int = 11,
    end: dt.datetime = dt.datetime(2026, 3, 31, tzinfo=dt.UTC),
) -> dict[str, object]:
    """``count`` generated commits of ``team_id`` by ``author_ids`` over the year to ``end``: COPY columns."""
    rng = np.random.default_rng(seed)
    year = 365 * 24 * 3600
    seconds = rng.integers(0, year, count)
    at = np.datetime64(end.replace(tzinfo=None), "s") - seconds.astype("timedelta64[s]")
    shas = np.array(
        [f"{value:040x}" for value in rng.integers(0, 2**62, count) * 2**62 + np.arange(count)], dtype="S40"
    )
    return {
        "team_id": np.full(count, team_id, dtype=np.int64),
        "github_sha": shas,
        "github_repo": ["acme/health"] * count,
        "author_id": rng.choice(np.asarray(author_ids, dtype=np.int64), count),
        "committed_at": at,
        "additions": rng.integers(0, 200, count),
        "deletions": rng.integers(0, 100, count),
    }


@dataclass(frozen=True)
class WriteCost:
    """COPY throughput of the same rows with and without one index (medians of alternated runs)."""

    index: str
    rows: int
    with_index: tuple[float, ...]  # seconds per run
    without_index: tuple[float, ...]

    @property
    def rows_per_s_with(self) -> float:
        return self.rows / statistics.median(self.with_index)

    @property
    def rows_per_s_without(self) -> float:
        return self.rows / statistics.median(self.without_index)

    @property
    def slowdown(self) -> float:
        """How much longer the load takes with the index: 1.25 is a quarter longer."""
        return statistics.median(self.with_index) / statistics.median(self.without_index)

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "rows": self.rows,
            "rows/s with": round(self.rows_per_s_with),
            "rows/s without": round(self.rows_per_s_without),
            "slowdown": round(self.slowdown, 2),
        }


def _timed_copy(table: str, columns: Mapping[str, object], ddl: Sequence[str]) -> float:
    with rolled_back(constraints_immediate=True), connection.cursor() as cursor:
        for statement in ddl:
            cursor.execute(statement)
        began = time.perf_counter()
        copy_columns(cursor.cursor, table, columns)
        return time.perf_counter() - began


def write_cost(
    index: str | IndexDefinition, columns: Mapping[str, object], *, table: str, repeat: int = 5
) -> WriteCost:
    """Load ``columns`` into ``table`` with and without ``index``, alternately, ``repeat`` times each.

    ``index`` is the name of an existing index (dropped for the runs without it) or a candidate
    ``IndexDefinition`` (created for the runs with it). Every run is rolled back.
    """
    quote = connection.ops.quote_name
    if isinstance(index, IndexDefinition):
        name, with_ddl, without_ddl = index.name, [index.create_sql()], []
    else:
        name, with_ddl, without_ddl = index, [], [f"DROP INDEX {quote(index)}"]
    rows = _row_count(columns)
    with_runs, without_runs = [], []
    _timed_copy(table, columns, with_ddl)  # warm-up: the table's pages and the catalog cached
    for _ in range(repeat):
        with_runs.append(_timed_copy(table, columns, with_ddl))
        without_runs.append(_timed_copy(table, columns, without_ddl))
    return WriteCost(name, rows, tuple(with_runs), tuple(without_runs))


def _row_count(columns: Mapping[str, object]) -> int:
    return len(next(iter(columns.values())))


# --- statistics -----------------------------------------------------------------------------------------------


FRESHNESS_SQL = """
SELECT relname AS table, n_live_tup AS live_rows, n_mod_since_analyze AS changed_since_analyze,
       last_analyze, last_autoanalyze
FROM pg_stat_user_tables WHERE relname = ANY(%s) ORDER BY relname
"""


def statistics_freshness(tables: Sequence[str] | None = None) -> pd.DataFrame:
    """Per table: live rows, rows changed since the last ANALYZE, and when ANALYZE (manual or auto) last ran."""
    flush_statistics()
    frame = pd.DataFrame(_rows(FRESHNESS_SQL, [list(tables or app_tables())]))
    frame["analyzed"] = frame["last_analyze"].notna() | frame["last_autoanalyze"].notna()
    return frame


@contextlib.contextmanager
def autovacuum_off(tables: Sequence[str]) -> Iterator[None]:
    """Autovacuum (and its autoanalyze) off for ``tables`` inside the block, back to the default after."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {quote(table)} SET (autovacuum_enabled = false)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ALTER TABLE {quote(table)} RESET (autovacuum_enabled)")


def _estimate(statement: Statement) -> tuple[float, float, str]:
    """The plan's estimated and actual rows of the statement's table (the first node reading it), and its summary."""
    plan = statement.explain()
    node = next(n for n in plan.nodes() if n.relation == statement.table or statement.table in (n.index_name or ""))
    reads = [n.node_type for n in plan.nodes()]
    return node.estimated_rows, node.actual_rows or 0.0, " > ".join(reads)


def _timed(statements: Sequence[Statement], repeat: int) -> dict[str, dict]:
    results = {}
    for statement in statements:
        estimated, actual, nodes = _estimate(statement)
        timing = measure(statement.run, repeat=repeat, warmup=1)
        results[statement.label] = {"ms": timing.median_ms, "estimated": estimated, "actual": actual, "plan": nodes}
    return results


def stale_plan_experiment(
    spec: datagen.DatasetSpec, statements_for: Callable[[object], Sequence[Statement]], *, repeat: int = 7
) -> pd.DataFrame:
    """Bulk-load ``spec``'s teams without ANALYZE, time the first team's ``statements_for(team)`` on the stale
    statistics, ANALYZE, time them again. One row per statement: ms, estimated and actual rows, plan, both ways."""
    from apps.teams.models import Team

    with autovacuum_off(app_tables()):
        seeded = datagen.generate(spec, progress=False, analyze=False)
        team = Team.objects.get(id=seeded.team_ids[0])
        statements = statements_for(team)
        stale = _timed(statements, repeat)
        analyze_tables()
        fresh = _timed(statements, repeat)
    rows = []
    for label in stale:
        before, after = stale[label], fresh[label]
        rows.append(
            {
                "statement": label,
                "stale ms": before["ms"],
                "fresh ms": after["ms"],
                "stale/fresh": before["ms"] / after["ms"],
                "stale estimate": before["estimated"],
                "fresh estimate": after["estimated"],
                "actual rows": after["actual"],
                "plan changed": before["plan"] != after["plan"],
                "stale plan": before["plan"],
                "fresh plan": after["plan"],
            }
        )
    return pd.DataFrame(rows).set_index("statement")


# --- the weekly aggregation's commit count ------------------------------------------------------------------

COMMIT_TABLE = "metrics_commit"
COMMIT_INDEX = "commit_team_committed_idx"


def commit_count_statement(team, week: dt.date) -> Statement:
    """The weekly aggregation's commits-by-author statement for ``team``'s ``week``, as the service sends it."""
    from apps.metrics.services import aggregation_service

    sql, params = next(
        (sql, params)
        for sql, params in _selects(lambda: aggregation_service.aggregate_team_weekly_metrics(team, week))
        if COMMIT_TABLE in sql and "GROUP BY" in sql
    )
    return Statement("commit count", sql, params, (COMMIT_INDEX,), COMMIT_TABLE)


def weigh_index(statement: Statement, index: str, *, repeat: int = 15) -> pd.DataFrame:
    """``statement`` with ``index`` and without it (dropped in a rolled-back transaction): how it reads its table,
    rows read, median ms."""
    rows = []
    for variant in ("without", "with"):
        with without_indexes([index]) if variant == "without" else contextlib.nullcontext():
            plan = statement.explain()
            timing = measure(statement.run, repeat=repeat, warmup=2)
        rows.append(
            {
                "variant": f"{variant} {index}",
                "reads": " + ".join(access_paths(plan, statement.table)),
                "rows read": rows_read(plan, statement.table),
                "median ms": timing.median_ms,
            }
        )
    return pd.DataFrame(rows).set_index("variant")
