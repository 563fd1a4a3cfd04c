"""Login is required everywhere but the login page; a Membership decides which teams a user sees."""

import pytest
from django.urls import reverse

from apps.metrics.factories import TeamMemberFactory
from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from apps.teams.services import get_team_for_user, teams_for_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_and_teams():
    alice = UserFactory(username="alice")
    mine = TeamFactory(name="Platform", slug="platform")
    also_mine = TeamFactory(name="Apps", slug="apps")
    theirs = TeamFactory(name="Secret", slug="secret")
    MembershipFactory(user=alice, team=mine)
    MembershipFactory(user=alice, team=also_mine)
    MembershipFactory(team=theirs)
    TeamMemberFactory.create_batch(3, team=mine)
    return alice, mine, also_mine, theirs


@pytest.mark.parametrize("url", ["/", "/t/platform/", "/t/does-not-exist/"])
def test_anonymous_is_sent_to_login(client, alice_and_teams, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_is_public(client):
    assert client.get(reverse("login")).status_code == 200


def test_login_with_the_password_works(client, alice_and_teams):
    response = client.post(reverse("login"), {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_home_lists_only_my_teams(client, alice_and_teams):
    alice, *_ = alice_and_teams
    client.force_login(alice)
    body = client.get("/").content.decode()
    assert "Platform" in body and "Apps" in body
    assert "Secret" not in body


def test_my_team_page_answers(client, alice_and_teams):
    alice, mine, *_ = alice_and_teams
    client.force_login(alice)
    response = client.get(f"/t/{mine.slug}/")
    assert response.status_code == 200
    assert "Platform" in response.content.decode()


@pytest.mark.parametrize("slug", ["secret", "does-not-exist"])
def test_other_or_unknown_team_is_404_alike(client, alice_and_teams, slug):
    alice, *_ = alice_and_teams
    client.force_login(alice)
    assert client.get(f"/t/{slug}/").status_code == 404


def test_services_scope_by_membership(alice_and_teams):
    alice, mine, also_mine, theirs = alice_and_teams
    assert list(teams_for_user(alice)) == [also_mine, mine]  # ordered by name
    assert get_team_for_user(alice, "platform") == mine
    from django.http import Http404

    with pytest.raises(Http404):
        get_team_for_user(alice, theirs.slug)
