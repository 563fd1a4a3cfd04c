"""Scale series: run each variant of an operation across data sizes, on freshly generated data.

For every size the generated tables are emptied, ``datagen`` seeds a new dataset from
``spec_for(size)``, the planner statistics are refreshed, and each variant is run: once
captured (its statements, and its answer, compared across variants) and then timed. The
result is a tidy DataFrame, one row per (size, variant), ready for ``apps.perflab.plots``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
from django.core.cache import cache
from django.db import connection
from tqdm import tqdm

from apps.perflab import datagen
from apps.perflab.capture import capture_queries
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
