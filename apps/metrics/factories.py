"""factory_boy factories for every metrics model. Related rows share one team."""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from apps.metrics.models import (
    AIUsageDaily,
    Commit,
    PRReview,
    PRSurvey,
    PRSurveyReview,
    PullRequest,
    TeamMember,
    WeeklyMetrics,
)
from apps.teams.factories import TeamFactory


def _hours_between(start, end) -> Decimal:
    return Decimal(str(round((end - start).total_seconds() / 3600, 2)))


class TeamMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMember

    team = factory.SubFactory(TeamFactory)
    display_name = factory.Faker("name")
    email = factory.LazyAttribute(lambda o: f"{o.github_username or 'member'}@example.com")
    github_username = factory.Sequence(lambda n: f"dev-{n}")
    github_id = factory.Sequence(lambda n: str(1_000_000 + n))
    is_active = True
    role = TeamMember.Role.DEVELOPER


class PullRequestFactory(factory.django.DjangoModelFactory):
    """A merged PR by default; pass ``state="open"`` and ``merged_at=None`` for an open one."""

    class Meta:
        model = PullRequest

    team = factory.SubFactory(TeamFactory)
    author = factory.SubFactory(TeamMemberFactory, team=factory.SelfAttribute("..team"))
    github_pr_id = factory.Sequence(lambda n: n + 1)
    github_repo = factory.LazyAttribute(lambda o: f"{o.team.slug}/app")
    title = factory.Faker("sentence", nb_words=5)
    state = PullRequest.State.MERGED
    pr_created_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=3))
    first_review_at = factory.LazyAttribute(lambda o: o.pr_created_at + dt.timedelta(hours=4))
    merged_at = factory.LazyAttribute(
        lambda o: o.pr_created_at + dt.timedelta(hours=26) if o.state == PullRequest.State.MERGED else None
    )
    cycle_time_hours = factory.LazyAttribute(
        lambda o: _hours_between(o.pr_created_at, o.merged_at) if o.merged_at else None
    )
    review_time_hours = factory.LazyAttribute(
        lambda o: _hours_between(o.pr_created_at, o.first_review_at) if o.first_review_at else None
    )
    additions = 120
    deletions = 30


class PRReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PRReview

    pull_request = factory.SubFactory(PullRequestFactory)
    team = factory.SelfAttribute("pull_request.team")
    reviewer = factory.SubFactory(TeamMemberFactory, team=factory.SelfAttribute("..team"))
    state = PRReview.State.APPROVED
    submitted_at = factory.LazyAttribute(lambda o: o.pull_request.pr_created_at + dt.timedelta(hours=4))


class CommitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Commit

    # a commit of a given pull request belongs to that PR's team
    team = factory.Maybe(
        "pull_request",
        yes_declaration=factory.SelfAttribute("pull_request.team"),
        no_declaration=factory.SubFactory(TeamFactory),
    )
    github_sha = factory.Sequence(lambda n: f"{n:040x}")
    github_repo = factory.LazyAttribute(lambda o: f"{o.team.slug}/app")
    author = factory.SubFactory(TeamMemberFactory, team=factory.SelfAttribute("..team"))
    pull_request = None
    committed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=2))
    additions = 40
    deletions = 10


class PRSurveyFactory(factory.django.DjangoModelFactory):
    """An answered survey by default; pass ``author_ai_assisted=None`` for an unanswered one."""

    class Meta:
        model = PRSurvey

    pull_request = factory.SubFactory(PullRequestFactory)
    team = factory.SelfAttribute("pull_request.team")
    author = factory.SelfAttribute("pull_request.author")
    author_ai_assisted = True
    author_responded_at = factory.LazyAttribute(
        lambda o: (o.pull_request.merged_at or timezone.now()) + dt.timedelta(hours=1)
        if o.author_ai_assisted is not None
        else None
    )


class PRSurveyReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PRSurveyReview

    survey = factory.SubFactory(PRSurveyFactory)
    team = factory.SelfAttribute("survey.team")
    reviewer = factory.SubFactory(TeamMemberFactory, team=factory.SelfAttribute("..team"))
    quality_rating = 2
    ai_guess = True
    guess_correct = factory.LazyAttribute(
        lambda o: None if o.ai_guess is None or o.survey.author_ai_assisted is None
        else o.ai_guess == o.survey.author_ai_assisted
    )
    responded_at = factory.LazyFunction(timezone.now)


class AIUsageDailyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AIUsageDaily

    member = factory.SubFactory(TeamMemberFactory)
    team = factory.SelfAttribute("member.team")
    date = factory.Sequence(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n))
    source = AIUsageDaily.Source.COPILOT
    suggestions_shown = 100
    suggestions_accepted = 30
    lines_suggested = 200
    lines_accepted = 60
    chat_interactions = 5
    acceptance_rate = factory.LazyAttribute(
        lambda o: Decimal(o.suggestions_accepted * 100 / o.suggestions_shown).quantize(Decimal("0.01"))
        if o.suggestions_shown
        else None
    )


class WeeklyMetricsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeeklyMetrics

    member = factory.SubFactory(TeamMemberFactory)
    team = factory.SelfAttribute("member.team")
    week_start = factory.Sequence(lambda n: dt.date(2026, 1, 5) + dt.timedelta(weeks=n))  # Mondays
    prs_merged = 3
    avg_cycle_time_hours = Decimal("20.50")
    avg_review_time_hours = Decimal("4.25")
    commits_count = 12
    lines_added = 400
    lines_removed = 120
