import datetime as dt
import uuid

import factory

from apps.integrations.models import GitHubIntegration, SurveyComment, SyncStatus, TrackedRepository, WebhookDelivery
from apps.metrics.factories import PRSurveyFactory
from apps.teams.factories import TeamFactory


class GitHubIntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GitHubIntegration

    team = factory.SubFactory(TeamFactory)
    organization_slug = factory.Sequence(lambda n: f"org-{n}")
    access_token = factory.Sequence(lambda n: f"ghp_test_token_{n:08d}")
    copilot_synced_through = None


class TrackedRepositoryFactory(factory.django.DjangoModelFactory):
    """A tracked repository that has never been synced."""

    class Meta:
        model = TrackedRepository

    team = factory.SubFactory(TeamFactory)
    name_with_owner = factory.Sequence(lambda n: f"acme/repo-{n}")
    github_id = factory.Sequence(lambda n: 70_000_000 + n)
    is_tracked = True


class SyncStatusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncStatus

    team = factory.SubFactory(TeamFactory)
    kind = SyncStatus.Kind.MEMBERS
    state = SyncStatus.State.DONE
    counts = factory.LazyFunction(lambda: {"created": 0, "updated": 0})


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    """A delivery the team's endpoint has already stored (a replay of it writes nothing)."""

    class Meta:
        model = WebhookDelivery

    team = factory.SubFactory(TeamFactory)
    delivery_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    event = "pull_request"
    action = "opened"
    received_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))


class SurveyCommentFactory(factory.django.DjangoModelFactory):
    """A survey's PR comment, posted (GitHub's id and the time set); ``github_comment_id=None, posted_at=None``
    is a claim still being posted."""

    class Meta:
        model = SurveyComment

    survey = factory.SubFactory(PRSurveyFactory)
    team = factory.SelfAttribute("survey.team")
    claimed_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))
    github_comment_id = factory.Sequence(lambda n: 9_000_000 + n)
    posted_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))
