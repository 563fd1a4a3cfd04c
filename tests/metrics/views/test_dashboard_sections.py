"""The dashboard's sections beyond the key metrics: Copilot adoption, AI impact, the breakdown's Copilot columns,
the definitions, and the cache that serves the whole page warm."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from apps.metrics.factories import AIUsageDailyFactory, PRSurveyFactory
from apps.metrics.services.team_cache import bump_team_data_version
from apps.perflab.capture import capture_queries
from tests.metrics.views.dashboard_data import RANGE, _merged
from tests.metrics.views.test_dashboard_views import _cards, _url

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&nbsp;", " ").split())


def _section(html: str, element_id: str) -> str:
    match = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, element_id
    return match.group(2)


@pytest.fixture
def copilot(world):
    """Ada used Copilot on two days of the range and one of the period before; Bob on none; Spy's team too."""
    _, platform, secret = world
    ada = platform.members.get(github_username="ada")
    AIUsageDailyFactory(team=platform, member=ada, date=dt.date(2026, 3, 3), suggestions_shown=80,
                        suggestions_accepted=20, lines_accepted=60, chat_interactions=4)
    AIUsageDailyFactory(team=platform, member=ada, date=dt.date(2026, 3, 17), suggestions_shown=20,
                        suggestions_accepted=10, lines_accepted=40, chat_interactions=0)
    AIUsageDailyFactory(team=platform, member=ada, date=dt.date(2026, 2, 20), suggestions_shown=50,
                        suggestions_accepted=5, lines_accepted=10, chat_interactions=2)
    spy = secret.members.get()
    AIUsageDailyFactory(team=secret, member=spy, date=dt.date(2026, 3, 3), suggestions_shown=999,
                        suggestions_accepted=999, lines_accepted=999)
    return ada


def test_copilot_cards_against_the_previous_period(alice_client, copilot):
    html = alice_client.get(_url("metrics:dashboard", "platform", RANGE)).content.decode()
    cards = _cards(_section(html, "copilot-cards"))
    assert list(cards) == ["active_users", "acceptance_rate", "lines_accepted", "chat_interactions"]
    # one of three active members; 30 of 100 suggestions accepted against 5 of 50 before
    assert cards["active_users"] == "Copilot users 1 of 3 adoption 33.33% no change previous: 1 of 3"
    assert cards["acceptance_rate"] == "Acceptance rate 30.00% ▲ +20.00 pts previous: 10.00%"
    assert cards["lines_accepted"] == "Lines accepted 100 ▲ +900.00% previous: 10"
    assert cards["chat_interactions"] == "Chat interactions 4 ▲ +100.00% previous: 2"
    assert 'id="copilot-empty"' not in html
    for section in ("copilot-cards", "team-breakdown"):
        assert "999" not in _text(_section(html, section))  # the other team's usage


def test_without_copilot_data_the_section_says_so(alice_client):
    html = alice_client.get(_url("metrics:dashboard", "platform", RANGE)).content.decode()
    cards = {key: _text(text) for key, text in _cards(_section(html, "copilot-cards")).items()}
    assert cards["acceptance_rate"] == "Acceptance rate — previous: —"  # nothing shown: no rate, not 0%
    assert cards["active_users"] == "Copilot users 0 of 3 adoption 0.00% no data to compare previous: 0 of 3"
    assert 'id="copilot-empty"' in html


def test_the_breakdown_has_each_members_copilot_figures(alice_client, copilot):
    html = alice_client.get(_url("metrics:dashboard", "platform", RANGE)).content.decode()
    rows = re.findall(r'<tr>\s*<th scope="row" class="member">(.*?)</tr>', _section(html, "team-breakdown"), re.S)
    texts = [_text(row) for row in rows]
    assert texts[0].endswith("30.00% 100 2")  # Ada: rate, lines, days with suggestions shown
    assert texts[1].endswith("— 0 0")  # Bob: nothing shown, so no rate
    assert f'href="{reverse("metrics:member", args=["platform", copilot.id])}"' in html


def test_copilot_charts_json_and_tables(alice_client, copilot):
    users = alice_client.get(_url("metrics:chart_copilot_users", "platform", RANGE)).json()
    assert users["labels"] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert users["series"] == [{"name": "Copilot users", "values": [1, None, 1]}]  # no usage stored that week
    assert users["lines_accepted"] == [60, 0, 40]
    rates = alice_client.get(_url("metrics:chart_copilot_acceptance", "platform", RANGE)).json()
    assert rates["series"] == [{"name": "Acceptance rate", "values": [25.0, None, 50.0]}]
    assert rates["unit"] == "%"
    table = alice_client.get(_url("metrics:table_copilot_acceptance", "platform", RANGE)).content.decode()
    assert "Acceptance rate (%)" in table and "Shown" in table


def test_ai_impact_table_by_survey_answer(alice_client, world):
    _, platform, _ = world
    # a second AI-assisted PR: Ada's 10-hour PR (answered yes, 5 lines) and this 50-hour one (35 lines)
    PRSurveyFactory(
        pull_request=_merged(platform, platform.members.get(github_username="bob"), dt.date(2026, 3, 5), cycle="50",
                             lines=35),
        author_ai_assisted=True,
    )
    html = alice_client.get(_url("metrics:dashboard", "platform", RANGE)).content.decode()
    impact = _section(html, "ai-impact")
    assert _text(re.search(r"<thead>(.*?)</thead>", impact, re.S).group(1)).startswith(
        "Figure AI-assisted · 2 PRs Not AI-assisted · 1 PR Unanswered · 1 PR"
    )
    rows = {key: _text(body) for key, body in re.findall(r'<tr data-figure="(\w+)">(.*?)</tr>', impact, re.S)}
    # AI-assisted: 10 and 50 hours (median 30, p75 40); not: 30 hours; unanswered: Bob's 20 hours
    assert rows["cycle_time"] == "Cycle time (h) 30.00 40.00 2 30.00 30.00 1 20.00 20.00 1"
    assert rows["pr_size"] == "PR size (lines) 20.00 27.50 2 1200.00 1200.00 1 40.00 40.00 1"


def test_every_figure_has_a_definition(alice_client):
    html = alice_client.get(_url("metrics:dashboard", "platform", RANGE)).content.decode()
    terms = re.findall(r"<dt>(.*?)</dt>", _section(html, "definitions"))
    labels = re.findall(r'<h3 class="kpi-label" title="[^"]+">(.*?)</h3>', html)
    assert len(labels) == 9 and set(labels) <= set(terms)
    assert {"AI impact", "Team breakdown", "— against 0"} <= set(terms)
    assert "2.33 / 3 is that average" in html  # what a review quality figure means


def test_warm_the_page_reads_no_figure_and_a_data_change_recomputes_them(
    alice_client, world, copilot, django_capture_on_commit_callbacks
):
    _, platform, _ = world
    url = _url("metrics:dashboard", "platform", RANGE)
    alice_client.get(url)
    with capture_queries() as warm:
        again = alice_client.get(url).content.decode()
    assert warm.count == 3, warm.statements()  # session, user, team
    assert "Cycle time" in again and 'id="ai-impact"' in again
    _merged(platform, copilot, dt.date(2026, 3, 6), cycle="1")
    with django_capture_on_commit_callbacks(execute=True):
        bump_team_data_version(platform.id)  # what every write path calls, run on commit
    with capture_queries() as after:
        html = alice_client.get(url).content.decode()
    assert after.count == 9, after.statements()
    assert "PRs merged 4" in _text(_section(html, "key-metrics"))
    assert re.search(r"Ada Lovelace @ada 3 ", _text(_section(html, "team-breakdown")))
