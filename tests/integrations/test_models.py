"""GitHubIntegration: one per team, and its access token is encrypted at rest."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction

from apps.integrations.factories import GitHubIntegrationFactory
from apps.integrations.models import GitHubIntegration
from apps.teams.factories import TeamFactory

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
def test_token_under_another_key_is_refused_not_returned_garbled(settings):
    integration = GitHubIntegrationFactory(access_token=TOKEN)
    settings.FIELD_ENCRYPTION_KEY = "a-different-key"
    with pytest.raises(ImproperlyConfigured):
        GitHubIntegration.objects.get(pk=integration.pk)


@pytest.mark.django_db
def test_str_names_organization_and_team():
    integration = GitHubIntegrationFactory(
        organization_slug="acme", team=TeamFactory(name="Platform")
    )
    assert str(integration) == "GitHub acme for Platform"
