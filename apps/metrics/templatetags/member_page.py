"""The member page's markup built in Python: inline SVG sparklines and the weeks' table rows.

Built here rather than with template loops: over 104 weeks x 12 figures a ``{% for %}`` (or ``format_html``
per cell) took most of the page's time. Every value that is not a formatted number is escaped.
"""

from __future__ import annotations

from html import escape

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()  # the functions are the member view's; a template may use them as filters too

NONE = "—"


def figure(value, unit: str = "") -> str:
    return NONE if value is None else f"{value}{unit}"


SPARK_WIDTH, SPARK_HEIGHT = 120, 28


@register.filter
def sparkline(values: list) -> str:
    """An inline SVG polyline of ``values`` (oldest first); None is a gap. Numbers only: nothing to escape."""
    numbers = [float(v) for v in values if v is not None]
    if not numbers:
        return ""
    low, high = min(numbers), max(numbers)
    span = (high - low) or 1.0
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    segments, current = [], []
    for i, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        y = SPARK_HEIGHT - 2 - (float(value) - low) / span * (SPARK_HEIGHT - 4)
        current.append(f"{i * step:.1f},{y:.1f}")
    if current:
        segments.append(current)
    shapes = "".join(
        f'<polyline points="{" ".join(points)}" />'
        if len(points) > 1
        else f'<circle cx="{points[0].split(",")[0]}" cy="{points[0].split(",")[1]}" r="1.5" />'
        for points in segments
    )
    return format_html(
        '<svg class="spark" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-hidden="true">{}</svg>',
        SPARK_WIDTH,
        SPARK_HEIGHT,
        SPARK_WIDTH,
        SPARK_HEIGHT,
        _safe(shapes),
    )


def _safe(markup: str):
    return mark_safe(markup)  # noqa: S308 - built above from formatted floats only


def table_rows(rows) -> str:
    """``<tr>`` per ``(week_start, cells)``, every cell escaped (the standard library's ``html.escape``):
    a template loop, or ``format_html`` per cell, over 104 weeks x 12 figures took most of the page's time."""
    return mark_safe(  # noqa: S308 - every value below is escaped
        "\n".join(
            f'<tr><th scope="row">{week_start.isoformat()}</th>'
            + "".join(f'<td class="num">{escape(cell)}</td>' for cell in cells)
            + "</tr>"
            for week_start, cells in rows
        )
    )
