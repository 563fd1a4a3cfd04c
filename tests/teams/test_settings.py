"""Team settings: admins only (everyone else the 404 of a team they may not see), the token never shown,
removing it, the people with access, and a statement count that does not grow with the team."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from apps.integrations.factories import GitHubIntegrationFactory, SyncStatusFactory, TrackedRepositoryFactory
from apps.integrations.models import GitHubIntegration
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import InviteFactory, MembershipFactory, TeamFactory, UserFactory
from apps.teams.models import Membership
from apps.teams.services import get_team_for_admin

pytestmark = pytest.mark.django_db

TOKEN = "ghp_SecretToken0123456789abcdefABCDEF0123"


@pytest.fixture
def world():
    """Ada administers Platform (connected to acme); Bob is a member of it; Eve administers Secret."""
    platform = TeamFactory(name="Platform", slug="platform")
    secret = TeamFactory(name="Secret", slug="secret")
    ada = MembershipFactory(user=UserFactory(username="ada"), team=platform, role=Membership.Role.ADMIN).user
    bob = MembershipFactory(user=UserFactory(username="bob"), team=platform).user
    eve = MembershipFactory(user=UserFactory(username="eve"), team=secret, role=Membership.Role.ADMIN).user
    GitHubIntegrationFactory(team=platform, organization_slug="acme", access_token=TOKEN)
    GitHubIntegrationFactory(team=secret, organization_slug="secret-org", access_token="ghp_other")
    return {"platform": platform, "secret": secret, "ada": ada, "bob": bob, "eve": eve}


def _at(hour: int) -> dt.datetime:
    return dt.datetime(2026, 3, 2, hour, tzinfo=dt.UTC)


def _url(name="teams:settings", slug="platform"):
    return reverse(name, args=[slug])


def _logged_in(user, **client_options) -> Client:
    client = Client(**client_options)
    client.force_login(user)
    return client


# --- who may see it --------------------------------------------------------------------------


def test_an_admin_sees_the_settings(world):
    response = _logged_in(world["ada"]).get(_url())
    assert response.status_code == 200
    body = response.content.decode()
    assert "Platform" in body and "acme" in body
    assert 'id="token-state">set<' in body


@pytest.mark.parametrize("who", ["bob", "eve"])  # a member who is not admin; another team's admin
@pytest.mark.parametrize("name", ["teams:settings", "teams:github_access", "teams:remove_token", "teams:create_invite"])
def test_anyone_but_an_admin_of_this_team_gets_404(world, who, name):
    client = _logged_in(world[who])
    # the page answers GET, the others POST; the wrong method is a 405 on any slug (it reveals nothing)
    method = client.get if name == "teams:settings" else client.post
    response = method(_url(name), {"token": "ghp_x", "email": ""})
    assert response.status_code == 404
    assert GitHubIntegration.objects.get(team=world["platform"]).access_token == TOKEN
    assert not world["platform"].invites.exists()


def test_an_unknown_team_is_the_same_404(world):
    assert _logged_in(world["ada"]).get(_url(slug="no-such-team")).status_code == 404


def test_anonymous_is_sent_to_login(world):
    response = Client().get(_url())
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_get_team_for_admin_is_the_rule(world):
    from django.http import Http404

    assert get_team_for_admin(world["ada"], "platform") == world["platform"]
    for user, slug in [(world["bob"], "platform"), (world["eve"], "platform"), (world["ada"], "secret")]:
        with pytest.raises(Http404):
            get_team_for_admin(user, slug)


def test_the_home_page_links_settings_for_admins_only(world):
    settings_link = f'href="{_url()}"'
    assert settings_link in _logged_in(world["ada"]).get("/").content.decode()
    assert settings_link not in _logged_in(world["bob"]).get("/").content.decode()


# --- what it shows ---------------------------------------------------------------------------


def test_the_token_is_never_shown(world):
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    assert TOKEN not in body and TOKEN[4:12] not in body


def test_members_are_listed_with_their_roles_and_no_one_else(world):
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    members = body[body.index('id="members"') : body.index('id="invites"')]
    assert "ada" in members and "bob" in members and "eve" not in members
    assert members.index("ada") < members.index("Admin") < members.index("bob")  # admins first
    assert members.count("Member</td>") == 1


def test_a_team_without_a_token_says_so(world):
    GitHubIntegration.objects.filter(team=world["platform"]).update(access_token="")
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    assert 'id="token-state">not set' in body
    assert _url("teams:remove_token") not in body  # nothing to remove


def test_a_team_without_github_offers_to_connect(world):
    GitHubIntegration.objects.filter(team=world["platform"]).delete()
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    assert "not connected to GitHub" in body and 'name="organization"' in body


def test_without_a_sync_the_repositories_and_sync_sections_say_so(world):
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    assert "No repositories yet" in body and "Nothing has been synced from GitHub yet" in body


def test_tracked_repositories_and_sync_statuses_are_shown_read_only(world):
    platform, secret = world["platform"], world["secret"]
    TrackedRepositoryFactory(team=platform, name_with_owner="acme/api", status="ok", last_synced_at=_at(9))
    TrackedRepositoryFactory(
        team=platform, name_with_owner="acme/web", status="forbidden", status_detail="the token may not read it"
    )
    TrackedRepositoryFactory(team=platform, name_with_owner="acme/old", is_tracked=False)
    TrackedRepositoryFactory(team=secret, name_with_owner="secret-org/hidden")
    SyncStatusFactory(team=platform, kind="pull_requests", state="failed", detail="GitHub answered 502")
    SyncStatusFactory(team=platform, kind="members", state="done", counts={"created": 3, "updated": 1})
    SyncStatusFactory(team=secret, kind="copilot", state="rate_limited")
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    repositories = body[body.index('id="repositories"') : body.index('id="sync"')]
    assert "2 of the organisation's 3 known repositories tracked" in repositories
    assert "acme/api" in repositories and "2026-03-02 09:00" in repositories
    assert "Not readable" in repositories and "the token may not read it" in repositories
    assert "acme/old" not in repositories  # known, not tracked: counted only
    sync = body[body.index('id="sync"') :]
    assert sync.index("Members") < sync.index("Pull requests")  # in the order of SyncStatus.Kind
    assert "created 3, updated 1" in sync and "GitHub answered 502" in sync and "Failed" in sync
    assert "secret-org" not in body and "Waiting for GitHub" not in body  # nothing of another team
    assert "<form" not in repositories + sync  # read-only


def test_the_statement_count_does_not_grow_with_the_members():
    def prepare(size):
        team = TeamFactory()
        admin = MembershipFactory(team=team, role=Membership.Role.ADMIN).user
        MembershipFactory.create_batch(size, team=team)
        GitHubIntegrationFactory(team=team)
        InviteFactory.create_batch(size // 5, team=team, created_by=admin)
        TrackedRepositoryFactory.create_batch(size, team=team)
        for kind in ("members", "repositories", "pull_requests", "copilot")[: 1 + size // 20]:
            SyncStatusFactory(team=team, kind=kind)
        client = _logged_in(admin)
        url = _url(slug=team.slug)

        def request():
            response = client.get(url)
            assert response.status_code == 200
            assert response.content.decode().count("<td>Member</td>") == size

        return request

    captures = assert_constant_queries(prepare, sizes=(5, 50))
    # session, user, team (admin check), integration, memberships, open invites, repository counts,
    # tracked repositories, sync statuses
    assert captures[0].count <= 9, captures[0].statements()


# --- removing the token ----------------------------------------------------------------------


def test_removing_the_token_keeps_the_organisation(world):
    response = _logged_in(world["ada"]).post(_url("teams:remove_token"))
    assert response.status_code == 302 and response["Location"] == _url() + "#github"
    integration = GitHubIntegration.objects.get(team=world["platform"])
    assert integration.access_token == "" and integration.organization_slug == "acme"
    assert GitHubIntegration.objects.get(team=world["secret"]).access_token == "ghp_other"
    page = _logged_in(world["ada"]).get(_url()).content.decode()
    assert 'id="token-state">not set' in page


def test_removing_needs_a_post(world):
    assert _logged_in(world["ada"]).get(_url("teams:remove_token")).status_code == 405
    assert GitHubIntegration.objects.get(team=world["platform"]).access_token == TOKEN


@pytest.mark.parametrize("name", ["teams:remove_token", "teams:github_access", "teams:create_invite"])
def test_posts_are_csrf_protected(world, name):
    client = _logged_in(world["ada"], enforce_csrf_checks=True)
    response = client.post(_url(name), {"token": "ghp_new", "email": ""})
    assert response.status_code == 403
    assert GitHubIntegration.objects.get(team=world["platform"]).access_token == TOKEN
    assert not world["platform"].invites.exists()
    # with the page's token the same POST goes through
    client.get(_url())
    if name == "teams:remove_token":
        accepted = client.post(_url(name), {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
        assert accepted.status_code == 302


# --- replacing the token: shapes refused before GitHub is asked --------------------------------


@pytest.mark.parametrize("token", ["", "   ", "ghp_with space", "ghp_é", "x" * 256, "ghp_x\r\nX-Injected: 1"])
def test_a_malformed_token_is_a_400_and_nothing_changes(world, token):
    response = _logged_in(world["ada"]).post(_url("teams:github_access"), {"token": token})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert GitHubIntegration.objects.get(team=world["platform"]).access_token == TOKEN


def test_connecting_needs_a_valid_organisation_login(world):
    GitHubIntegration.objects.filter(team=world["platform"]).delete()
    for organization in ["", "-acme", "acme-", "ac--me", "a/../b", "x" * 40, "acme?x=1"]:
        response = _logged_in(world["ada"]).post(
            _url("teams:github_access"), {"organization": organization, "token": "ghp_abc"}
        )
        assert response.status_code == 400, organization
        body = response.content.decode()
        assert 'role="alert"' in body and "ghp_abc" not in body  # the token field is emptied
    assert not GitHubIntegration.objects.filter(team=world["platform"]).exists()
