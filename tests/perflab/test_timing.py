"""The timing instrument: counts runs, separates database from Python time, pairs A and B.

Only lower bounds are asserted (a sleep lasts at least its length): never a machine's speed.
"""

import time

import pytest
from django.db import connection

from apps.perflab.timing import compare, measure


def _db_sleep(seconds):
    def run():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s)", [seconds])

    return run


def test_measure_counts_runs_and_skips_warmup():
    calls = []
    timing = measure(lambda: calls.append(1), repeat=5, warmup=3)
    assert len(calls) == 8
    assert timing.runs == 5
    assert timing.statements_per_run == 0
    assert timing.db_median_ms == 0


@pytest.mark.django_db
def test_database_time_is_told_apart_from_python_time():
    def work():
        _db_sleep(0.02)()
        time.sleep(0.01)

    timing = measure(work, repeat=3, warmup=0, label="mixed")
    assert timing.statements_per_run == 1
    assert timing.db_median_ms >= 20
    assert timing.python_median_ms >= 10
    assert timing.median_ms >= timing.db_median_ms + 10 - 0.5
    assert timing.min_ms <= timing.median_ms <= timing.p95_ms
    assert str(timing).startswith("mixed: median ")
    assert set(timing.as_dict()) >= {"median_ms", "p95_ms", "min_ms", "db_median_ms", "python_median_ms"}


def test_compare_alternates_and_pairs_ratios():
    order = []

    def slow():
        order.append("a")
        time.sleep(0.02)

    def fast():
        order.append("b")

    result = compare(slow, fast, repeat=4, warmup=1)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up, then AB BA AB BA
    assert len(result.ratios) == 4
    assert result.median_ratio > 1  # A sleeps 20 ms, B does nothing
    assert result.a.label == "baseline" and result.b.label == "fix"
    assert "baseline / fix" in str(result)


@pytest.mark.parametrize("kwargs", [{"repeat": 0}, {"warmup": -1}])
def test_bad_counts_are_refused(kwargs):
    with pytest.raises(ValueError):
        measure(lambda: None, **kwargs)
