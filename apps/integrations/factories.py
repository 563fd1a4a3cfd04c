import factory

from apps.integrations.models import GitHubIntegration
from apps.teams.factories import TeamFactory


class GitHubIntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GitHubIntegration

    team = factory.SubFactory(TeamFactory)
    organization_slug = factory.Sequence(lambda n: f"org-{n}")
    access_token = factory.Sequence(lambda n: f"ghp_test_token_{n:08d}")
    copilot_synced_through = None
