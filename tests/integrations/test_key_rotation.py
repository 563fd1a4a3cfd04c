"""Key rotation (issue 14 §3): a list of keys, re-encryption, and a secret no key reads never breaking a page."""

import base64
import hashlib
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from apps.integrations import github_app, team_sync
from apps.integrations.factories import GitHubIntegrationFactory, TrackedRepositoryFactory
from apps.integrations.fields import fernets, is_unreadable
from apps.integrations.models import GitHubIntegration, SyncStatus
from apps.integrations.tasks import sync_copilot_metrics_task, sync_repository_task, sync_team_github_task
from apps.integrations.webhooks import signature_of, webhook_id
from apps.perflab.capture import capture_queries
from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from apps.teams.models import Membership

pytestmark = pytest.mark.django_db

TOKEN = "ghp_RotationToken0123456789abcdefABCDEF01"
TABLE = GitHubIntegration._meta.db_table
UNREADABLE = "unreadable, enter it again"


def _raw(pk: int, column: str = "access_token") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {TABLE} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def _read(pk: int) -> GitHubIntegration:
    return GitHubIntegration.objects.get(pk=pk)


def _todays_fernet(secret: str) -> Fernet:
    """The derivation as it was before keys were a list (fields.py at issue 13), written out again."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"tformance-field:{secret}".encode()).digest()))


def _under_lost_key(**fields) -> GitHubIntegration:
    """An integration whose token and webhook secret were encrypted under a key no longer configured."""
    with override_settings(FIELD_ENCRYPTION_KEYS=["a-key-nobody-kept"]):
        return GitHubIntegrationFactory(**{"access_token": TOKEN, **fields})


# --- the list of keys -------------------------------------------------------------------------


def test_a_token_stored_today_reads_under_the_first_derived_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    integration = GitHubIntegrationFactory(access_token="")
    stored = "fernet:" + _todays_fernet(settings.SECRET_KEY).encrypt(TOKEN.encode()).decode()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET access_token = %s WHERE id = %s", [stored, integration.pk])
    assert _read(integration.pk).access_token == TOKEN
    # and what is written now, the old code could read
    integration = GitHubIntegrationFactory(access_token=TOKEN)
    assert _todays_fernet(settings.SECRET_KEY).decrypt(_raw(integration.pk)[len("fernet:") :]).decode() == TOKEN


def test_a_token_under_key_a_reads_under_b_a_and_under_b_alone_once_reencrypted(settings, capsys):
    settings.FIELD_ENCRYPTION_KEYS = ["key-a"]
    integration = GitHubIntegrationFactory(access_token=TOKEN)
    secret = _read(integration.pk).webhook_secret
    settings.FIELD_ENCRYPTION_KEYS = ["key-b", "key-a"]
    assert _read(integration.pk).access_token == TOKEN  # the cache of derived keys followed the setting
    settings.FIELD_ENCRYPTION_KEYS = ["key-b"]
    assert is_unreadable(_read(integration.pk).access_token)  # not yet moved to key B

    settings.FIELD_ENCRYPTION_KEYS = ["key-b", "key-a"]
    before = _raw(integration.pk)
    call_command("reencrypt_tokens")
    assert f"{TABLE}: 1 rows read, 1 re-encrypted (2 values), 0 unreadable" in capsys.readouterr().out
    assert _raw(integration.pk) != before
    settings.FIELD_ENCRYPTION_KEYS = ["key-b"]
    read = _read(integration.pk)
    assert (read.access_token, read.webhook_secret) == (TOKEN, secret)

    call_command("reencrypt_tokens")  # idempotent: everything is under the first key already
    assert f"{TABLE}: 1 rows read, 0 re-encrypted (0 values), 0 unreadable" in capsys.readouterr().out


def test_rotating_secret_key_with_the_old_one_in_the_fallbacks_keeps_tokens_readable(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.SECRET_KEY = "old-" + "k" * 60
    integration = GitHubIntegrationFactory(access_token=TOKEN)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" + "k" * 60, ["old-" + "k" * 60]
    assert _read(integration.pk).access_token == TOKEN
    written = GitHubIntegrationFactory(access_token=TOKEN)  # new writes are under the new SECRET_KEY
    assert _todays_fernet("new-" + "k" * 60).decrypt(_raw(written.pk)[len("fernet:") :]).decode() == TOKEN

    call_command("reencrypt_tokens")
    settings.SECRET_KEY_FALLBACKS = []
    assert _read(integration.pk).access_token == TOKEN


def test_the_derived_keys_are_cached_and_forgotten_when_a_key_setting_changes(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["key-a"]
    first = fernets()
    assert fernets() is first
    settings.FIELD_ENCRYPTION_KEYS = ["key-b"]
    assert fernets() is not first
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True  # any other setting leaves the cache alone
    assert fernets() is fernets()


# --- the command --------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size, sizes", [(200, (3, 30)), (7, (15, 20))])
def test_the_command_costs_the_same_statements_at_two_sizes(settings, batch_size, sizes, capsys):
    def run(size):
        settings.FIELD_ENCRYPTION_KEYS = ["key-a"]
        GitHubIntegration.objects.all().delete()
        pks = [GitHubIntegrationFactory(access_token=f"{TOKEN}{n}").pk for n in range(size)]
        settings.FIELD_ENCRYPTION_KEYS = ["key-b", "key-a"]
        with capture_queries(call_sites=False) as statements:
            call_command("reencrypt_tokens", batch_size=batch_size)
        settings.FIELD_ENCRYPTION_KEYS = ["key-b"]
        assert [_read(pk).access_token for pk in pks] == [f"{TOKEN}{n}" for n in range(size)]
        print(f"{size} integrations, batches of {batch_size}: {statements.count} statements")
        return statements.count

    # 200: one batch at either size; 7: three batches at either size (the last one short)
    small, large = run(sizes[0]), run(sizes[1])
    assert small == large, capsys.readouterr().out


def test_the_command_refuses_while_a_value_is_unreadable_and_names_it(settings, capsys):
    settings.FIELD_ENCRYPTION_KEYS = ["key-a"]
    readable = GitHubIntegrationFactory(access_token=TOKEN)
    lost = _under_lost_key()
    settings.FIELD_ENCRYPTION_KEYS = ["key-b", "key-a"]
    before = _raw(readable.pk)
    with pytest.raises(CommandError) as refused:
        call_command("reencrypt_tokens")
    assert f"{TABLE} id {lost.pk}: access_token" in str(refused.value)
    assert f"{TABLE} id {lost.pk}: webhook_secret" in str(refused.value)
    assert f"id {readable.pk}:" not in str(refused.value)
    assert _raw(readable.pk) == before  # nothing written

    lost_before = _raw(lost.pk)
    call_command("reencrypt_tokens", skip_unreadable=True)
    captured = capsys.readouterr()
    assert f"{TABLE} id {lost.pk}: access_token" in captured.err
    assert f"{TABLE}: 2 rows read, 1 re-encrypted (2 values), 2 unreadable" in captured.out
    assert _raw(lost.pk) == lost_before  # left as it was: the key may still turn up
    settings.FIELD_ENCRYPTION_KEYS = ["key-b"]
    assert _read(readable.pk).access_token == TOKEN


# --- an unreadable secret never breaks a page ---------------------------------------------------


def test_an_unreadable_value_is_empty_never_the_ciphertext_and_a_save_keeps_it(settings):
    lost = _under_lost_key()
    stored = _raw(lost.pk)
    read = _read(lost.pk)
    assert is_unreadable(read.access_token) and read.access_token == "" and not read.access_token
    assert "fernet" not in repr(read.access_token) + str(read.access_token)
    read.organization_slug = "renamed"
    read.save()  # a save of other fields writes the stored text back unchanged
    assert _raw(lost.pk) == stored
    with override_settings(FIELD_ENCRYPTION_KEYS=["a-key-nobody-kept"]):
        assert _read(lost.pk).access_token == TOKEN


def _superuser_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.allow_repeats(
    "Django's admin: a changelist runs its COUNT twice (the page's count and the full count), a change page reads "
    "the object's team and user again for its title and form widgets"
)
def test_the_admin_list_and_change_page_say_unreadable(settings):
    lost = _under_lost_key()
    GitHubIntegrationFactory()  # a readable one beside it
    client = _superuser_client()
    listing = client.get(reverse("admin:integrations_githubintegration_changelist"))
    assert listing.status_code == 200
    assert UNREADABLE in listing.content.decode() and 'class="field-secrets">readable<' in listing.content.decode()
    change = client.get(reverse("admin:integrations_githubintegration_change", args=[lost.pk]))
    assert change.status_code == 200
    body = change.content.decode()
    assert f"access token, webhook secret: {UNREADABLE}" in body
    assert "fernet:" not in body and _raw(lost.pk)[7:40] not in body


def test_the_settings_page_says_enter_it_again(settings):
    team = TeamFactory(slug="platform")
    admin = MembershipFactory(team=team, role=Membership.Role.ADMIN).user
    lost = _under_lost_key(team=team, organization_slug="acme")
    client = Client()
    client.force_login(admin)
    response = client.get(reverse("teams:settings", args=[team.slug]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "The stored access token, webhook secret cannot be read with the current keys" in body
    assert f'id="token-state">{UNREADABLE}<' in body
    assert "fernet:" not in body and _raw(lost.pk)[7:40] not in body


def test_a_webhook_signed_with_an_empty_secret_is_refused_when_the_secret_is_unreadable(settings):
    lost = _under_lost_key()
    body = json.dumps({"zen": "hi"}).encode()
    response = Client().post(
        reverse("integrations:github_webhook", args=[webhook_id(lost)]), data=body,
        content_type="application/json", HTTP_X_GITHUB_EVENT="ping", HTTP_X_GITHUB_DELIVERY="d-1",
        HTTP_X_HUB_SIGNATURE_256=signature_of("", body),
    )  # fmt: skip
    assert response.status_code == 401


# --- the sync reports it and does not retry ------------------------------------------------------


def test_the_syncs_record_unreadable_and_do_not_retry(settings, start_github, eager_celery):
    stub = start_github("ghp_unused", members=2, repositories=1, prs_per_repository=1)
    team = TeamFactory()
    _under_lost_key(team=team, organization_slug="acme")
    repository = TrackedRepositoryFactory(team=team)

    result = sync_team_github_task.apply(args=[team.id])
    assert result.state == "SUCCESS"  # a retry would be RETRY, an escaped exception FAILURE
    assert result.get() == {"outcome": "token_refused", "detail": github_app.UNREADABLE_TOKEN}
    members = SyncStatus.objects.get(team=team, kind=SyncStatus.Kind.MEMBERS)
    assert (members.state, members.detail, members.retry_at) == ("failed", github_app.UNREADABLE_TOKEN, None)

    copilot = sync_copilot_metrics_task.apply(args=[team.id])
    assert copilot.state == "SUCCESS" and copilot.get() == {"skipped": github_app.UNREADABLE_TOKEN}
    assert SyncStatus.objects.get(team=team, kind=SyncStatus.Kind.COPILOT).detail == github_app.UNREADABLE_TOKEN

    pulls = sync_repository_task.apply(args=[team.id, repository.pk])
    assert pulls.state == "SUCCESS" and pulls.get()["outcome"] == "token_refused"
    assert SyncStatus.objects.get(team=team, kind=SyncStatus.Kind.PULL_REQUESTS).detail == github_app.UNREADABLE_TOKEN
    assert stub.request_count == 0  # nothing was sent to GitHub: not the ciphertext, not an empty token


def test_an_app_whose_private_key_is_unreadable_is_reported_too(settings):
    lost = _under_lost_key(access_token="", app_id=1, app_installation_id=2, app_private_key="-----BEGIN x")
    with pytest.raises(github_app.UnreadableCredential, match="private key cannot be read"):
        github_app.client_for(_read(lost.pk))
    with pytest.raises(team_sync.TokenRefused, match="private key cannot be read"):
        team_sync.sync_team_members(lost.team)
