"""Team settings: admins only (everyone else the 404 of a team they may not see), the token never shown,
removing it, the people with access, and a statement count that does not grow with the team."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from apps.integrations.factories import GitHubIntegrationFactory, SyncStatusFactory, TrackedRepositoryFactory
from apps.integrations.models import GitHubIntegration
from apps.metrics.factories import TeamMemberFactory
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
@pytest.mark.parametrize(
    "name",
    ["teams:settings", "teams:github_access", "teams:remove_token", "teams:create_invite", "teams:rotate_webhook"],
)
def test_anyone_but_an_admin_of_this_team_gets_404(world, who, name):
    client = _logged_in(world[who])
    # the page answers GET, the others POST; the wrong method is a 405 on any slug (it reveals nothing)
    method = client.get if name == "teams:settings" else client.post
    secret = GitHubIntegration.objects.get(team=world["platform"]).webhook_secret
    response = method(_url(name), {"token": "ghp_x", "email": ""})
    assert response.status_code == 404
    assert GitHubIntegration.objects.get(team=world["platform"]).access_token == TOKEN
    assert GitHubIntegration.objects.get(team=world["platform"]).webhook_secret == secret
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


def test_the_webhook_url_and_secret_to_paste_into_github_are_shown(world):
    from apps.integrations.webhooks import webhook_id

    integration = world["platform"].github_integration
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    url = reverse("integrations:github_webhook", args=[webhook_id(integration.id)])
    assert f"<code>http://testserver{url}</code>" in body
    assert f"<code>{integration.webhook_secret}</code>" in body and len(integration.webhook_secret) >= 20
    # another team's secret never is
    assert world["secret"].github_integration.webhook_secret not in body


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


def test_an_admin_rotates_the_webhook_secret_and_the_page_shows_the_new_one(world):
    before = GitHubIntegration.objects.get(team=world["platform"]).webhook_secret
    other_team = GitHubIntegration.objects.get(team=world["secret"]).webhook_secret
    client = _logged_in(world["ada"])
    assert client.get(_url("teams:rotate_webhook")).status_code == 405
    response = client.post(_url("teams:rotate_webhook"))
    assert response.status_code == 302 and response["Location"] == _url() + "#webhook"
    integration = GitHubIntegration.objects.get(team=world["platform"])
    assert integration.webhook_secret != before and integration.previous_webhook_secret == before
    assert GitHubIntegration.objects.get(team=world["secret"]).webhook_secret == other_team
    page = client.get(_url()).content.decode()
    assert integration.webhook_secret in page and before not in page
    assert "The old one is accepted for 24 hours" in page


def test_rotating_without_github_is_a_400(world):
    GitHubIntegration.objects.filter(team=world["platform"]).delete()
    response = _logged_in(world["ada"]).post(_url("teams:rotate_webhook"))
    assert response.status_code == 400 and "Connect GitHub first" in response.content.decode()


def test_a_team_without_github_offers_to_connect(world):
    GitHubIntegration.objects.filter(team=world["platform"]).delete()
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    assert "not connected to GitHub" in body and 'name="organization"' in body


def test_without_a_sync_the_repositories_and_sync_sections_say_so(world):
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    assert "No repositories yet" in body and "Nothing has been synced from GitHub yet" in body


def test_repositories_and_sync_statuses_are_shown(world):
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
    old = repositories[repositories.index("acme/old") - 200 :]
    assert 'value="acme/old" aria-label="Track acme/old">' in old  # listed, unchecked
    assert 'value="acme/api" aria-label="Track acme/api" checked>' in repositories
    sync = body[body.index('id="sync"') :]
    assert sync.index("Members") < sync.index("Pull requests")  # in the order of SyncStatus.Kind
    assert "created 3, updated 1" in sync and "GitHub answered 502" in sync and "Failed" in sync
    assert "secret-org" not in body and "Waiting for GitHub" not in body  # nothing of another team
    assert "secret-org/hidden" not in repositories


def test_the_statement_count_does_not_grow_with_the_members():
    def prepare(size):
        team = TeamFactory()
        admin = MembershipFactory(team=team, role=Membership.Role.ADMIN).user
        MembershipFactory.create_batch(size, team=team)
        GitHubIntegrationFactory(team=team)
        InviteFactory.create_batch(size // 5, team=team, created_by=admin)
        TrackedRepositoryFactory.create_batch(size, team=team)
        TeamMemberFactory.create_batch(size, team=team)
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
    # tracked repositories, sync statuses, the repository table, the members from GitHub (the survey comments'
    # setting comes with the integration)
    assert captures[0].count == 11, captures[0].statements()


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


# --- repositories, members and "Sync now" ------------------------------------------------------


@pytest.fixture
def acme(start_github):
    """The stand-in serving "acme" for Platform's token; the API URL points at it."""
    return start_github(TOKEN, members=4, repositories=3, prs_per_repository=2)


