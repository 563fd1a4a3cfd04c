"""Helpers shared by several test modules."""

from urllib.parse import quote

import pytest
from django.db import IntegrityError, connection, transaction

from apps.integrations.factories import (
    GitHubIntegrationFactory,
    SurveyCommentFactory,
    SyncStatusFactory,
    TrackedRepositoryFactory,
    WebhookDeliveryFactory,
)
from apps.metrics.factories import (
    AIUsageDailyFactory,
    CommitFactory,
    PRReviewFactory,
    PRSurveyFactory,
    PRSurveyReviewFactory,
    PullRequestFactory,
    TeamMemberFactory,
    WeeklyMetricsFactory,
)
from apps.teams.factories import InviteFactory, MembershipFactory, TeamFactory, UserFactory

# One factory per model of ours (and the user model), in dependency order.
ALL_FACTORIES = [
    UserFactory,
    TeamFactory,
    MembershipFactory,
    InviteFactory,
    GitHubIntegrationFactory,
    TrackedRepositoryFactory,
    SyncStatusFactory,
    WebhookDeliveryFactory,
    SurveyCommentFactory,
    TeamMemberFactory,
    PullRequestFactory,
    PRReviewFactory,
    CommitFactory,
    PRSurveyFactory,
    PRSurveyReviewFactory,
    AIUsageDailyFactory,
    WeeklyMetricsFactory,
]


def constraint_name(exc: IntegrityError) -> str | None:
    """The name PostgreSQL reports for the violated constraint (psycopg's diagnostics)."""
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)


def assert_rejected(model, constraint: str, write) -> None:
    """``write()`` fails on ``constraint`` and leaves ``model``'s table as it was."""
    before = model.objects.count()
    with pytest.raises(IntegrityError) as excinfo:
        with transaction.atomic():
            write()
    assert constraint_name(excinfo.value) == constraint, excinfo.value
    assert model.objects.count() == before


def member_and_two_teams():
    """Alice, a member of Platform, and Secret: someone else's team, which Alice must never see."""
    alice = UserFactory(username="alice")
    platform = TeamFactory(name="Platform", slug="platform")
    secret = TeamFactory(name="Secret", slug="secret")
    MembershipFactory(user=alice, team=platform)
    MembershipFactory(team=secret)
    return alice, platform, secret


def subprocess_database_url() -> str:
    """This run's test database as a ``DATABASE_URL`` for another process (a kernel, a worker, a server).

    A socket folder (the embedded server) travels as ``?host=``: django-environ keeps it as
    ``OPTIONS["host"]``, which psycopg reads as the folder.
    """
    db = connection.settings_dict
    credentials = f"{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    if db["HOST"].startswith("/"):
        return f"postgresql://{credentials}@/{db['NAME']}?host={quote(db['HOST'], safe='/')}"
    return f"postgresql://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(queue: str, github_url: str) -> dict:
    """The environment of a Celery worker (or a server) started for a test: this run's database and Redis,
    its own queue, the GitHub stand-in's URL, no connection pool."""
    import os

    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    env["DATABASE_URL"] = subprocess_database_url()
    env.update(
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_DEFAULT_QUEUE=queue,
        GITHUB_API_URL=github_url,
        DATABASE_POOL="false",
    )
    return env
