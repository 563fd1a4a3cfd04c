"""Query-count assertions that print every statement, grouped by fingerprint, when they fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from apps.perflab.capture import QueryCapture, capture_queries


class QueryBudgetExceeded(AssertionError):
    """More statements ran than the budget allows."""


class QueryCountGrows(AssertionError):
    """The statement count depends on the data size: an N+1."""


def _explain(capture: QueryCapture) -> str:
    return f"{capture.report(full=True)}\n\nEvery statement, in order:\n{capture.statements()}"


@contextmanager
def assert_max_queries(limit: int, using: str = "default") -> Iterator[QueryCapture]:
    """Fail if the block runs more than ``limit`` statements."""
    with capture_queries(using) as capture:
        yield capture
    if capture.count > limit:
        raise QueryBudgetExceeded(f"expected at most {limit} statements, got {capture.count}\n{_explain(capture)}")


class QueryCountDiffers(AssertionError):
    """Not the exact number of statements the path is known to run."""


@contextmanager
def assert_num_queries(expected: int, using: str = "default") -> Iterator[QueryCapture]:
    """Fail unless the block runs exactly ``expected`` statements, SAVEPOINT/RELEASE left out.

    The savepoints are those a test's transaction turns each ``atomic`` into; production (autocommit) runs
    none, so the count left is production's. They are left out by ``QueryCapture.without_savepoints()``,
    the one helper for that (use it on ``assert_constant_queries``' captures too). The capture yielded
    holds every statement, savepoints included.
    """
    with capture_queries(using) as capture:
        yield capture
    counted = capture.without_savepoints()
    if counted.count != expected:
        raise QueryCountDiffers(
            f"expected exactly {expected} statements (SAVEPOINT/RELEASE left out), got {counted.count}\n"
            f"{_explain(capture)}"
        )


def assert_constant_queries(
    prepare: Callable[[int], Callable[[], Any]],
    sizes: Sequence[int] = (5, 50),
    using: str = "default",
) -> list[QueryCapture]:
    """Fail unless the operation runs the same number of statements at every size.

    ``prepare(size)`` builds the data for ``size`` and returns the operation as a zero-argument
    callable; only that call is captured, so set-up statements never count. Returns the
    captures, smallest size first, for further assertions (say, a budget).
    """
    if len(sizes) < 2:
        raise ValueError("assert_constant_queries needs at least two sizes to compare")
    captures = []
    for size in sizes:
        operation = prepare(size)
        with capture_queries(using) as capture:
            operation()
        captures.append(capture)
    counts = [c.count for c in captures]
    if len(set(counts)) > 1:
        details = "\n\n".join(
            f"--- size {size}: {c.count} statements\n{_explain(c)}" for size, c in zip(sizes, captures, strict=True)
        )
        by_size = dict(zip(sizes, counts, strict=True))
        raise QueryCountGrows(f"statement count changes with size: {by_size}\n\n{details}")
    return captures
