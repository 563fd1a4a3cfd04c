"""The dashboard page, its three JSON chart endpoints and the key-metric cards fragment.

Every URL: 200 for a member, 404 for another team or an unknown slug, the login page for
anonymous users, 400 with a readable reason for bad dates, and a statement count that does not
depend on the team's size (cold cache).
"""

import datetime as dt
import itertools
import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from apps.metrics.services.dates import monday_of
from apps.perflab.datagen import DatasetSpec, generate
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import MembershipFactory, UserFactory
from apps.teams.models import Team
from tests.metrics.views.dashboard_data import RANGE, _merged

pytestmark = pytest.mark.django_db

URL_NAMES = [
    "metrics:dashboard",
    "metrics:key_metrics_cards",
    "metrics:chart_cycle_time",
    "metrics:chart_ai_share",
    "metrics:chart_pr_sizes",
    "metrics:chart_copilot_users",
    "metrics:chart_copilot_acceptance",
]
CHART_URL_NAMES = URL_NAMES[2:]
TABLE_URL_NAMES = [
    "metrics:table_cycle_time",
    "metrics:table_ai_share",
    "metrics:table_pr_sizes",
    "metrics:table_copilot_users",
    "metrics:table_copilot_acceptance",
]
_prefixes = itertools.count(1)


def _url(name, slug, params=None):
    url = reverse(name, args=[slug])
    if params:
        url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
    return url


# --- access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", URL_NAMES)
def test_a_member_gets_200(alice_client, name):
    response = alice_client.get(_url(name, "platform", RANGE))
    assert response.status_code == 200
    if name in CHART_URL_NAMES:
        assert response["Content-Type"] == "application/json"
    else:
        assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("name", URL_NAMES)
def test_default_range_is_the_last_30_days(alice_client, name):
    assert alice_client.get(_url(name, "platform")).status_code == 200


@pytest.mark.parametrize("slug", ["secret", "no-such-team"])
@pytest.mark.parametrize("name", URL_NAMES)
def test_another_or_unknown_team_is_404(alice_client, name, slug):
    assert alice_client.get(_url(name, slug, RANGE)).status_code == 404
    # access is checked before the parameters: bad dates do not reveal that a team exists
    assert alice_client.get(_url(name, slug, {"start": "nonsense"})).status_code == 404


@pytest.mark.parametrize("name", URL_NAMES)
def test_anonymous_is_sent_to_login(client, world, name):
    response = client.get(_url(name, "platform", RANGE))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", URL_NAMES)
def test_only_get_is_allowed(alice_client, name):
    assert alice_client.post(_url(name, "platform", RANGE)).status_code == 405


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"start": "2026-13-01"}, "start must be a date as YYYY-MM-DD, not '2026-13-01'"),
        ({"end": "yesterday"}, "end must be a date as YYYY-MM-DD, not 'yesterday'"),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "end (2026-03-01) is before start (2026-03-10)"),
        ({"start": "2023-01-01", "end": "2026-01-01"}, "the range is 1097 days; at most 731 (two years) are allowed"),
    ],
    ids=["unparseable start", "unparseable end", "end before start", "more than two years"],
)
@pytest.mark.parametrize("name", URL_NAMES)
def test_bad_dates_are_400_with_the_reason(alice_client, name, params, reason):
    response = alice_client.get(_url(name, "platform", params))
    assert response.status_code == 400
    if name in CHART_URL_NAMES:
        assert response.json() == {"error": f"Bad request: {reason}"}
    else:  # the page (or its fragment) with the reason, HTML-escaped like any text on it
        assert response["Content-Type"].startswith("text/html")
        assert escape(reason) in response.content.decode()