def _repositories_section(body: str) -> str:
    return body[body.index('id="repositories"') : body.index('id="github-members"')]


def test_listing_from_github_stores_the_repositories_and_a_plain_view_asks_nothing(world, acme):
    from apps.integrations.models import TrackedRepository

    client = _logged_in(world["ada"])
    acme.reset_log()
    assert client.get(_url()).status_code == 200
    assert acme.request_count == 0  # the page never asks GitHub on its own
    response = client.get(_url(), {"list": "1"})
    assert response.status_code == 200
    assert acme.count_operation("Repositories") == 1
    names = sorted(f"acme/{repo.name}" for repo in acme.organization.repositories.values())
    assert sorted(TrackedRepository.objects.filter(team=world["platform"]).values_list("name_with_owner", flat=True)) \
        == names  # fmt: skip
    section = _repositories_section(response.content.decode())
    assert all(f'name="track" value="{name}"' in section for name in names)
    # a search asks GitHub's search for the name, and the table shows the matches
    short = names[0].split("/")[1]
    searched = client.get(_url(), {"list": "1", "q": short})
    assert acme.count_operation("SearchRepositories") == 1
    assert names[0] in _repositories_section(searched.content.decode())


def test_a_refused_token_in_the_live_listing_is_shown_not_a_500(world, acme):
    acme.token = "ghp_somethingelse"
    response = _logged_in(world["ada"]).get(_url(), {"list": "1"})
    assert response.status_code == 502
    section = _repositories_section(response.content.decode())
    assert 'role="alert"' in section and "the token was refused; enter a new one in settings" in section


def test_an_unreachable_github_in_the_live_listing_is_shown_not_a_500(world, settings):
    settings.GITHUB_API_URL = "http://127.0.0.1:9"  # nothing listens there
    response = _logged_in(world["ada"]).get(_url(), {"list": "1"})
    assert response.status_code == 502
    assert "GitHub did not list the repositories" in response.content.decode()


@pytest.mark.parametrize("q", ["x" * 101, "\u202e"])  # a NUL is refused before any view (RejectNulMiddleware)
def test_a_bad_search_is_a_400_with_a_reason(world, q):
    response = _logged_in(world["ada"]).get(_url(), {"q": q, "list": "1"})
    assert response.status_code == 400
    assert 'role="alert"' in _repositories_section(response.content.decode())


def test_tracking_changes_only_the_rows_listed(world):
    from apps.integrations.models import TrackedRepository

    platform = world["platform"]
    for name, tracked in [("acme/api", True), ("acme/web", False), ("acme/old", True)]:
        TrackedRepositoryFactory(team=platform, name_with_owner=name, is_tracked=tracked)
    TrackedRepositoryFactory(team=world["secret"], name_with_owner="secret-org/hidden", is_tracked=False)
    response = _logged_in(world["ada"]).post(
        _url("teams:track_repositories"), {"shown": ["acme/api", "acme/web"], "track": ["acme/web"]}
    )
    assert response.status_code == 302 and response["Location"] == _url() + "#repositories"
    tracked = TrackedRepository.objects.filter(is_tracked=True).values_list("name_with_owner", flat=True)
    assert sorted(tracked) == ["acme/old", "acme/web"]  # acme/old was not on the form: it stays


@pytest.mark.parametrize(
    "data",
    [
        {"shown": ["acme/nope"], "track": ["acme/nope"]},  # not a repository of the organisation
        {"shown": ["secret-org/hidden"], "track": ["secret-org/hidden"]},  # another team's
        {"shown": ["acme/api"], "track": ["acme/web"]},  # checked but not listed
        {"shown": ["../etc"], "track": []},
        {"track": ["acme/api"]},  # nothing listed
        {"shown": ["acme/api/x"], "track": []},
    ],
)
def test_unknown_or_malformed_repositories_are_a_400_and_nothing_changes(world, data):
    from apps.integrations.models import TrackedRepository

    TrackedRepositoryFactory(team=world["platform"], name_with_owner="acme/api", is_tracked=False)
    TrackedRepositoryFactory(team=world["platform"], name_with_owner="acme/web", is_tracked=True)
    TrackedRepositoryFactory(team=world["secret"], name_with_owner="secret-org/hidden", is_tracked=False)
    before = sorted(TrackedRepository.objects.values_list("name_with_owner", "is_tracked"))
    response = _logged_in(world["ada"]).post(_url("teams:track_repositories"), data)
    assert response.status_code == 400
    section = _repositories_section(response.content.decode())
    assert 'role="alert"' in section
    if data["track"] == ["acme/nope"]:
        assert "Not repositories of the organisation" in section and "acme/nope" in section
    assert sorted(TrackedRepository.objects.values_list("name_with_owner", "is_tracked")) == before


