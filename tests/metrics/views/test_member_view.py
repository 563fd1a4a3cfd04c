"""The member page: access (404s), ``?weeks=`` (400s), the figures it shows, constant statements, breakdown links."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.metrics.factories import (
    AIUsageDailyFactory,
    PRReviewFactory,
    PullRequestFactory,
    TeamMemberFactory,
    WeeklyMetricsFactory,
)
from apps.metrics.services.aggregation_service import last_complete_week
from apps.metrics.templatetags.member_page import sparkline
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from tests.support import member_and_two_teams

pytestmark = pytest.mark.django_db

LAST = last_complete_week()  # the page's weeks end with the last complete week, today's (UTC)


@pytest.fixture
def world():
    alice, platform, secret = member_and_two_teams()
    ada = TeamMemberFactory(team=platform, display_name="Ada Lovelace", github_username="ada")
    bob = TeamMemberFactory(team=platform, display_name="Bob", github_username="bob")
    WeeklyMetricsFactory(
        team=platform, member=ada, week_start=LAST, prs_merged=7, avg_cycle_time_hours=Decimal("12.25"),
        avg_review_time_hours=None, commits_count=31, lines_added=812, avg_quality_rating=Decimal("2.33"),
        guess_accuracy=Decimal("66.67"),
    )
    WeeklyMetricsFactory(team=platform, member=ada, week_start=LAST - dt.timedelta(weeks=2), prs_merged=2)
    AIUsageDailyFactory(team=platform, member=ada, date=LAST + dt.timedelta(days=1), suggestions_shown=400,
                        suggestions_accepted=100)
    created = dt.datetime.combine(LAST, dt.time(9), tzinfo=dt.UTC)
    PullRequestFactory(team=platform, author=ada, title="Teach the engine to <count>", github_repo="acme/engine",
                       github_pr_id=42, pr_created_at=created, merged_at=created + dt.timedelta(hours=3))
    bobs = PullRequestFactory(team=platform, author=bob, title="Bob's fix", github_repo="acme/web", github_pr_id=7,
                              pr_created_at=created, merged_at=created + dt.timedelta(hours=3))
    PRReviewFactory(team=platform, pull_request=bobs, reviewer=ada, state="changes_requested")
    spy = TeamMemberFactory(team=secret, display_name="Spy")
    return alice, platform, secret, ada, spy


@pytest.fixture
def alice_client(client, world):
    client.force_login(world[0])
    return client


def _url(slug, member_id):
    return reverse("metrics:member", args=[slug, member_id])


def test_the_page_shows_the_members_figures(alice_client, world):
    _, platform, _, ada, _ = world
    response = alice_client.get(_url(platform.slug, ada.id))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 id="member-name">Ada Lovelace' in html and "@ada" in html and ">AL</span>" in html
    weeks = html.split('id="member-weeks"')[1].split("</table>")[0]
    newest = weeks.split("<tbody>")[1].split("</tr>")[0]
    assert LAST.isoformat() in newest
    cells = [cell.split("</td>")[0] for cell in newest.split('<td class="num">')[1:]]
    assert cells[:5] == ["7", "12.25 h", "—", "31", "812"]
    assert cells[-2:] == ["2.33 / 3", "66.67%"]
    # the week between the two rows has none: a row of dashes
    middle = weeks.split("<tbody>")[1].split("</tr>")[1]
    assert (LAST - dt.timedelta(weeks=1)).isoformat() in middle and middle.count("—") == 12
    assert html.count('<svg class="spark"') == 13  # one per figure and Copilot acceptance
    charts = html.split('id="member-charts"')[1]
    review_card = charts.split("Avg review time</p>")[1].split("</p>")[0]
    assert review_card.endswith(">—")  # the newest week's figure, not an older week's
    assert "9 in all" in charts.split("PRs merged</p>")[1].split("</div>")[0]
    assert "<script" not in html.split("</header>")[1]  # no JavaScript charts
    prs = html.split('id="member-prs"')[1].split("</table>")[0]
    assert "Teach the engine to &lt;count&gt;" in prs and 'href="https://github.com/acme/engine/pull/42"' in prs
    assert "Bob&#x27;s fix" not in prs
    reviews = html.split('id="member-reviews"')[1].split("</table>")[0]
    assert "Bob&#x27;s fix" in reviews and "Changes requested" in reviews and ">Bob<" in reviews
    copilot = html.split('id="member-copilot"')[1].split("</table>")[0]
    assert "25.00%" in copilot and ">400<" in copilot and ">100<" in copilot
    assert f"author={ada.id}" in html  # the PR list, filtered to them


@pytest.mark.parametrize("who", ["spy", "unknown", "huge"])
def test_another_teams_or_an_unknown_member_is_404(alice_client, world, who):
    _, platform, _, ada, spy = world
    member_id = {"spy": spy.id, "unknown": ada.id + 10_000, "huge": 10**30}[who]
    assert alice_client.get(_url(platform.slug, member_id)).status_code == 404


def test_a_user_outside_the_team_is_404(client, world):
    _, platform, secret, ada, spy = world
    client.force_login(UserFactory())
    assert client.get(_url(platform.slug, ada.id)).status_code == 404
    client.force_login(world[0])
    assert client.get(_url(secret.slug, spy.id)).status_code == 404  # alice is not in Secret


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(_url(world[1].slug, world[3].id))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("weeks", ["0", "105", "abc", "-1", "1.5", "９", "99999999999999999999999"])
def test_bad_weeks_are_400_with_the_reason(alice_client, world, weeks):
    response = alice_client.get(_url(world[1].slug, world[3].id), {"weeks": weeks})
    assert response.status_code == 400 and b"weeks" in response.content
    assert b'<p class="form-error" role="alert">Bad request: weeks' in response.content  # the site's layout


def test_weeks_bounds_the_table(alice_client, world):
    html = alice_client.get(_url(world[1].slug, world[3].id), {"weeks": "1"}).content.decode()
    weeks = html.split('id="member-weeks"')[1].split("</table>")[0]
    assert weeks.count("<tr>") == 2  # the header and the one week


def test_statements_are_constant_in_weeks_and_prs(client):
    user = UserFactory()
    client.force_login(user)

    def prepare(size):
        weeks, prs = {1: (10, 5), 2: (80, 60)}[size]
        team = TeamFactory()
        MembershipFactory(user=user, team=team)
        ada = TeamMemberFactory(team=team)
        other = TeamMemberFactory(team=team)
        created = dt.datetime.combine(LAST, dt.time(9), tzinfo=dt.UTC)
        for n in range(weeks):
            WeeklyMetricsFactory(team=team, member=ada, week_start=LAST - dt.timedelta(weeks=n))
            AIUsageDailyFactory(team=team, member=ada, date=LAST - dt.timedelta(weeks=n))
        for n in range(prs):
            PullRequestFactory(team=team, author=ada, pr_created_at=created - dt.timedelta(days=n), merged_at=None,
                               state="open")
            theirs = PullRequestFactory(team=team, author=other, pr_created_at=created - dt.timedelta(days=n),
                                        merged_at=None, state="open")
            PRReviewFactory(team=team, pull_request=theirs, reviewer=ada)
        url = _url(team.slug, ada.id)

        def request():
            response = client.get(url)
            assert response.status_code == 200
            assert response.content.decode().count("<tr>") > weeks

        return request

    captures = assert_constant_queries(prepare, sizes=(1, 2))
    # session, user, team; then the page's own 4: member + weeks, PRs, reviews, Copilot weeks
    assert captures[0].without_savepoints().count == 7, captures[0].statements()
    assert captures[1].count == captures[0].count


def test_the_breakdown_links_each_name_to_the_member_page(alice_client, world):
    _, platform, _, ada, spy = world
    html = alice_client.get(reverse("metrics:dashboard", args=[platform.slug])).content.decode()
    assert f'<a class="name" href="/t/{platform.slug}/m/{ada.id}/">Ada Lovelace</a>' in html
    assert f"/m/{spy.id}/" not in html
    assert alice_client.get(f"/t/{platform.slug}/m/{ada.id}/").status_code == 200


def test_sparkline_draws_gaps_and_escapes_nothing_it_did_not_make():
    svg = sparkline([1, 2, None, 4, None, None, Decimal("3.5"), 3])
    assert svg.startswith('<svg class="spark"') and svg.count("<polyline") == 2 and svg.count("<circle") == 1
    assert sparkline([None, None]) == "" and sparkline([]) == ""
    assert sparkline([5, 5, 5]).count("<polyline") == 1  # a flat line, no division by zero
