"""Team settings: connecting with a GitHub App instead of a token, checked live against the stand-in before
anything is stored; the page says which credential is in use; removing either; errors shown, never a 500."""

import pytest
from django.test import Client
from django.urls import reverse

from apps.integrations.factories import GitHubIntegrationFactory
from apps.integrations.models import GitHubIntegration
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import MembershipFactory, TeamFactory
from apps.teams.models import Membership
from tests.integrations import test_github_app as app_tests
from tests.teams import test_settings as settings_tests

pytestmark = pytest.mark.django_db

APP_ID = 314159


TOKEN = settings_tests.TOKEN
world = settings_tests.world  # Ada administers Platform (acme, TOKEN); Bob is its member; Eve administers Secret
app_key = app_tests.app_key  # RSA keys, made once per run
other_key = app_tests.other_key


@pytest.fixture
def acme(start_github, app_key):
    """The stand-in serving "acme" for Platform's token, with app APP_ID installed."""
    return app_tests.stand_in_with_app(start_github, TOKEN, APP_ID, app_key, members=4, repositories=2,
                                       prs_per_repository=2)  # fmt: skip


@pytest.fixture
def queued(monkeypatch):
    from apps.integrations.tasks import sync_team_github_task

    sent = []
    monkeypatch.setattr(sync_team_github_task, "apply_async", lambda args, kwargs: sent.append(args))
    return sent


def _url(name="teams:settings", slug="platform"):
    return reverse(name, args=[slug])


def _logged_in(user, **options) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def _stored(team) -> tuple:
    return GitHubIntegration.objects.filter(team=team).values_list(
        "access_token", "app_id", "app_installation_id", "app_private_key", "app_token", "app_token_expires_at",
        "organization_slug",
    ).first()


def _github_section(body: str) -> str:
    return body[body.index('id="github"') : body.index('id="members"')]


# --- connecting -----------------------------------------------------------------------------------


def test_the_page_offers_the_app_to_admins(world):
    body = _logged_in(world["ada"]).get(_url()).content.decode()
    github = _github_section(body)
    assert "Connect with a GitHub App instead" in github and _url("teams:github_app") in github
    assert 'name="app_id"' in github and '<textarea name="private_key"' in github
    assert 'id="credential">an access token<' in github