def test_a_bad_range_reshows_the_dashboard_with_the_error_by_the_form(alice_client):
    response = alice_client.get(_url("metrics:dashboard", "platform", {"start": "2026-03-10", "end": "2026-03-01"}))
    assert response.status_code == 400
    page = response.content.decode()
    error = "end (2026-03-01) is before start (2026-03-10)"
    assert f'<p class="form-error" role="alert" id="range-error">{error}</p>' in page
    # the dates as sent stay in the form, and nothing else of the page is read
    assert 'name="start" value="2026-03-10"' in page and 'name="end" value="2026-03-01"' in page
    assert 'id="key-metrics"' not in page and "<canvas" not in page
    assert "<header>" in page  # the site's layout, not a bare text page


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"end": "9999-12-31"}, "end must be between 1970-01-01 and 2999-12-31, not 9999-12-31"),
        ({"end": "1970-01-10"}, "end must be 29 days after 1970-01-01 when start is not given"),
        ({"start": "0001-01-01"}, "start must be between 1970-01-01 and 2999-12-31, not 0001-01-01"),
        ({"start": "2026-03-01", "end": "2026-03-02", "extra": "x"}, None),
    ],
    ids=["end at the calendar's end", "end near 1970 without a start", "start at the calendar's start", "fine"],
)
def test_dates_at_the_calendar_edges_are_400_not_an_overflow(alice_client, params, reason):
    response = alice_client.get(_url("metrics:dashboard", "platform", params))
    if reason is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert escape(reason) in response.content.decode()


# --- statements ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", URL_NAMES)
def test_statements_do_not_grow_with_the_team(client, name):
    user = UserFactory(username="counter")
    client.force_login(user)
    end = dt.date(2026, 3, 31)
    sizes = {}

    def prepare(size):
        spec = DatasetSpec(members_per_team=size, prs_per_member=3, days=60, seed=size, end_date=end,
                           team_slug_prefix=f"views{next(_prefixes)}")
        team = Team.objects.get(id=generate(spec, progress=False).team_ids[0])
        MembershipFactory(user=user, team=team)
        url = _url(name, team.slug, {"start": "2026-03-01", "end": "2026-03-31"})

        def request():
            response = client.get(url)
            assert response.status_code == 200
            sizes[size] = response

        return request  # a new team: its figures are not cached yet (cold)

    captures = assert_constant_queries(prepare, sizes=(5, 50))
    # session, user, team; the page: + breakdown (1) + comparison (2) + Copilot adoption (2) + AI impact (1);
    # the cards: + comparison; a chart: + its one statement, a Copilot chart + Copilot adoption's two
    copilot_charts = ("metrics:chart_copilot_users", "metrics:chart_copilot_acceptance")
    expected = {"metrics:dashboard": 9, "metrics:key_metrics_cards": 5} | dict.fromkeys(copilot_charts, 5)
    assert captures[0].count == expected.get(name, 4), captures[0].statements()
    if name == "metrics:dashboard":
        assert sizes[50].content.decode().count('class="avatar"') >= 45  # the breakdown really has 50 rows


def test_the_page_is_constant_with_its_breakdown_and_cheaper_warm(alice_client, world):
    from apps.perflab.capture import capture_queries

    url = _url("metrics:dashboard", "platform", RANGE)
    with capture_queries() as cold:
        alice_client.get(url)
    with capture_queries() as warm:
        alice_client.get(url)
    # every figure comes from Redis: the session, the user and the team are all that is read
    assert (cold.count, warm.count) == (9, 3), warm.statements()


# --- JSON ---------------------------------------------------------------------------------------------


def test_cycle_time_json(alice_client):
    data = alice_client.get(_url("metrics:chart_cycle_time", "platform", RANGE)).json()
    assert data == {
        "title": "Cycle time per week",
        "range": {"start": "2026-03-02", "end": "2026-03-22"},
        "labels": ["2026-03-02", "2026-03-09", "2026-03-16"],
        "series": [
            {"name": "Median cycle time", "values": [15.0, None, 30.0]},  # the median of two PRs: their mean
            {"name": "Avg cycle time", "values": [15.0, None, 30.0]},
        ],
        "unit": "hours",
        "prs_merged": [2, 0, 1],
    }


def test_ai_share_json(alice_client):
    data = alice_client.get(_url("metrics:chart_ai_share", "platform", RANGE)).json()
    assert data["labels"] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert data["series"] == [{"name": "AI-assisted", "values": [100.0, None, 0.0]}]
    assert data["answered"] == [1, 0, 1]
    assert data["unit"] == "%"


def test_pr_sizes_json(alice_client):
    data = alice_client.get(_url("metrics:chart_pr_sizes", "platform", RANGE)).json()
    assert data["labels"] == ["XS", "S", "M", "L", "XL"]
    assert data["series"] == [{"name": "PRs merged", "values": [1, 1, 0, 0, 1]}]
    assert data["descriptions"] == ["<10 lines", "10-49 lines", "50-249 lines", "250-999 lines", "1000+ lines"]
    assert data["unit"] == "PRs"


