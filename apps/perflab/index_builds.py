"""Problem 6's writers: what building an index costs a writer inserting meanwhile.

- ``while_writing(build, ...)``: a writer thread (its own connection) inserts pull requests in a loop while
  ``build`` runs: how many inserts got through and how long the longest waited (a ``WriterRun``).
- ``build_plainly`` builds in one transaction (as an atomic migration of ``AddIndex`` would),
  ``build_concurrently`` with CONCURRENTLY; ``drop_indexes`` removes what they built.
- ``plots.writer_timeline`` charts the runs.

Lab tools: the plain builds take locks that block writers. Not for production use.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import connection, connections, transaction

from apps.perflab.indexes import IndexDefinition


@dataclass(frozen=True)
class WriterRun:
    """What a writer inserting in a loop saw while an index was built.

    ``inserts`` holds (started, seconds waited) per insert, ``started`` counted from the writer's start;
    the build ran from ``build_started`` to ``build_finished`` (its commit, for a plain build).
    """

    label: str
    build_started: float
    build_finished: float
    inserts: tuple[tuple[float, float], ...]

    @property
    def build_seconds(self) -> float:
        return self.build_finished - self.build_started

    def _during(self) -> list[tuple[float, float]]:
        # every insert whose wait overlapped the build
        return [(at, wait) for at, wait in self.inserts if at < self.build_finished and at + wait > self.build_started]

    @property
    def inserts_during_build(self) -> int:
        return len(self._during())

    @property
    def longest_wait_ms(self) -> float:
        """The longest any insert overlapping the build waited for its answer."""
        return max((wait for _, wait in self._during()), default=0.0) * 1000

    @property
    def inserts_completed_during_build(self) -> int:
        return sum(1 for at, wait in self.inserts if self.build_started <= at + wait <= self.build_finished)

    @property
    def inserts_per_second(self) -> float:
        """Inserts that completed during the build, per second of build."""
        return self.inserts_completed_during_build / self.build_seconds if self.build_seconds else 0.0

    @property
    def inserts_per_second_before(self) -> float:
        """The writer's pace before the build started: the reference."""
        done = sum(1 for at, wait in self.inserts if at + wait <= self.build_started)
        return done / self.build_started if self.build_started else 0.0

    def as_dict(self) -> dict:
        return {
            "build": self.label,
            "build_s": round(self.build_seconds, 3),
            "inserts_during_build": self.inserts_during_build,
            "inserts_per_s_before": round(self.inserts_per_second_before),
            "inserts_per_s_during": round(self.inserts_per_second),
            "longest_wait_ms": round(self.longest_wait_ms, 1),
        }


def _write_in_a_loop(stop: threading.Event, origin: float, team_id: int, repo: str, out: list, errors: list):
    """The writer thread: its own connection (Django's are per thread), one autocommitted insert at a time."""
    from apps.metrics.models import PullRequest

    try:
        number = 0
        while not stop.is_set():
            number += 1
            began = time.perf_counter()
            PullRequest.objects.create(
                team_id=team_id,
                github_repo=repo,
                github_pr_id=number,
                title=f"writer insert {number}",
                state=PullRequest.State.OPEN,
                pr_created_at=dt.datetime.now(dt.UTC),
            )
            out.append((began - origin, time.perf_counter() - began))
    except Exception as error:  # reported to the caller's thread
        errors.append(error)
    finally:
        connections.close_all()


def while_writing(
    build: Callable[[], None], *, team_id: int, label: str = "", lead: float = 0.3, tail: float = 0.3
) -> WriterRun:
    """Run ``build()`` while another thread inserts pull requests of ``team_id`` in a loop; then remove them.

    The writer starts ``lead`` seconds before the build and stops ``tail`` seconds after it returns; its
    rows (a repository of their own) are deleted afterwards.
    """
    from apps.metrics.models import PullRequest

    repo = f"perflab/writer-{uuid.uuid4().hex[:12]}"
    stop, inserts, errors = threading.Event(), [], []
    origin = time.perf_counter()
    writer = threading.Thread(target=_write_in_a_loop, args=(stop, origin, team_id, repo, inserts, errors))
    writer.start()
    try:
        deadline = time.perf_counter() + 10
        while not inserts and not errors and time.perf_counter() < deadline:
            time.sleep(0.005)  # until the writer's connection is up and its first insert is in
        time.sleep(lead)
        build_started = time.perf_counter() - origin
        build()
        build_finished = time.perf_counter() - origin
        time.sleep(tail)
    finally:
        stop.set()
        writer.join()
        PullRequest.objects.filter(github_repo=repo).delete()
    if errors:
        raise errors[0]
    if not inserts:
        raise RuntimeError("the writer never inserted a row")
    return WriterRun(label, build_started, build_finished, tuple(inserts))


def build_plainly(indexes: Sequence[IndexDefinition], *, hold: float = 0.0) -> Callable[[], None]:
    """A build: plain CREATE INDEX of each, in one transaction kept open ``hold`` seconds more, as an
    atomic migration of AddIndex operations (and whatever else it does) would."""

    def build() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            for index in indexes:
                cursor.execute(index.create_sql())
            time.sleep(hold)

    return build


def build_concurrently(indexes: Sequence[IndexDefinition], *, hold: float = 0.0) -> Callable[[], None]:
    """A build: CREATE INDEX CONCURRENTLY of each, outside any transaction.

    With ``hold``, another connection keeps a REPEATABLE READ snapshot open for ``hold`` seconds from the
    start, which a concurrent build must wait out (as it waits for any long transaction in production):
    the build then lasts at least that long, writers or not.
    """

    def build() -> None:
        if connection.in_atomic_block:
            raise RuntimeError("CREATE INDEX CONCURRENTLY cannot run inside a transaction block")
        holder = _SnapshotHolder(hold) if hold else None
        if holder:
            holder.start()
            holder.ready.wait(10)
        try:
            with connection.cursor() as cursor:
                for index in indexes:
                    cursor.execute(index.create_sql(concurrently=True))
        finally:
            if holder:
                holder.join()
        if holder and holder.errors:
            raise holder.errors[0]

    return build


class _SnapshotHolder(threading.Thread):
    """A transaction on its own connection that holds a snapshot for ``seconds``, touching no table."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.ready = threading.Event()
        self.errors: list[Exception] = []

    def run(self) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SELECT 1")  # the snapshot is taken here and kept until the end
                self.ready.set()
                time.sleep(self.seconds)
        except Exception as error:
            self.errors.append(error)
        finally:
            self.ready.set()
            connections.close_all()


def drop_indexes(names: Sequence[str]) -> None:
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP INDEX IF EXISTS {connection.ops.quote_name(name)}")
