"""A GitHub App installation as a team's credential, against the loopback stand-in: the JWT, the installation
lookup and token exchange, the refresh before expiry (and none before it is due), a team sync end to end, and
the errors (bad key, wrong app id, not installed, refused, expired or revoked tokens)."""

import datetime as dt

import httpx
import jwt
import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.integrations import github_app, team_sync
from apps.integrations.factories import GitHubIntegrationFactory
from apps.integrations.github import GitHubClient, InvalidToken
from apps.integrations.models import GitHubIntegration, SyncStatus, TrackedRepository
from apps.integrations.repository_sync import set_tracked
from apps.metrics.models import PullRequest, TeamMember
from apps.perflab.github_stub import new_app_private_key
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db

APP_ID = 271828
ORG_TOKEN = "ghp_orgtoken000000000000000000000000000"  # the stand-in's own token: the app never sends it
EXCHANGE = "/app/installations/{}/access_tokens"


@pytest.fixture(scope="session")
def app_key() -> str:
    return new_app_private_key()


@pytest.fixture(scope="session")
def other_key() -> str:
    return new_app_private_key()


def stand_in_with_app(start_github, token: str, app_id: int, key: str, **sizes):
    """The stand-in serving "acme" for ``token``, with app ``app_id`` registered and installed on it
    (``stub.installation_id``)."""
    stub = start_github(token, **sizes)
    stub.register_app(app_id, key)
    stub.installation_id = stub.install("acme")
    return stub


@pytest.fixture
def acme(start_github, app_key):
    return stand_in_with_app(start_github, ORG_TOKEN, APP_ID, app_key, members=4, repositories=2, prs_per_repository=3)


def app_team(stub, key, *, token="", expires_at=None):
    team = TeamFactory()
    GitHubIntegrationFactory(
        team=team, organization_slug="acme", access_token="", app_id=APP_ID, app_installation_id=stub.installation_id,
        app_private_key=key, app_token=token, app_token_expires_at=expires_at,
    )
    return team


def integration_of(team) -> GitHubIntegration:
    return GitHubIntegration.objects.get(team=team)


def row(team) -> tuple:
    """Everything the credential is made of, as stored."""
    return GitHubIntegration.objects.filter(team=team).values_list(
        "access_token", "app_id", "app_installation_id", "app_private_key", "app_token", "app_token_expires_at",
        "organization_slug",
    ).get()


def authorizations(stub) -> set[str]:
    """The bearer tokens of the logged requests other than the JWT endpoints."""
    return {
        r.headers.get("authorization", "").removeprefix("Bearer ")
        for r in stub.requests
        if "/installation" not in r.route
    }


def updates_of_the_integration(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries
            if q["sql"].startswith("UPDATE") and "integrations_githubintegration" in q["sql"]]  # fmt: skip


def track_all(team):
    team_sync.refresh_repositories(team)
    set_tracked(team=team, names=list(TrackedRepository.objects.filter(team=team)
                                      .values_list("name_with_owner", flat=True)))  # fmt: skip


# --- the JWT ---------------------------------------------------------------------------------


def test_the_jwt_is_rs256_issued_a_minute_back_for_at_most_ten_minutes_by_the_app(app_key):
    now = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    token = github_app.app_jwt(APP_ID, app_key, now=now)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    public = github_app.load_private_key(app_key).public_key()
    claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims["iss"] == str(APP_ID)
    assert claims["iat"] == int(now.timestamp()) - 60
    assert claims["exp"] - claims["iat"] <= 600 and claims["exp"] > int(now.timestamp())
    assert claims["exp"] <= int(now.timestamp()) + 600
    with pytest.raises(jwt.InvalidSignatureError):  # signed by this key, not another
        jwt.decode(token, github_app.load_private_key(new_app_private_key()).public_key(), algorithms=["RS256"],
                   options={"verify_exp": False})  # fmt: skip


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "not a key at all",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",  # cut short
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    ],
)
def test_a_malformed_private_key_is_a_named_error(pem):
    with pytest.raises(github_app.InvalidPrivateKey) as refused:
        github_app.load_private_key(pem)
    assert refused.value.field == "private_key" and refused.value.message