def test_members_are_listed_with_bots_marked_and_toggled(world, django_capture_on_commit_callbacks):
    from apps.metrics.models import TeamMember
    from apps.metrics.services.team_cache import team_data_version

    platform = world["platform"]
    grace = TeamMemberFactory(team=platform, github_username="grace", display_name="Grace Hopper")
    TeamMemberFactory(team=platform, github_username="dependabot[bot]", is_bot=True, is_active=False)
    TeamMemberFactory(team=world["secret"], github_username="mallory")
    client = _logged_in(world["ada"])
    body = client.get(_url()).content.decode()
    people = body[body.index('id="github-members"') : body.index('id="sync"')]
    assert "grace" in people and "Grace Hopper" in people and "mallory" not in people
    bot_row = people[people.index("dependabot[bot]") :].split("</tr>")[0]
    assert "bot" in bot_row and "inactive" in bot_row
    version = team_data_version(platform.id)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("teams:member_active"), {"member": grace.pk, "active": "0"})
    assert response.status_code == 302 and response["Location"] == _url() + "#github-members"
    assert not TeamMember.objects.get(pk=grace.pk).is_active
    assert team_data_version(platform.id) != version  # the figures count active members only
    client.post(_url("teams:member_active"), {"member": grace.pk, "active": "1"})
    assert TeamMember.objects.get(pk=grace.pk).is_active


def test_another_teams_member_is_a_404_and_bad_input_a_400(world):
    from apps.metrics.models import TeamMember

    mallory = TeamMemberFactory(team=world["secret"], github_username="mallory")
    client = _logged_in(world["ada"])
    assert client.post(_url("teams:member_active"), {"member": mallory.pk, "active": "0"}).status_code == 404
    assert client.post(_url("teams:member_active"), {"member": 2**62, "active": "0"}).status_code == 404
    for data in [{}, {"member": "x", "active": "0"}, {"member": mallory.pk, "active": "maybe"},
                 {"member": 2**64, "active": "0"}, {"member": "-1", "active": "1"}]:  # fmt: skip
        response = client.post(_url("teams:member_active"), data)
        assert response.status_code == 400, data
        assert 'role="alert"' in response.content.decode()
    assert TeamMember.objects.get(pk=mallory.pk).is_active
    # and Eve (Secret's admin) may not toggle Platform's members either: Platform is a 404 to her
    grace = TeamMemberFactory(team=world["platform"], github_username="grace")
    response = _logged_in(world["eve"]).post(_url("teams:member_active"), {"member": grace.pk, "active": "0"})
    assert response.status_code == 404 and TeamMember.objects.get(pk=grace.pk).is_active