def test_json_numbers_are_numbers_not_strings(alice_client):
    body = alice_client.get(_url("metrics:chart_cycle_time", "platform", RANGE)).content.decode()
    assert '"values": [15.0, null, 30.0]' in body


def test_charts_of_an_empty_range_are_well_formed(alice_client):
    params = {"start": "2025-01-06", "end": "2025-01-19"}
    cycle = alice_client.get(_url("metrics:chart_cycle_time", "platform", params)).json()
    assert cycle["labels"] == ["2025-01-06", "2025-01-13"]
    assert cycle["series"][0]["values"] == [None, None]
    sizes = alice_client.get(_url("metrics:chart_pr_sizes", "platform", params)).json()
    assert sizes["series"][0]["values"] == [0, 0, 0, 0, 0]


def test_weekly_labels_are_mondays_even_mid_week(alice_client):
    data = alice_client.get(_url("metrics:chart_cycle_time", "platform", {"start": "2026-03-04", "end": "2026-03-18"}))
    labels = [dt.date.fromisoformat(label) for label in data.json()["labels"]]
    assert labels == [monday_of(dt.date(2026, 3, 4)) + dt.timedelta(weeks=i) for i in range(3)]


# --- the cards and the page ---------------------------------------------------------------------------


def _cards(html: str) -> dict[str, str]:
    """``{metric key: the card's text, whitespace squeezed}``."""
    found = re.findall(r'<article class="kpi" data-metric="(\w+)">(.*?)</article>', html, re.S)
    return {key: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for key, body in found}


def test_cards_fragment_shows_values_previous_and_change(alice_client):
    response = alice_client.get(_url("metrics:key_metrics_cards", "platform", RANGE))
    html = response.content.decode()
    assert "<html" not in html  # a fragment
    cards = _cards(html)
    assert list(cards) == [
        "prs_merged", "median_cycle_time", "median_review_time", "ai_assisted_pct", "avg_quality_rating",
    ]
    assert cards["prs_merged"] == "PRs merged 3 ▲ +200.00% previous: 1"
    assert cards["median_cycle_time"] == "Cycle time 20.00 h average 20.00 h ▼ -66.67% previous: 60.00 h"
    assert cards["ai_assisted_pct"] == "AI-assisted PRs 50.00% no data to compare previous: —"
    assert cards["avg_quality_rating"] == "Review quality 3.00 / 3 no data to compare previous: —"
    # more PRs is good, a shorter cycle time is good
    assert re.search(r'data-metric="prs_merged">.*?tone-good', html, re.S)
    assert re.search(r'data-metric="median_cycle_time">.*?tone-good', html, re.S)
    assert "Feb 9 – Mar 1, 2026" in html  # the period compared with


def test_the_time_cards_show_the_median_and_the_average_below_it(alice_client, world):
    """Times are skewed: one slow PR moves the average far more than the median the card leads with."""
    _, platform, _ = world
    _merged(platform, platform.members.get(github_username="bob"), dt.date(2026, 3, 18), cycle="200")
    cards = _cards(alice_client.get(_url("metrics:key_metrics_cards", "platform", RANGE)).content.decode())
    # 10, 20, 30 and 200 hours: the median is 25, the average 65
    assert cards["median_cycle_time"] == "Cycle time 25.00 h average 65.00 h ▼ -58.33% previous: 60.00 h"


def test_a_worse_period_is_coloured_bad(alice_client, world):
    _, platform, _ = world
    bob = platform.members.get(github_username="bob")
    for _ in range(3):  # enough slow PRs to move the median, not just the average
        _merged(platform, bob, dt.date(2026, 3, 18), cycle="500")
    html = alice_client.get(_url("metrics:key_metrics_cards", "platform", RANGE)).content.decode()
    assert re.search(r'data-metric="median_cycle_time">.*?tone-bad.*?▲', html, re.S)


