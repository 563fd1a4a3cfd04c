"""How metric values are rounded: one place, so every implementation reports the same figures."""

from decimal import ROUND_HALF_UP, Decimal

TWO_PLACES = Decimal("0.01")


def two_places(value) -> Decimal | None:
    """A Decimal with 2 places (half up), or None for no value. Floats go through str (no binary noise)."""
    if value is None:
        return None
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def percent(part: int, whole: int) -> Decimal | None:
    """``part`` of ``whole`` in percent with 2 places; None when ``whole`` is 0."""
    if not whole:
        return None
    return two_places(Decimal(part) * 100 / Decimal(whole))