def test_sync_now_queues_the_team_sync_once_committed(world, django_capture_on_commit_callbacks, monkeypatch):
    from apps.integrations.tasks import sync_team_github_task

    sent = []
    monkeypatch.setattr(sync_team_github_task, "apply_async", lambda args, kwargs: sent.append(args))
    client = _logged_in(world["ada"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("teams:sync_now"))
    assert response.status_code == 302 and response["Location"] == _url() + "#sync"
    assert sent == [(world["platform"].id,)]
    assert "Sync queued" in client.get(_url()).content.decode()


def test_sync_now_without_a_token_is_a_400_and_queues_nothing(world, django_capture_on_commit_callbacks, monkeypatch):
    from apps.integrations.tasks import sync_team_github_task

    sent = []
    monkeypatch.setattr(sync_team_github_task, "apply_async", lambda args, kwargs: sent.append(args))
    GitHubIntegration.objects.filter(team=world["platform"]).update(access_token="")
    with django_capture_on_commit_callbacks(execute=True):
        response = _logged_in(world["ada"]).post(_url("teams:sync_now"))
    assert response.status_code == 400 and "Set a GitHub token first" in response.content.decode()
    assert sent == []


@pytest.mark.parametrize("name", ["teams:track_repositories", "teams:member_active", "teams:sync_now"])
def test_the_new_actions_are_admin_only_posts(world, name):
    assert _logged_in(world["ada"]).get(_url(name)).status_code == 405
    assert _logged_in(world["bob"]).post(_url(name), {}).status_code == 404
    assert _logged_in(world["ada"], enforce_csrf_checks=True).post(_url(name), {}).status_code == 403


def test_setting_a_token_or_creating_a_team_queues_the_first_sync(
    world, acme, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.integrations.tasks import sync_team_github_task
    from apps.teams.models import Team

    sent = []
    monkeypatch.setattr(sync_team_github_task, "apply_async", lambda args, kwargs: sent.append(args))
    client = _logged_in(world["ada"])
    with django_capture_on_commit_callbacks(execute=True):
        replaced = client.post(_url("teams:github_access"), {"token": TOKEN})
    assert replaced.status_code == 302 and sent == [(world["platform"].id,)]
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(reverse("teams:create"), {"name": "Mobile", "organization": "acme", "token": TOKEN})
    assert created.status_code == 302
    assert sent[1:] == [(Team.objects.get(name="Mobile").id,)]
    with django_capture_on_commit_callbacks(execute=True):  # a refused token queues nothing
        assert client.post(_url("teams:github_access"), {"token": "ghp_wrong"}).status_code >= 400
    assert len(sent) == 2


# --- surveys: "Post survey links as a PR comment" -----------------------------------------------


def _survey_setting(team) -> tuple[bool, object]:
    integration = GitHubIntegration.objects.get(team=team)
    return integration.post_survey_comments, integration.survey_comments_enabled_at


def test_the_survey_comments_checkbox_is_off_by_default_and_an_admin_turns_it_on_and_off(world):
    ada = _logged_in(world["ada"])
    page = ada.get(_url()).content.decode()
    assert 'id="survey-comments"' in page and 'name="post_survey_comments" value="on">' in page  # unchecked
    assert _survey_setting(world["platform"]) == (False, None)

    response = ada.post(_url(), {"post_survey_comments": "on"})
    assert response.status_code == 302 and response["Location"] == _url() + "#surveys"
    enabled, since = _survey_setting(world["platform"])
    assert enabled and since is not None
    page = ada.get(_url()).content.decode()
    assert 'name="post_survey_comments" value="on" checked>' in page and "0 comments posted" in page
    assert _survey_setting(world["secret"]) == (False, None)  # another team's is its own

    assert ada.post(_url(), {}).status_code == 302  # an unchecked box sends nothing: off
    assert _survey_setting(world["platform"]) == (False, since)  # the start is kept until it is turned on again
    assert 'value="on">' in ada.get(_url()).content.decode()


@pytest.mark.parametrize("value", ["yes", "1", "true", "on\x00", "x" * 300])
def test_a_bad_survey_comments_value_is_a_400_and_nothing_changes(world, value):
    response = _logged_in(world["ada"]).post(_url(), {"post_survey_comments": value})
    assert response.status_code == 400  # a NUL is refused by RejectNulMiddleware before the view, the rest here
    assert ("\x00" in value) or 'role="alert">post_survey_comments: Select a valid choice' in response.content.decode()
    assert _survey_setting(world["platform"]) == (False, None)


def test_the_survey_comments_setting_is_for_admins_only_and_csrf_protected(world):
    assert _logged_in(world["bob"]).post(_url(), {"post_survey_comments": "on"}).status_code == 404
    assert _logged_in(world["eve"]).post(_url(), {"post_survey_comments": "on"}).status_code == 404
    assert Client().post(_url(), {"post_survey_comments": "on"}).status_code == 302  # to the login page
    guarded = _logged_in(world["ada"], enforce_csrf_checks=True)
    assert guarded.post(_url(), {"post_survey_comments": "on"}).status_code == 403
    assert _survey_setting(world["platform"]) == (False, None)
    guarded.get(_url())
    token = guarded.cookies["csrftoken"].value
    accepted = guarded.post(_url(), {"post_survey_comments": "on", "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302 and _survey_setting(world["platform"])[0]


def test_the_survey_comments_setting_needs_github(world):
    team = TeamFactory(slug="loose")
    MembershipFactory(user=world["ada"], team=team, role=Membership.Role.ADMIN)
    ada = _logged_in(world["ada"])
    assert "Connect GitHub to post the survey links" in ada.get(_url(slug="loose")).content.decode()
    response = ada.post(_url(slug="loose"), {"post_survey_comments": "on"})
    assert response.status_code == 400 and "Connect GitHub first" in response.content.decode()