def test_a_key_of_another_kind_or_with_a_passphrase_is_refused():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(github_app.InvalidPrivateKey, match="RSA"):
        github_app.load_private_key(ec_pem)
    key = github_app.load_private_key(new_app_private_key())
    locked = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.BestAvailableEncryption(b"secret")).decode()  # fmt: skip
    with pytest.raises(github_app.InvalidPrivateKey, match="passphrase"):
        github_app.load_private_key(locked)


# --- the stand-in checks the JWT as GitHub does ---------------------------------------------------


def test_the_stand_in_refuses_a_jwt_that_is_expired_too_long_unsigned_by_the_app_or_of_an_unknown_app(
    acme, app_key, other_key
):
    key = github_app.load_private_key(app_key)
    now = timezone.now()
    url = acme.base_url + "/orgs/acme/installation"

    def ask(token):
        return httpx.get(url, headers={"Authorization": f"Bearer {token}"})

    assert ask(github_app.app_jwt(APP_ID, key)).status_code == 200
    expired = github_app.app_jwt(APP_ID, key, now=now - dt.timedelta(minutes=20))
    too_long = jwt.encode({"iat": int(now.timestamp()) - 60, "exp": int(now.timestamp()) + 3600, "iss": str(APP_ID)},
                          key, algorithm="RS256")  # fmt: skip
    answers = {
        "expired": ask(expired),
        "too long": ask(too_long),
        "another key": ask(github_app.app_jwt(APP_ID, other_key)),
        "unknown app": ask(github_app.app_jwt(APP_ID + 1, app_key)),
        "not a jwt": ask("garbage"),
        "the org token": ask(ORG_TOKEN),  # the app endpoints take a JWT, nothing else
    }
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 401)
    assert answers["unknown app"].json()["message"] == "Integration not found"
    assert "exp" in answers["expired"].json()["message"]
    assert acme.count_exchanges() == 0 and not acme.issued_installation_tokens


# --- installation lookup and token exchange -----------------------------------------------------


def test_the_installation_is_found_from_the_organisation_and_exchanged_for_a_token(acme, app_key):
    acme.reset_log()
    installation = github_app.find_installation(app_id=APP_ID, private_key=app_key, organization="acme")
    assert installation.id == acme.installation_id and installation.account == "acme"
    assert installation.app_id == APP_ID
    token = github_app.exchange_token(app_id=APP_ID, private_key=app_key, installation_id=installation.id)
    assert token.token.startswith("ghs_") and token.token != ORG_TOKEN
    left = token.expires_at - timezone.now()
    assert dt.timedelta(minutes=59) < left <= dt.timedelta(hours=1)
    assert acme.request_counts() == {"/orgs/acme/installation": 1, EXCHANGE.format(acme.installation_id): 1}
    assert acme.count_exchanges() == 1
    # both carried the app's JWT, and it names the app
    for request in acme.requests:
        sent = request.headers["authorization"].removeprefix("Bearer ")
        assert jwt.decode(sent, options={"verify_signature": False})["iss"] == str(APP_ID)
    # the installation token reads the organisation like its token does; /user is no installation's
    with GitHubClient(token.token, conditional=False) as client:
        report = client.check_access("acme", installation=True)
        assert report.organization == "acme" and report.can_read_members and report.can_read_pull_requests
        with pytest.raises(Exception, match="403"):
            client._fetch_json(client._api("/user"))


