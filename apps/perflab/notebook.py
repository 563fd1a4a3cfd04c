"""The notebook harness: one call in the first cell, one in the last.

``setup_notebook("01_team_breakdown")`` sets Django up inside the kernel, creates, migrates
and seeds an isolated database ``tformance_nb_01_team_breakdown`` with fixed seeds and dates,
and loads django-extensions' notebook extension (the shell_plus model imports) quietly.
``lab.close()`` in the last cell drops that database again. Each notebook therefore runs on
its own data, and its checked outputs are the same on every machine.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

from apps.perflab.variants import END_DATE

DATABASE_PREFIX = "tformance_nb_"
# The day every notebook's data ends: the problem modules' END_DATE, so a notebook and perf_bench measure alike
NOTEBOOK_END_DATE = END_DATE


def _database_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,40}", name):
        raise ValueError(f"a notebook name is letters, digits and underscores (at most 40), not {name!r}")
    return DATABASE_PREFIX + name.lower()


def _setup_django() -> None:
    # IPython runs an event loop; Django refuses sync ORM calls inside one unless told it is safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tformance.settings")
    import django

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stray start-up warnings would land in nbval's stderr
        django.setup()


def _load_shell_plus_imports() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # not in IPython (a plain script or a test)
        return
    shell = get_ipython()
    if shell is None:
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        shell.extension_manager.load_extension("django_extensions.management.notebook_extension")


def _isolate_cache(database: str) -> None:
    """Cache keys of this run only: Redis is shared, and ids repeat across fresh databases.

    The settings change too, so that a cache re-created later (say, after ``override_settings``)
    keeps the run's prefix.
    """
    from django.conf import settings
    from django.core.cache import cache

    prefix = f"{database}:{uuid.uuid4().hex[:12]}"
    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    cache.key_prefix = prefix


def create_isolated_database(database: str) -> str:
    """Create and migrate ``database`` (dropping any leftover), switch the ORM and the cache keys
    to it; return the database the connection used before (for ``drop_isolated_database``)."""
    from django.db import connection

    original = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = database
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    _isolate_cache(database)
    return original


def drop_isolated_database(original: str) -> None:
    """Drop the isolated database and its cache keys; point the connection back at ``original``."""
    from django.core.cache import cache
    from django.db import connection

    cache.delete_pattern("*")  # this run's keys only (the prefix is the run's own)
    connection.creation.destroy_test_db(original, verbosity=0)


@dataclass
class NotebookLab:
    """What ``setup_notebook`` made: the database, the seeded dataset and its result."""

    name: str
    database: str
    original_database: str
    spec: Any = None
    seeded: Any = None
    closed: bool = field(default=False)

    def close(self) -> None:
        """Drop the notebook's database and point the connection back where it was."""
        if self.closed:
            return
        drop_isolated_database(self.original_database)
        self.closed = True
        print(f"dropped {self.database}")


def setup_notebook(name: str, *, seed: bool = True, **spec_fields) -> NotebookLab:
    """Create, migrate and seed ``tformance_nb_<name>``; switch the ORM to it.

    ``spec_fields`` are ``apps.perflab.datagen.DatasetSpec`` fields (teams, members_per_team,
    prs_per_member, days, seed...); ``end_date`` defaults to a fixed day, so that every run
    sees the same data. Prints one deterministic line describing the data.
    """
    database = _database_name(name)
    _setup_django()
    from apps.perflab import datagen

    original = create_isolated_database(database)
    # The notebooks reproduce N+1s on purpose (the audited pages) and time pages as production serves them: the
    # development middleware (NPlusOneMiddleware, DEBUG on) is switched off, and its warnings kept off stderr, which
    # nbval compares.
    from django.conf import settings

    settings.NPLUSONE_CHECKS = False
    logging.getLogger("tformance.nplusone").setLevel(logging.ERROR)
    lab = NotebookLab(name=name, database=database, original_database=original)
    if seed:
        lab.spec = datagen.DatasetSpec(**{"end_date": NOTEBOOK_END_DATE, **spec_fields})
        lab.seeded = datagen.generate(lab.spec, progress=False)
    _load_shell_plus_imports()
    print(f"database {database} ready" + (f": {describe_seed(lab.seeded)}" if lab.seeded is not None else ""))
    return lab


def describe_seed(seeded) -> str:
    """Row counts of a seeded dataset, in load order: deterministic for a fixed spec."""
    return ", ".join(f"{count:,} {name}" for name, count in seeded.row_counts.items())
