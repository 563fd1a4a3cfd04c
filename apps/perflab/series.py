"""Scale series: run each variant of an operation across data sizes, on freshly generated data.

For every size the generated tables are emptied, ``datagen`` seeds a new dataset from
``spec_for(size)``, the planner statistics are refreshed, and each variant is run: once
captured (its statements, and its answer, compared across variants) and then timed. The
result is a tidy DataFrame, one row per (size, variant), ready for ``apps.perflab.plots``.

``growth_series`` grows one dataset instead (problem 6): teams are added step by step and every statement of
the first team is timed without and with the indexes meant for it (``plots.latency_grid`` charts it).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from django.core.cache import cache
from django.db import connection
from tqdm import tqdm

from apps.perflab import datagen
from apps.perflab.capture import capture_queries
from apps.perflab.indexes import (
    MEMBER_TABLE,
    PR_TABLE,
    IndexDefinition,
    Statement,
    existing_indexes,
    interleave_by_arrival,
    temporary_indexes,
)
from apps.perflab.timing import DifferentAnswers, measure

# A variant gets what ``datagen.generate`` returned and gives back the operation to measure.
VariantFactory = Callable[[Any], Callable[[], Any]]

SERIES_COLUMNS = [
    "size",
    "variant",
    "statements",
    "median_ms",
    "p95_ms",
    "min_ms",
    "db_ms",
    "python_ms",
    "same_answer",
]


def reset_generated_data() -> None:
    """Empty every table that ``datagen`` fills (and what hangs off them), and the cache.

    Ids restart, so a cached figure of "team 1" from the previous size must not survive.
    """
    tables = ", ".join(model._meta.db_table for model in datagen.LOAD_ORDER)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    cache.delete_pattern("*")  # only keys under this process's prefix


def analyze_tables() -> None:
    """Fresh planner statistics, as autovacuum would give a real database after a load."""
    with connection.cursor() as cursor:
        for model in datagen.LOAD_ORDER:
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def scale_series(
    sizes: Iterable[int],
    spec_for: Callable[[int], Any],
    variants: Mapping[str, VariantFactory],
    *,
    repeat: int = 5,
    warmup: int = 1,
    check_same_answer: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Statements and latency of each variant at each size.

    With ``check_same_answer`` every variant's result must equal the first variant's at every
    size (``DifferentAnswers`` otherwise): a faster wrong answer is no fix.
    """
    sizes = list(sizes)
    if not sizes or not variants:
        raise ValueError("scale_series needs at least one size and one variant")
    rows = []
    for size in tqdm(sizes, desc="sizes", disable=not progress):
        reset_generated_data()
        seeded = datagen.generate(spec_for(size), progress=False)
        analyze_tables()
        reference = None
        for index, (name, make) in enumerate(variants.items()):
            operation = make(seeded)
            with capture_queries(call_sites=False) as capture:
                answer = operation()
            same = True
            if check_same_answer:
                if index == 0:
                    reference = answer
                elif answer != reference:
                    raise DifferentAnswers(f"at size {size}, {name!r} differs from {next(iter(variants))!r}")
            timing = measure(operation, repeat=repeat, warmup=warmup, label=name)
            rows.append(
                {
                    "size": size,
                    "variant": name,
                    "statements": capture.count,
                    "median_ms": timing.median_ms,
                    "p95_ms": timing.p95_ms,
                    "min_ms": timing.min_ms,
                    "db_ms": timing.db_median_ms,
                    "python_ms": timing.python_median_ms,
                    "same_answer": same,
                }
            )
    return pd.DataFrame(rows, columns=SERIES_COLUMNS)


def statements_table(series: pd.DataFrame) -> pd.DataFrame:
    """Statements per size, one column per variant: deterministic, so nbval can check it."""
    table = series.pivot(index="size", columns="variant", values="statements")
    table.columns.name = None
    return table[list(dict.fromkeys(series["variant"]))]


def growth_series(
    team_counts: Sequence[int],
    *,
    shape: datagen.DatasetSpec,
    statements_for: Callable[[object], list[Statement]],
    indexes: Sequence[IndexDefinition],
    repeat: int = 5,
    warmup: int = 1,
) -> tuple[pd.DataFrame, list[Statement]]:
    """Grow the data to each number of teams, shaped like ``shape``; time every statement without and with.

    Each step adds teams (another slug prefix and seed, so the first team, the one measured, never
    changes), interleaves the PR table by arrival and analyzes it. Then every statement of the first team
    (``statements_for(team)``, built once) is timed on the schema as it is, which must not have ``indexes``
    yet, and again with ``indexes`` created in a rolled-back transaction. Returns one row per (size,
    statement, variant) with ``variant`` "without" or "with", and the statements.
    """
    from apps.metrics.models import PullRequest
    from apps.teams.models import Team

    present = set(existing_indexes(PR_TABLE)) | set(existing_indexes(MEMBER_TABLE))
    already = sorted(present & {index.name for index in indexes})
    if already:
        raise ValueError(f"the 'without' timings need a schema without {already}: migrate back first")
    rows, statements, made = [], None, 0
    for step, total in enumerate(team_counts):
        if total <= made:
            raise ValueError(f"team counts must grow: {list(team_counts)}")
        spec = dataclasses.replace(
            shape, teams=total - made, seed=shape.seed + step, team_slug_prefix=f"{shape.team_slug_prefix}{step}"
        )
        datagen.generate(spec, progress=False)
        made = total
        interleave_by_arrival()
        if statements is None:
            statements = statements_for(Team.objects.order_by("id").first())
        size = PullRequest.objects.count()
        for variant in ("without", "with"):
            context = temporary_indexes(indexes) if variant == "with" else contextlib.nullcontext()
            with context:
                for statement in statements:
                    timing = measure(statement.run, repeat=repeat, warmup=warmup, label=statement.label)
                    rows.append(
                        {
                            "size": size,
                            "teams": total,
                            "statement": statement.label,
                            "variant": variant,
                            "median_ms": timing.median_ms,
                            "min_ms": timing.min_ms,
                        }
                    )
    return pd.DataFrame(rows), statements