def test_the_page_has_everything(alice_client):
    response = alice_client.get(_url("metrics:dashboard", "platform", RANGE))
    html = response.content.decode()
    templates = [t.name for t in response.templates]
    assert "metrics/partials/key_metrics_cards.html" in templates  # the same fragment, rendered in place
    assert len(_cards(html)) == 5 + 4  # the key metrics and Copilot adoption
    # the range form, filled in, with presets
    assert 'name="start" value="2026-03-02"' in html and 'name="end" value="2026-03-22"' in html
    assert "Last 7 days" in html and "Last 30 days" in html and "Last 90 days" in html
    # links to the PR list and the CSV export: the PRs merged in the range, which the first card counts
    assert 'href="/t/platform/prs/?dates=merged&amp;start=2026-03-02&amp;end=2026-03-22"' in html
    assert 'href="/t/platform/prs/export.csv?dates=merged&amp;start=2026-03-02&amp;end=2026-03-22"' in html
    # the three charts, drawn in the browser from their endpoints, and without JavaScript as tables
    for name in CHART_URL_NAMES:
        assert f'data-src="{reverse(name, args=["platform"])}?start=2026-03-02&amp;end=2026-03-22"' in html
    for name in TABLE_URL_NAMES:
        table = f'<noscript><iframe class="chart-fallback" src="{reverse(name, args=["platform"])}?start=2026-03-02'
        assert table in html
    assert "Loading…" not in html  # dashboard.js writes it: without JavaScript nothing would ever replace it
    assert "/static/metrics/charts.js" in html and "/static/metrics/dashboard.js" in html
    # the breakdown: every active member and whoever merged, initials, and dashes for nothing
    rows = re.findall(r'<tr>\s*<th scope="row" class="member">(.*?)</tr>', html, re.S)
    texts = [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]
    assert texts == [
        "AL Ada Lovelace @ada 2 20.00 h 20.00 h 4.00 h 4.00 h 50.00% 3.00 / 3 — 0 0",
        "BO Bob @bob 1 20.00 h 20.00 h 4.00 h 4.00 h — — — 0 0",
        "CI Cy Idle @cy 0 — — — — — — — 0 0",
    ]
    assert "Spy" not in html and "Secret" not in html


def test_the_active_preset_is_marked(alice_client):
    from apps.metrics.views.params import today_utc

    today = today_utc()
    start = today - dt.timedelta(days=6)
    html = alice_client.get(_url("metrics:dashboard", "platform", {"start": start, "end": today})).content.decode()
    active = r'<a href="\?start=[\d-]+&amp;end=[\d-]+" class="active" aria-current="true">Last 7 days</a>'
    assert re.search(active, html)


def test_static_chart_files_are_ours_and_served(alice_client):
    from django.contrib.staticfiles import finders

    for name in ("metrics/charts.js", "metrics/dashboard.js"):
        path = finders.find(name)
        assert path, name
    charts = open(finders.find("metrics/charts.js"), encoding="utf-8").read()
    assert "devicePixelRatio" in charts and "No data in this range" in charts


def test_against_a_previous_period_without_data_every_card_says_so(alice_client):
    """One rule for the five cards: nothing merged before the range, so nothing to compare with (not "+3")."""
    html = alice_client.get(_url("metrics:key_metrics_cards", "platform", {"start": "2026-03-16", "end": "2026-03-22"}))
    cards = _cards(html.content.decode())
    assert len(cards) == 5
    # the week before (March 9-15) merged nothing; this one merged Ada's 30-hour PR
    assert cards["prs_merged"] == "PRs merged 1 no data to compare previous: 0"
    assert cards["median_cycle_time"] == "Cycle time 30.00 h average 30.00 h no data to compare previous: —"
    assert all("no data to compare" in text for text in cards.values()), cards
    assert "tone-good" not in html.content.decode() and "tone-bad" not in html.content.decode()


@pytest.mark.parametrize(("json_name", "table_name"), list(zip(CHART_URL_NAMES, TABLE_URL_NAMES, strict=True)))
def test_each_chart_table_shows_the_figures_of_its_json(alice_client, json_name, table_name):
    data = alice_client.get(_url(json_name, "platform", RANGE)).json()
    response = alice_client.get(_url(table_name, "platform", RANGE))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # framed by the dashboard's <noscript>
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", response.content.decode(), re.S)
    assert [label for label, _ in rows] == data["labels"]
    values = [re.findall(r"<td>(.*?)</td>", cells)[0] for _, cells in rows]
    assert values == ["–" if v is None else str(v) for v in data["series"][0]["values"]]


def test_a_chart_table_of_another_team_is_404(alice_client):
    assert alice_client.get(_url("metrics:table_cycle_time", "secret", RANGE)).status_code == 404