def test_an_admin_connects_the_app_checked_live_then_stored_and_the_page_says_so(
    world, acme, app_key, queued, django_capture_on_commit_callbacks
):
    acme.reset_log()
    client = _logged_in(world["ada"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("teams:github_app"), {"app_id": str(APP_ID), "private_key": app_key})
    assert response.status_code == 302 and response["Location"] == _url() + "#github"
    integration = GitHubIntegration.objects.get(team=world["platform"])
    assert integration.app_id == APP_ID and integration.app_installation_id == acme.installation_id
    assert integration.app_private_key.strip() == app_key.strip()
    assert integration.access_token == ""  # one credential at a time
    issued = acme.issued_installation_tokens
    assert len(issued) == 1 and integration.app_token == issued[0].token  # the first sync needs no exchange
    assert integration.app_token_expires_at == issued[0].expires_at
    # checked live: the installation, one exchange, then the access check with the installation token (no /user)
    counts = acme.request_counts()
    assert counts["/orgs/acme/installation"] == 1 and acme.count_exchanges() == 1
    assert "/user" not in counts and counts["Members"] == 1
    assert queued == [(world["platform"].id,)]
    page = client.get(_url()).content.decode()
    github = _github_section(page)
    assert f'id="credential">a GitHub App: app {APP_ID}, installation {acme.installation_id}' in github
    assert 'id="token-state">not used' in github and "Remove the app" in github
    assert "GitHub accepted the app" in page
    assert app_key.splitlines()[1] not in page and issued[0].token not in page
    # another team is untouched
    assert GitHubIntegration.objects.get(team=world["secret"]).access_token == "ghp_other"


def test_a_team_not_connected_yet_connects_with_an_app_and_its_organisation(world, acme, app_key, queued):
    GitHubIntegration.objects.filter(team=world["platform"]).delete()
    client = _logged_in(world["ada"])
    page = _github_section(client.get(_url()).content.decode())
    assert "Or connect with a GitHub App" in page and 'id="id_app_organization"' in page
    response = client.post(
        _url("teams:github_app"), {"organization": "ACME", "app_id": APP_ID, "private_key": app_key}
    )
    assert response.status_code == 302
    integration = GitHubIntegration.objects.get(team=world["platform"])
    assert integration.organization_slug == "acme"  # as GitHub spells it
    assert integration.app_installation_id == acme.installation_id


# --- errors: shown beside the field, nothing stored, the key never sent back ------------------------------


@pytest.mark.parametrize(
    "data, field_text, requests",
    [
        ({"app_id": "", "private_key": "x"}, "This field is required", 0),
        ({"app_id": "0", "private_key": "-----BEGIN RSA PRIVATE KEY-----x-----END RSA PRIVATE KEY-----"},
         "greater than or equal to 1", 0),
        ({"app_id": "12abc", "private_key": "k"}, "Enter a whole number", 0),
        ({"app_id": str(2**40), "private_key": "k"}, "less than or equal to", 0),
        ({"app_id": str(APP_ID), "private_key": "ssh-rsa AAAAB3NzaC1yc2E"}, "Paste the whole .pem file", 0),
        ({"app_id": str(APP_ID),
          "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"},
         "could not be read", 0),
        ({"app_id": str(APP_ID), "private_key": "-----BEGIN RSA PRIVATE KEY-----\x1b-----END RSA PRIVATE KEY-----"},
         "control or formatting", 0),
        ({"app_id": str(APP_ID), "private_key": "-----BEGIN RSA PRIVATE KEY-----" + "A" * 10_001}, "at most", 0),
    ],
)
def test_a_malformed_app_id_or_key_is_a_400_before_github_is_asked(world, acme, data, field_text, requests):
    before = _stored(world["platform"])
    acme.reset_log()
    response = _logged_in(world["ada"]).post(_url("teams:github_app"), data)
    assert response.status_code == 400
    github = _github_section(response.content.decode())
    assert 'role="alert"' in github and field_text in github
    assert acme.request_count == requests
    assert _stored(world["platform"]) == before


@pytest.mark.parametrize(
    "case, status, text",
    [
        ("wrong app id", 400, "GitHub knows no app with id"),
        ("key of another app", 400, "the private key is not the key of app"),
        ("not installed", 400, "is not installed on acme"),
        ("installation may not read members", 400, "may not read members"),
        ("github down", 502, "could not be asked"),
        ("rate limited", 503, "rate limit"),
    ],
)
def test_github_refusing_the_app_is_shown_and_nothing_is_stored(world, acme, app_key, other_key, case, status, text):
    data = {"app_id": str(APP_ID), "private_key": app_key}
    if case == "wrong app id":
        data["app_id"] = str(APP_ID + 1)
    elif case == "key of another app":
        data["private_key"] = other_key
    elif case == "not installed":
        acme.uninstall("acme")
    elif case == "installation may not read members":
        acme.deny("members")
    elif case == "github down":
        acme.fail_next(502, path="/orgs/acme/installation")
    else:
        acme.fail_next(429, {"Retry-After": "30"}, path=f"/app/installations/{acme.installation_id}/access_tokens")
    before = _stored(world["platform"])
    response = _logged_in(world["ada"]).post(_url("teams:github_app"), data)
    assert response.status_code == status
    body = response.content.decode()
    form = body[body.index('id="github-app"') :]
    assert 'role="alert"' in form and text in form
    assert _stored(world["platform"]) == before
    assert app_key.splitlines()[1] not in body and other_key.splitlines()[1] not in body  # the key is never echoed
    assert str(APP_ID) in form or case == "wrong app id"  # the app id is kept for a retry


def test_an_unreachable_github_is_a_502_not_a_500(world, app_key, settings):
    settings.GITHUB_API_URL = "http://127.0.0.1:9"  # nothing listens there
    before = _stored(world["platform"])
    response = _logged_in(world["ada"]).post(_url("teams:github_app"), {"app_id": APP_ID, "private_key": app_key})
    assert response.status_code == 502 and _stored(world["platform"]) == before


# --- who may: admins of this team only -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["bob", "eve"])  # a member who is not admin; another team's admin
def test_anyone_but_an_admin_of_this_team_gets_404_and_nothing_is_asked_or_stored(world, acme, app_key, who):
    before = _stored(world["platform"])
    acme.reset_log()
    response = _logged_in(world[who]).post(_url("teams:github_app"), {"app_id": APP_ID, "private_key": app_key})
    assert response.status_code == 404
    assert acme.request_count == 0 and _stored(world["platform"]) == before


def test_the_app_form_is_a_csrf_protected_post(world, app_key):
    assert _logged_in(world["ada"]).get(_url("teams:github_app")).status_code == 405
    response = _logged_in(world["ada"], enforce_csrf_checks=True).post(
        _url("teams:github_app"), {"app_id": APP_ID, "private_key": app_key}
    )
    assert response.status_code == 403


# --- switching and removing -------------------------------------------------------------------------------


def _connect(client, app_key):
    response = client.post(_url("teams:github_app"), {"app_id": APP_ID, "private_key": app_key})
    assert response.status_code == 302


def test_removing_the_app_forgets_key_installation_and_token(world, acme, app_key):
    client = _logged_in(world["ada"])
    _connect(client, app_key)
    response = client.post(_url("teams:remove_token"))
    assert response.status_code == 302
    assert _stored(world["platform"]) == ("", None, None, "", "", None, "acme")
    page = _github_section(client.get(_url()).content.decode())
    assert 'id="credential">nothing' in page and 'id="token-state">not set' in page
    assert _url("teams:remove_token") not in page
    assert _logged_in(world["ada"]).post(_url("teams:sync_now")).status_code == 400  # nothing to sync with


def test_a_token_replaces_the_app_and_the_app_replaces_the_token(world, acme, app_key):
    client = _logged_in(world["ada"])
    _connect(client, app_key)
    assert _stored(world["platform"])[0] == ""
    response = client.post(_url("teams:github_access"), {"token": TOKEN})
    assert response.status_code == 302
    assert _stored(world["platform"])[:6] == (TOKEN, None, None, "", "", None)
    assert 'id="credential">an access token<' in _github_section(client.get(_url()).content.decode())


def test_sync_now_is_offered_and_queued_for_an_app(world, acme, app_key, queued, django_capture_on_commit_callbacks):
    client = _logged_in(world["ada"])
    _connect(client, app_key)
    body = client.get(_url()).content.decode()
    assert _url("teams:sync_now") in body[body.index('id="sync"') :]
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(_url("teams:sync_now")).status_code == 302
    assert queued == [(world["platform"].id,)]


def test_the_statement_count_is_the_same_with_an_app():
    def prepare(size):
        team = TeamFactory()
        admin = MembershipFactory(team=team, role=Membership.Role.ADMIN).user
        MembershipFactory.create_batch(size, team=team)
        GitHubIntegrationFactory(team=team, access_token="", app_id=APP_ID, app_installation_id=7,
                                 app_private_key="-----BEGIN RSA PRIVATE KEY-----")  # fmt: skip
        client = _logged_in(admin)

        def request():
            response = client.get(_url(slug=team.slug))
            assert response.status_code == 200
            assert f"app {APP_ID}, installation 7" in response.content.decode()

        return request

    captures = assert_constant_queries(prepare, sizes=(5, 50))
    assert captures[0].without_savepoints().count == 11, captures[0].statements()