def test_an_expired_or_revoked_installation_token_is_refused_by_the_stand_in(acme, app_key):
    first = github_app.exchange_token(app_id=APP_ID, private_key=app_key, installation_id=acme.installation_id)
    second = github_app.exchange_token(app_id=APP_ID, private_key=app_key, installation_id=acme.installation_id)
    acme.expire_installation_tokens()
    with GitHubClient(first.token, conditional=False) as client, pytest.raises(InvalidToken):
        next(client.organization_members("acme"))
    third = github_app.exchange_token(app_id=APP_ID, private_key=app_key, installation_id=acme.installation_id)
    with GitHubClient(third.token, conditional=False) as client:
        assert next(client.organization_members("acme"))
    acme.revoke_installation_tokens()
    for token in (second, third):
        with GitHubClient(token.token, conditional=False) as client, pytest.raises(InvalidToken):
            next(client.organization_members("acme"))


@pytest.mark.parametrize(
    "case, error, field",
    [
        ("wrong app id", github_app.UnknownApp, "app_id"),
        ("key of another app", github_app.AppCredentialsRefused, "app_id"),
        ("not installed", github_app.AppNotInstalled, None),
    ],
)
def test_lookup_errors_are_named(acme, app_key, other_key, case, error, field):
    options = {"app_id": APP_ID, "private_key": app_key, "organization": "acme"}
    if case == "wrong app id":
        options["app_id"] = APP_ID + 7
    elif case == "key of another app":
        options["private_key"] = other_key
    else:
        acme.uninstall("acme")
    with pytest.raises(error) as refused:
        github_app.find_installation(**options)
    assert refused.value.field == field and str(options["app_id"]) in refused.value.message
    assert acme.count_exchanges() == 0


# --- the credential of an integration: cached, refreshed before it expires ------------------------------


def test_a_token_integration_uses_its_token_and_asks_nothing(acme):
    team = TeamFactory()
    integration = GitHubIntegrationFactory(team=team, organization_slug="acme", access_token=ORG_TOKEN)
    acme.reset_log()
    with CaptureQueriesContext(connection) as captured:
        assert github_app.integration_token(integration) == ORG_TOKEN
    assert len(captured) == 0 and acme.request_count == 0
    assert github_app.cache_identity(integration) is None


def test_an_app_integration_without_a_cached_token_exchanges_once_and_stores_it_in_one_update(acme, app_key):
    team = app_team(acme, app_key)
    integration = integration_of(team)
    acme.reset_log()
    with CaptureQueriesContext(connection) as captured:
        token = github_app.integration_token(integration)
    assert acme.count_exchanges() == 1 and acme.request_count == 1
    assert len(captured) == 1 and len(updates_of_the_integration(captured)) == 1
    stored = integration_of(team)
    assert stored.app_token == token == acme.issued_installation_tokens[0].token
    assert stored.app_token_expires_at == acme.issued_installation_tokens[0].expires_at
    # stored encrypted, like the token
    with connection.cursor() as cursor:
        cursor.execute("SELECT app_token, app_private_key FROM integrations_githubintegration WHERE team_id = %s",
                       [team.id])  # fmt: skip
        raw_token, raw_key = cursor.fetchone()
    assert raw_token.startswith("fernet:") and token not in raw_token
    assert raw_key.startswith("fernet:") and "PRIVATE KEY" not in raw_key


def test_a_cached_token_with_more_than_five_minutes_left_is_used_as_it_is(acme, app_key):
    cached = github_app.exchange_token(app_id=APP_ID, private_key=app_key, installation_id=acme.installation_id)
    team = app_team(acme, app_key, token=cached.token, expires_at=cached.expires_at)
    acme.reset_log()
    with CaptureQueriesContext(connection) as captured:
        assert github_app.integration_token(integration_of(team)) == cached.token
    assert acme.request_count == 0 and len(captured) == 1  # the integration's SELECT only


def test_a_cached_token_expiring_within_five_minutes_is_replaced(acme, app_key):
    acme.installation_token_lifetime = dt.timedelta(minutes=4, seconds=50)
    cached = github_app.exchange_token(app_id=APP_ID, private_key=app_key, installation_id=acme.installation_id)
    team = app_team(acme, app_key, token=cached.token, expires_at=cached.expires_at)
    acme.installation_token_lifetime = dt.timedelta(hours=1)
    acme.reset_log()
    fresh = github_app.integration_token(integration_of(team))
    assert fresh != cached.token and acme.count_exchanges() == 1
    assert integration_of(team).app_token == fresh


