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
        "ai_assisted_pct": None,
        "avg_quality_rating": None,
    }
    return row | fields


def test_names_and_logins_are_escaped():
    html = breakdown_rows([_row(display_name='<script>alert("x")</script>', github_username="a&b")])
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert '<span class="login">@a&amp;b</span>' in html


def test_figures_with_units_and_dashes_for_none():
    html = breakdown_rows([_row(avg_cycle_time="20.50", ai_assisted_pct="50.00", avg_quality_rating="2.75")])
    cells = html.split('<td class="num">')[1:]
    assert [cell.split("</td>")[0] for cell in cells] == ["3", "20.50 h", "—", "50.00%", "2.75 / 3"]
    assert '<span class="avatar" aria-hidden="true">AL</span>' in html


def test_a_member_without_a_login_has_no_login_span():
    html = breakdown_rows([_row(display_name="Cy", github_username="")])
    assert 'class="login"' not in html and '<span class="name">Cy</span>' in html


def test_no_rows_says_so():
    assert "No active members and no merged PRs in this range." in breakdown_rows([])
