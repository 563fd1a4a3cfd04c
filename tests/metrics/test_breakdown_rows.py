"""The breakdown's rows, rendered in Python: the same cells as before, every value escaped."""

from apps.metrics.templatetags.breakdown import breakdown_rows


def _row(**fields) -> dict:
    row = {
        "member_id": 1,
        "display_name": "Ada Lovelace",
        "github_username": "ada",
        "avatar_url": "",
        "prs_merged": 3,
        "avg_cycle_time": None,
        "avg_review_time": None,
        "median_cycle_time": None,
        "median_review_time": None,
        "ai_assisted_pct": None,
        "avg_quality_rating": None,
    }
    return row | fields


def test_names_and_logins_are_escaped():
    html = breakdown_rows([_row(display_name='<script>alert("x")</script>', github_username="a&b")])
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert '<span class="login">@a&amp;b</span>' in html


def _cells(html: str) -> list[str]:
    return [cell.split("</td>")[0] for cell in html.split('<td class="num')[1:]]


def test_figures_with_units_and_dashes_for_none():
    row = _row(avg_cycle_time="20.50", median_cycle_time="12.00", ai_assisted_pct="50.00", avg_quality_rating="2.75")
    html = breakdown_rows([row])
    cells = [cell.split(">", 1)[1] for cell in _cells(html)]
    # PRs, avg and median cycle, avg and median review, AI-assisted, quality; no Copilot figures: dashes
    assert cells == ["3", "20.50 h", "12.00 h", "—", "—", "50.00%", "2.75 / 3", "—", "—", "—"]
    assert '<span class="avatar" aria-hidden="true">AL</span>' in html


def test_the_copilot_columns_come_from_the_members_figures():
    copilot = {1: {"acceptance_rate": "31.25", "lines_accepted": 120, "days_active": 9}}
    cells = [cell.split(">", 1)[1] for cell in _cells(breakdown_rows([_row()], copilot_members=copilot))]
    assert cells[-3:] == ["31.25%", "120", "9"]
    other = [cell.split(">", 1)[1] for cell in _cells(breakdown_rows([_row(member_id=2)], copilot_members=copilot))]
    assert other[-3:] == ["—", "—", "—"]  # another member's figures are not this one's


def test_a_member_without_a_login_has_no_login_span():
    html = breakdown_rows([_row(display_name="Cy", github_username="")])
    assert 'class="login"' not in html and '<span class="name">Cy</span>' in html


def test_no_rows_says_so():
    assert "No active members and no merged PRs in this range." in breakdown_rows([])