# --- a team sync end to end -------------------------------------------------------------------------


def test_a_team_sync_with_an_app_stores_the_organisation_with_installation_tokens_only(acme, app_key):
    team = app_team(acme, app_key)
    assert team_sync.has_token(team)
    track_all(team)
    acme.reset_log()
    result = team_sync.sync_team(team)
    organization = acme.organization
    prs = sum(len(repo.pull_requests) for repo in organization.repositories.values())
    assert PullRequest.objects.filter(team=team).count() == prs > 0
    assert TeamMember.objects.filter(team=team, is_bot=False).count() >= len(organization.members)
    assert result["pull_requests"]["repositories"] == len(organization.repositories)
    assert SyncStatus.objects.get(team=team, kind="pull_requests").state == "done"
    # every request carried the installation token (track_all's exchange made it), never the organisation's token
    token = acme.issued_installation_tokens[0].token
    assert authorizations(acme) == {token}
    assert acme.count_exchanges() == 0  # track_all's token is still good: no exchange in the sync


def test_the_second_sync_uses_a_new_token_once_the_first_expires_within_five_minutes_and_not_before(acme, app_key):
    team = app_team(acme, app_key)
    track_all(team)  # one exchange: a token for an hour
    acme.reset_log()
    team_sync.sync_team(team)
    assert acme.count_exchanges() == 0  # not due: no extra request
    baseline_requests = acme.request_count
    # time passes (GitHub's tokens live an hour): the cached token now has four minutes left
    GitHubIntegration.objects.filter(team=team).update(app_token_expires_at=timezone.now() + dt.timedelta(minutes=4))
    before = integration_of(team).app_token
    acme.reset_log()
    with CaptureQueriesContext(connection) as captured:
        team_sync.sync_team(team)
    assert acme.count_exchanges() == 1
    assert acme.request_count == baseline_requests + 1  # the one exchange, nothing else more
    refreshes = [sql for sql in updates_of_the_integration(captured) if "app_token" in sql]
    assert len(refreshes) == 1  # the new token stored once, then used by every step
    after = integration_of(team).app_token
    assert after != before and authorizations(acme) == {after}


def test_the_copilot_sync_reads_with_the_app_and_keeps_its_etags_across_a_refresh(
    acme, app_key, django_capture_on_commit_callbacks
):
    from apps.integrations.copilot_service import sync_copilot_metrics
    from apps.metrics.factories import TeamMemberFactory

    today = dt.date(2026, 4, 1)
    days = [today - dt.timedelta(days=n) for n in (2, 1)]
    acme.set_users(["ada"], days)
    team = app_team(acme, app_key)
    TeamMemberFactory(team=team, github_username="ada")
    acme.reset_log()
    with django_capture_on_commit_callbacks(execute=True):  # the validators are saved on commit
        first = sync_copilot_metrics(team, since=days[0], today=today)
    assert first.rows_written == 2 and acme.count_exchanges() == 1
    first_token = integration_of(team).app_token
    assert authorizations(acme) - {""} == {first_token}  # the downloads' host gets no token; the API got the app's
    GitHubIntegration.objects.filter(team=team).update(app_token_expires_at=timezone.now(), copilot_synced_through=None)
    acme.reset_log()
    team = type(team).objects.select_related("github_integration").get(pk=team.pk)
    with django_capture_on_commit_callbacks(execute=True):
        second = sync_copilot_metrics(team, since=days[0], today=today)
    assert acme.count_exchanges() == 1 and integration_of(team).app_token != first_token
    copilot = [r for r in acme.requests if r.method == "GET"]
    assert copilot and all(r.conditional and r.status == 304 for r in copilot)  # the ETags outlived the token
    assert second.rows_written == 0 and second.not_modified == len(copilot)


