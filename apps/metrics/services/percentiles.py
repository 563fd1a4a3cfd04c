"""PostgreSQL's ``percentile_cont`` as an ORM aggregate, so percentiles are computed where the rows are.

``PercentileCont(0.5, "cycle_time_hours", filter=Q(...))`` renders
``percentile_cont(0.5) WITHIN GROUP (ORDER BY "cycle_time_hours") FILTER (WHERE ...)``: the value at
that fraction of the ordered non-null values, interpolated linearly between the two nearest rows (at
position ``fraction * (n - 1)``, counting from 0), NULL when no row has a value. That is
``statistics.quantiles(values, n=4, method="inclusive")`` for the median and the 75th percentile.

PostgreSQL computes it in double precision (numeric input is cast), so the result is a float. Over
integers the interpolation at 0.25, 0.5 or 0.75 is exact; for two-place decimals, order by the value in
hundredths (an integer) and divide afterwards, or the half-way cases round by binary noise.

PostgreSQL only: ordered-set aggregates have no portable spelling, and they are not window functions.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import NotSupportedError
from django.db.models import Aggregate, F, FloatField

from apps.metrics.services.numbers import two_places


class PercentileCont(Aggregate):
    """``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``; ``filter=`` becomes ``FILTER (WHERE ...)``."""

    function = "percentile_cont"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()
    window_compatible = False

    def __init__(self, fraction: float, expression, *, filter=None, **extra):
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            raise ValueError(f"a percentile's fraction is a number from 0 to 1, not {fraction!r}")
        # Rendered into the SQL as a literal (a float's repr is digits, a point and maybe an exponent):
        # the same SQL text for every call, and nothing to substitute.
        super().__init__(expression, filter=filter, fraction=repr(float(fraction)), **extra)

    def as_sql(self, compiler, connection, **extra_context):
        if connection.vendor != "postgresql":
            raise NotSupportedError("percentile_cont ... WITHIN GROUP is PostgreSQL's")
        return super().as_sql(compiler, connection, **extra_context)


HUNDREDTHS = 100  # two-place decimals, ordered as integers: the interpolation is exact


def percentile_of_hundredths(fraction: float, column: str, *, filter=None) -> PercentileCont:
    """The percentile of a two-place decimal column (hours), ordered by its value in hundredths: exact.

    Read the result back with ``from_scaled(value, HUNDREDTHS)``.
    """
    return PercentileCont(fraction, F(column) * HUNDREDTHS, filter=filter)


def from_scaled(value, divisor: int) -> Decimal | None:
    """A percentile (a float, exact: see the module) back in its unit, two places half up; None stays None."""
    if value is None:
        return None
    return two_places(Decimal(str(value)) / divisor)
