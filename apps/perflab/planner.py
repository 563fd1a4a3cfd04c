"""Planner settings, switched for one block on the current connection: what the shipped ones are worth.

The app connects with ``random_page_cost=1.1`` and ``max_parallel_workers_per_gather=0`` (tformance/settings.py).
``planner_settings(**POSTGRES_DEFAULTS)`` runs a block the way a stock PostgreSQL would plan it, so a benchmark can
time the same statements under both, side by side.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

POSTGRES_DEFAULTS = {"random_page_cost": "4", "max_parallel_workers_per_gather": "2"}


def current_setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        return cursor.fetchone()[0]


@contextmanager
def planner_settings(**values: str) -> Iterator[None]:
    """Set planner settings for the block on this connection; the previous values come back afterwards."""
    previous = {name: current_setting(name) for name in values}
    try:
        with connection.cursor() as cursor:
            for name, value in values.items():
                cursor.execute("SELECT set_config(%s, %s, false)", [name, str(value)])
        yield
    finally:
        with connection.cursor() as cursor:
            for name, value in previous.items():
                cursor.execute("SELECT set_config(%s, %s, false)", [name, value])