# --- errors during a sync --------------------------------------------------------------------------


def test_a_revoked_installation_token_fails_the_sync_clearly_and_the_next_sync_gets_a_new_one(acme, app_key):
    team = app_team(acme, app_key)
    github_app.integration_token(integration_of(team))
    acme.revoke_installation_tokens()
    with pytest.raises(team_sync.TokenRefused) as refused:
        team_sync.sync_team(team)
    assert str(refused.value) == team_sync.APP_TOKEN_REFUSED
    assert SyncStatus.objects.get(team=team, kind="members").detail == team_sync.APP_TOKEN_REFUSED
    assert integration_of(team).app_token == ""  # dropped: the next client asks for a new one
    acme.reset_log()
    team_sync.sync_team(team)
    assert acme.count_exchanges() == 1
    assert SyncStatus.objects.get(team=team, kind="members").state == "done"


@pytest.mark.parametrize("case", ["uninstalled", "key removed from the app"])
def test_an_app_github_no_longer_accepts_fails_the_sync_with_the_reason_and_writes_no_token(
    acme, app_key, other_key, case
):
    team = app_team(acme, app_key)
    if case == "uninstalled":
        acme.uninstall("acme")
        reason = "not installed"
    else:
        acme.register_app(APP_ID, other_key)  # the app's only key is now another one
        reason = "refused the app's credentials"
    before = row(team)
    with pytest.raises(team_sync.TokenRefused) as refused:
        team_sync.sync_team_members(team)
    assert reason in str(refused.value) and "Connect it again in settings" in str(refused.value)
    status = SyncStatus.objects.get(team=team, kind="members")
    assert status.state == "failed" and reason in status.detail
    assert row(team) == before and not acme.issued_installation_tokens
    # and the settings page's live listing says so rather than failing
    with pytest.raises(team_sync.TokenRefused):
        team_sync.list_repositories(team)


# --- who has a credential; the model's rules -----------------------------------------------------------


def test_the_daily_fan_out_and_has_token_count_app_integrations(acme, app_key, monkeypatch):
    from apps.integrations import tasks

    with_app = app_team(acme, app_key)
    with_token = TeamFactory()
    GitHubIntegrationFactory(team=with_token, access_token="ghp_x")
    without = TeamFactory()
    GitHubIntegrationFactory(team=without, access_token="")
    sent = []
    monkeypatch.setattr(tasks, "enqueue_on_commit", lambda task, team_id: sent.append(team_id))
    assert tasks.sync_all_github_task() == 2
    assert sorted(sent) == sorted([with_app.id, with_token.id])
    assert team_sync.has_token(with_app) and team_sync.has_token(with_token) and not team_sync.has_token(without)


@pytest.mark.parametrize(
    "fields",
    [
        {"app_id": APP_ID},  # no installation, no key
        {"app_id": APP_ID, "app_installation_id": 1},  # no key
        {"app_installation_id": 1, "app_private_key": "k"},  # no app id
        {"app_id": APP_ID, "app_installation_id": 1, "app_private_key": "k", "access_token": "ghp_x"},  # both
    ],
)
def test_an_app_is_complete_and_alone_or_absent(fields):
    options = {"access_token": "", **fields}
    with pytest.raises(IntegrityError), transaction.atomic():
        GitHubIntegrationFactory(**options)


@pytest.mark.allow_repeats(
    "Django's admin: a changelist runs its COUNT twice (the page's count and the full count), a change page reads "
    "the object's team and user again for its title and form widgets"
)
def test_the_admin_never_shows_the_key_or_the_installation_token(acme, app_key, admin_client):
    from django.urls import reverse

    team = app_team(acme, app_key)
    token = github_app.integration_token(integration_of(team))
    url = reverse("admin:integrations_githubintegration_change", args=[integration_of(team).pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert token not in body and "PRIVATE KEY" not in body and app_key.splitlines()[1] not in body
    assert "fernet:" not in body
