"""GitHubIntegration (one per team, token and webhook secret encrypted at rest), TrackedRepository, SyncStatus."""

from importlib import import_module

import pytest
from django.db import IntegrityError, connection, transaction

from apps.integrations.factories import GitHubIntegrationFactory, SyncStatusFactory, TrackedRepositoryFactory
from apps.integrations.fields import is_unreadable
from apps.integrations.models import GitHubIntegration, SyncStatus, TrackedRepository
from apps.teams.factories import TeamFactory
from tests.support import assert_rejected

TOKEN = "ghp_S3cretPlaintextToken0123456789abcd"


def _raw_token(pk: int) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT access_token FROM {GitHubIntegration._meta.db_table} WHERE id = %s", [pk]
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_one_integration_per_team():
    integration = GitHubIntegrationFactory()
    before = GitHubIntegration.objects.count()
    with pytest.raises(IntegrityError) as excinfo:
        with transaction.atomic():
            GitHubIntegration.objects.create(team=integration.team, organization_slug="other")
    diag = getattr(excinfo.value.__cause__, "diag", None)
    assert diag.constraint_name == "integrations_githubintegration_team_id_key"
    assert GitHubIntegration.objects.count() == before


@pytest.mark.django_db
def test_access_token_is_stored_encrypted_and_reads_back_as_plaintext():
    integration = GitHubIntegrationFactory(access_token=TOKEN)

    raw = _raw_token(integration.pk)
    assert raw, "the token was not stored at all"
    assert TOKEN not in raw
    assert TOKEN[4:20] not in raw  # not a recognisable piece of it either
    assert raw.startswith("fernet:")

    assert GitHubIntegration.objects.get(pk=integration.pk).access_token == TOKEN
    assert GitHubIntegration.objects.values_list("access_token", flat=True).get() == TOKEN


@pytest.mark.django_db
def test_same_token_encrypts_differently_each_time():
    first = GitHubIntegrationFactory(access_token=TOKEN)
    second = GitHubIntegrationFactory(access_token=TOKEN)
    assert _raw_token(first.pk) != _raw_token(second.pk)


@pytest.mark.django_db
def test_updated_token_is_encrypted_too():
    integration = GitHubIntegrationFactory(access_token="old-token")
    GitHubIntegration.objects.filter(pk=integration.pk).update(access_token=TOKEN)
    assert TOKEN not in _raw_token(integration.pk)
    integration.refresh_from_db()
    assert integration.access_token == TOKEN


@pytest.mark.django_db
def test_empty_token_stays_empty():
    integration = GitHubIntegrationFactory(access_token="")
    assert _raw_token(integration.pk) == ""
    integration.refresh_from_db()
    assert integration.access_token == ""


@pytest.mark.django_db
def test_token_under_another_key_is_unreadable_not_returned_garbled(settings):
    integration = GitHubIntegrationFactory(access_token=TOKEN)
    settings.FIELD_ENCRYPTION_KEYS = ["a-different-key"]
    token = GitHubIntegration.objects.get(pk=integration.pk).access_token
    assert is_unreadable(token) and token == ""  # never the ciphertext (tests/integrations/test_key_rotation.py)


@pytest.mark.django_db
def test_str_names_organization_and_team():
    integration = GitHubIntegrationFactory(
        organization_slug="acme", team=TeamFactory(name="Platform")
    )
    assert str(integration) == "GitHub acme for Platform"


# --- the webhook secret ------------------------------------------------------------------------


def _raw_secret(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT webhook_secret FROM {GitHubIntegration._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_new_integration_gets_its_own_webhook_secret_encrypted_at_rest():
    first, second = GitHubIntegrationFactory(), GitHubIntegrationFactory()
    secret = GitHubIntegration.objects.get(pk=first.pk).webhook_secret
    assert len(secret) == 64 and int(secret, 16) >= 0  # 32 random bytes, hex
    assert secret != GitHubIntegration.objects.get(pk=second.pk).webhook_secret
    raw = _raw_secret(first.pk)
    assert raw.startswith("fernet:") and secret not in raw


@pytest.mark.django_db
def test_saving_again_keeps_the_secret_and_an_emptied_one_is_filled_even_with_update_fields():
    integration = GitHubIntegrationFactory()
    secret = integration.webhook_secret
    integration.organization_slug = "renamed"
    integration.save()
    assert GitHubIntegration.objects.get(pk=integration.pk).webhook_secret == secret

    GitHubIntegration.objects.filter(pk=integration.pk).update(webhook_secret="")  # update() bypasses save()
    integration.refresh_from_db()
    assert integration.webhook_secret == ""
    integration.organization_slug = "again"
    integration.save(update_fields=["organization_slug"])
    fresh = GitHubIntegration.objects.get(pk=integration.pk)
    assert fresh.webhook_secret and fresh.webhook_secret != secret and fresh.organization_slug == "again"


@pytest.mark.django_db
def test_the_migration_fills_every_empty_secret_and_leaves_the_others():
    from django.apps import apps as django_apps

    fill = import_module("apps.integrations.migrations.0003_sync_tables_webhook_secret").fill_webhook_secrets
    empty, kept = GitHubIntegrationFactory(), GitHubIntegrationFactory()
    GitHubIntegration.objects.filter(pk=empty.pk).update(webhook_secret="")
    fill(django_apps, None)
    assert GitHubIntegration.objects.get(pk=empty.pk).webhook_secret
    assert GitHubIntegration.objects.get(pk=kept.pk).webhook_secret == kept.webhook_secret


# --- tracked repositories and sync statuses ----------------------------------------------------


@pytest.mark.django_db
def test_a_repository_is_listed_once_per_team_and_may_be_on_two_teams():
    repository = TrackedRepositoryFactory(name_with_owner="acme/app")
    TrackedRepositoryFactory(name_with_owner="acme/app")  # another team
    assert_rejected(
        TrackedRepository,
        "trackedrepository_unique_team_name",
        lambda: TrackedRepositoryFactory(team=repository.team, name_with_owner="acme/app"),
    )


@pytest.mark.django_db
def test_a_repository_status_is_one_of_the_known_ones():
    team = TeamFactory()
    assert_rejected(
        TrackedRepository, "trackedrepository_status_valid", lambda: TrackedRepositoryFactory(team=team, status="gone")
    )


@pytest.mark.django_db
def test_a_resume_cursor_needs_the_pending_watermark_of_its_run():
    team = TeamFactory()
    assert_rejected(
        TrackedRepository,
        "trackedrepository_resume_has_pending",
        lambda: TrackedRepositoryFactory(team=team, resume_cursor="Y3Vyc29yOjY=", pending_watermark=None),
    )
    fresh = TrackedRepositoryFactory(team=team)
    state = (fresh.status, fresh.resume_cursor, fresh.pr_watermark, fresh.pending_watermark)
    assert state == ("pending", "", None, None)


@pytest.mark.django_db
def test_one_sync_status_per_team_and_kind_with_known_kinds_and_states():
    status = SyncStatusFactory(kind="members")
    SyncStatusFactory(team=status.team, kind="pull_requests")
    team = status.team
    assert_rejected(SyncStatus, "syncstatus_unique_team_kind", lambda: SyncStatusFactory(team=team, kind="members"))
    assert_rejected(SyncStatus, "syncstatus_kind_valid", lambda: SyncStatusFactory(team=team, kind="issues"))
    assert_rejected(
        SyncStatus, "syncstatus_state_valid", lambda: SyncStatusFactory(team=team, kind="copilot", state="idle")
    )
    assert str(status) == f"Members sync of team {team.pk}: Done"
