"""Creating a team: the home page offers it, the form derives a free slug, and the GitHub token is checked
live against the loopback stand-in before anything is stored (no Team, Membership or integration after a
refusal); on success one transaction stores all three and the creator lands on the team's settings."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from apps.integrations.models import GitHubIntegration
from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from apps.teams.models import Membership, Team
from apps.teams.onboarding import free_slug, slug_base

pytestmark = pytest.mark.django_db

TOKEN = "ghp_StandInToken0123456789abcdefABCDEF01"
CREATE = reverse("teams:create")


@pytest.fixture
def grace():
    return UserFactory(username="grace")


@pytest.fixture
def grace_client(grace):
    client = Client()
    client.force_login(grace)
    return client


@pytest.fixture
def github(start_github):
    """The loopback stand-in for GitHub: organisation acme, readable with TOKEN (as octocat)."""
    return start_github(TOKEN, members=3, repositories=1, prs_per_repository=1, reviews_per_pr=0, commits_per_pr=1)


def _rows():
    return Team.objects.count(), Membership.objects.count(), GitHubIntegration.objects.count()


def _create(client, name="Platform", organization="acme", token=TOKEN):
    return client.post(CREATE, {"name": name, "organization": organization, "token": token})


# --- the home page offers it -------------------------------------------------------------------


def test_without_a_team_the_home_page_offers_to_create_one(grace_client):
    body = grace_client.get("/").content.decode()
    assert f'class="button-primary" href="{CREATE}">Create a team' in body
    assert "invite link" in body


def test_with_teams_creating_one_is_a_secondary_link(grace_client, grace):
    MembershipFactory(user=grace, team=TeamFactory(name="Platform"))
    body = grace_client.get("/").content.decode()
    assert "Platform" in body
    assert f'<a href="{CREATE}">Create a team</a>' in body and 'class="button-primary"' not in body


# --- the form -----------------------------------------------------------------------------------


def test_the_form_asks_name_organisation_and_a_hidden_token(grace_client):
    response = grace_client.get(CREATE)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="name"' in body and 'name="organization"' in body
    assert 'type="password" name="token"' in body


def test_anonymous_is_sent_to_login():
    response = Client().get(CREATE)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Plat\u202eform"}, "name"),
        ({"organization": ""}, "organization"),
        ({"organization": "acme/../../user"}, "organization"),
        ({"organization": "-acme"}, "organization"),
        ({"organization": "a" * 40}, "organization"),
        ({"token": ""}, "token"),
        ({"token": "ghp_with spaces"}, "token"),
        ({"token": "ghp_x\nX-Injected: 1"}, "token"),
        ({"token": "t" * 256}, "token"),
    ],
)
def test_a_malformed_form_is_a_400_that_keeps_the_inputs_and_stores_nothing(grace_client, fields, field):
    data = {"name": "Platform", "organization": "acme", "token": "ghp_kept_out_of_the_page", **fields}
    response = grace_client.post(CREATE, data)
    assert response.status_code == 400
    body = response.content.decode()
    assert 'role="alert"' in body
    assert "ghp_kept_out_of_the_page" not in body  # the token is never sent back
    if field != "name":
        assert 'value="Platform"' in body
    if field != "organization":
        assert 'value="acme"' in body
    assert _rows() == (0, 0, 0)


def test_a_malformed_form_asks_nothing_of_github(grace_client, settings):
    settings.GITHUB_API_URL = "http://127.0.0.1:9"  # nothing listens there: a request would be a 502
    assert grace_client.post(CREATE, {"name": "Platform", "organization": "-", "token": TOKEN}).status_code == 400


def test_creating_is_csrf_protected(grace):
    client = Client(enforce_csrf_checks=True)
    client.force_login(grace)
    assert _create(client).status_code == 403
    assert _rows() == (0, 0, 0)


def test_only_get_and_post(grace_client):
    assert grace_client.put(CREATE).status_code == 405


# --- slugs ------------------------------------------------------------------------------------


def test_the_slug_is_derived_from_the_name():
    assert free_slug("Platform Team") == "platform-team"
    assert free_slug("Équipe Données") == "equipe-donnees"
    assert free_slug("日本のチーム") == "team"  # nothing ASCII left
    assert free_slug("!!!") == "team"
    assert len(free_slug("x" * 200)) <= 100


def test_a_taken_slug_gets_the_first_free_number():
    TeamFactory(slug="platform")
    assert free_slug("Platform") == "platform-2"
    TeamFactory(slug="platform-2")
    TeamFactory(slug="platform-4")
    TeamFactory(slug="platform-team")  # another name: does not count
    assert free_slug("Platform") == "platform-3"


def test_a_long_taken_slug_still_fits():
    base = slug_base("y" * 200)
    TeamFactory(slug=base)
    slug = free_slug("y" * 200)
    assert slug == f"{base}-2" and len(slug) <= Team._meta.get_field("slug").max_length


def test_a_failed_form_shows_the_slug_the_team_would_get(grace_client):
    TeamFactory(slug="platform")
    body = grace_client.post(CREATE, {"name": "Platform", "organization": "-", "token": TOKEN}).content.decode()
    assert '<span id="slug-value">platform-2</span>' in body


# --- the live check, against the stand-in ------------------------------------------------------


def test_a_good_token_creates_team_admin_and_integration_in_one_go(grace_client, grace, github):
    response = _create(grace_client, name="Platform Team")
    assert response.status_code == 302
    team = Team.objects.get()
    assert response["Location"] == reverse("teams:settings", args=[team.slug])
    assert (team.name, team.slug) == ("Platform Team", "platform-team")
    assert Membership.objects.get().user == grace and Membership.objects.get().role == Membership.Role.ADMIN
    integration = GitHubIntegration.objects.get(team=team)
    assert integration.organization_slug == "acme" and integration.access_token == TOKEN
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT access_token FROM integrations_githubintegration WHERE id = %s", [integration.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and TOKEN not in stored
    assert github.request_count > 0  # GitHub was really asked
    page = grace_client.get(response["Location"]).content.decode()
    assert "acme" in page and 'id="token-state">set<' in page and TOKEN not in page


@pytest.mark.parametrize(
    "spoil, changes, status, message",
    [
        (None, {"token": "ghp_wrongToken0000"}, 400, "the token was refused by GitHub (wrong, expired or revoked)"),
        (None, {"organization": "nope"}, 400, "There is no organisation nope on GitHub, or this token cannot see it"),
        (("members",), {}, 400, "members"),
        (("pull_requests",), {}, 400, "pull requests"),
        (("members", "pull_requests"), {}, 400, "members, read pull requests"),
        (("pull_requests", "copilot"), {}, 400, "read pull requests, read Copilot metrics"),
    ],
    ids=["401", "404", "403-members", "403-pull-requests", "403-both", "403-and-copilot-too"],
)
def test_a_refused_token_is_a_400_with_the_reason_and_stores_nothing(
    grace_client, github, spoil, changes, status, message
):
    if spoil:
        github.deny(*spoil)
    data = {"name": "Platform", "organization": "acme", "token": TOKEN, **changes}
    response = grace_client.post(CREATE, data)
    assert response.status_code == status
    body = response.content.decode()
    assert message.lower() in body.lower(), body
    assert f'value="{data["organization"]}"' in body and 'value="Platform"' in body  # the inputs are kept
    assert data["token"] not in body  # the token field is emptied
    assert _rows() == (0, 0, 0)
    assert github.request_count > 0


def test_a_token_refused_by_the_organisation_itself_says_what_to_do(grace_client, github):
    saml = b'{"message": "Resource protected by organization SAML enforcement."}'
    github.fail_next(403, {}, saml, path="/orgs/acme")  # names no permission: not one the token could be granted
    response = _create(grace_client)
    assert response.status_code == 400
    body = response.content.decode()
    assert "GitHub refused this token access to acme" in body and "single sign-on" in body
    assert _rows() == (0, 0, 0)


def test_a_token_that_cannot_read_copilot_is_accepted_and_says_so(grace_client, github):
    github.deny("copilot")
    response = _create(grace_client)
    assert response.status_code == 302
    assert GitHubIntegration.objects.get().access_token == TOKEN
    page = grace_client.get(response["Location"]).content.decode()
    assert "the token of octocat reads acme" in page.replace("&#x27;", "'")
    assert "not Copilot metrics" in page


@pytest.mark.parametrize(
    "status, headers, page_status, message",
    [(503, {}, 502, "could not be asked"), (429, {"Retry-After": "7"}, 503, "try again in 7 s")],
    ids=["unavailable", "rate-limited"],
)
def test_github_failing_stores_nothing_and_says_so(grace_client, github, status, headers, page_status, message):
    for _ in range(5):  # whatever the check asks first, and again if the client retries
        github.fail_next(status, headers)
    response = _create(grace_client)
    assert response.status_code == page_status
    assert message in response.content.decode()
    assert _rows() == (0, 0, 0)


def test_the_slug_of_a_taken_name_gets_a_number(grace_client, github):
    TeamFactory(name="Platform", slug="platform")
    response = _create(grace_client)
    assert response["Location"] == reverse("teams:settings", args=["platform-2"])


# --- the settings page's token, checked live too ------------------------------------------------


@pytest.fixture
def platform(grace):
    team = TeamFactory(name="Platform", slug="platform")
    MembershipFactory(user=grace, team=team, role=Membership.Role.ADMIN)
    return team


def test_replacing_the_token_checks_it_first(grace_client, github, platform):
    from apps.integrations.factories import GitHubIntegrationFactory

    GitHubIntegrationFactory(team=platform, organization_slug="acme", access_token="ghp_old")
    url = reverse("teams:github_access", args=["platform"])
    refused = grace_client.post(url, {"token": "ghp_wrongToken0000"})
    assert refused.status_code == 400 and "refused by GitHub" in refused.content.decode()
    assert GitHubIntegration.objects.get(team=platform).access_token == "ghp_old"
    accepted = grace_client.post(url, {"token": TOKEN})
    assert accepted.status_code == 302
    assert GitHubIntegration.objects.get(team=platform).access_token == TOKEN


def test_a_team_without_github_connects_from_its_settings(grace_client, github, platform):
    url = reverse("teams:github_access", args=["platform"])
    refused = grace_client.post(url, {"organization": "nope", "token": TOKEN})
    assert refused.status_code == 400 and "no organisation nope" in refused.content.decode()
    assert not GitHubIntegration.objects.exists()
    assert grace_client.post(url, {"organization": "acme", "token": TOKEN}).status_code == 302
    assert GitHubIntegration.objects.get(team=platform).organization_slug == "acme"
