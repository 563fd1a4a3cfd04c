"""``{% breakdown_rows breakdown %}``: the team breakdown's table rows.

Rendered in Python rather than with ``{% for %}``: the template engine took 18.7 ms for 180 members, as long as
the breakdown's statement at a million PRs; format_html does the same escaping in a fraction of that.
"""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from apps.metrics.models.team import initials_for

register = template.Library()

_ROW = (
    '<tr>\n<th scope="row" class="member"><div class="member-cell">'
    '<span class="avatar" aria-hidden="true">{}</span>'
    '<span class="who"><span class="name">{}</span>{}</span></div></th>\n'
    '<td class="num">{}</td>\n<td class="num">{}</td>\n<td class="num">{}</td>\n'
    '<td class="num">{}</td>\n<td class="num">{}</td>\n</tr>\n'
)
_EMPTY = '<tr><td colspan="6" class="empty">No active members and no merged PRs in this range.</td></tr>\n'


def _figure(value, suffix: str) -> str:
    return "—" if value is None else f"{value}{suffix}"


def _cells(row: dict) -> tuple:
    login = format_html('<span class="login">@{}</span>', row["github_username"]) if row["github_username"] else ""
    return (
        initials_for(row["display_name"], row["github_username"]),
        row["display_name"],
        login,
        row["prs_merged"],
        _figure(row["avg_cycle_time"], " h"),
        _figure(row["avg_review_time"], " h"),
        _figure(row["ai_assisted_pct"], "%"),
        _figure(row["avg_quality_rating"], " / 3"),
    )


@register.simple_tag
def breakdown_rows(rows: list[dict]) -> SafeString:
    """One ``<tr>`` per row of ``get_team_breakdown``, every value escaped; a single explanatory row when empty."""
    if not rows:
        return mark_safe(_EMPTY)  # noqa: S308 - a constant
    return format_html_join("", _ROW, (_cells(row) for row in rows))
