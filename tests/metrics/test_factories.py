"""Every factory builds a valid saved row, and the rows it makes for it share one team."""

import datetime as dt

import pytest
from django.apps import apps
from django.db import models

from apps.integrations.factories import GitHubIntegrationFactory
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
from apps.metrics.models import PullRequest
from apps.teams.factories import TeamFactory, UserFactory
from apps.teams.models import Team
from tests.support import ALL_FACTORIES

FACTORIES = ALL_FACTORIES
OUR_APPS = ("teams", "metrics", "integrations")



def _teams_reachable(obj, seen=None) -> set[int]:
    """Ids of every Team that ``obj`` points at, directly or through its foreign keys."""
    seen = set() if seen is None else seen
    if (type(obj), obj.pk) in seen:
        return set()
    seen.add((type(obj), obj.pk))
    if isinstance(obj, Team):
        return {obj.pk}
    found = set()
    for field in obj._meta.concrete_fields:
        if isinstance(field, models.ForeignKey):
            related = getattr(obj, field.name)
            if related is not None:
                found |= _teams_reachable(related, seen)
    return found


def test_every_model_of_our_apps_has_a_factory():
    covered = {factory._meta.model for factory in FACTORIES}
    ours = {m for label in OUR_APPS for m in apps.get_app_config(label).get_models()}
    assert ours - covered == set()


@pytest.mark.django_db
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_factory_builds_a_valid_saved_object(factory):
    obj = factory()
    model = factory._meta.model
    assert obj.pk is not None
    assert model.objects.filter(pk=obj.pk).exists()
    obj.full_clean()  # field validation and every model constraint, checked against the db
    fresh = model.objects.get(pk=obj.pk)
    fresh.full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_factory_makes_one_team_for_all_its_related_rows(factory):
    obj = factory()
    if factory is UserFactory:
        assert Team.objects.count() == 0
        return
    assert Team.objects.count() == 1
    assert len(_teams_reachable(obj)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_factory_batches_do_not_collide_on_unique_constraints(factory):
    objs = factory.create_batch(3)
    assert len({o.pk for o in objs}) == 3


@pytest.mark.django_db
def test_children_of_a_given_parent_stay_on_its_team():
    team = TeamFactory()
    member = TeamMemberFactory(team=team)
    pr = PullRequestFactory(team=team)
    assert pr.author.team == team

    review = PRReviewFactory(pull_request=pr)
    assert review.team == team and review.reviewer.team == team

    assert CommitFactory(team=team).author.team == team
    commit = CommitFactory(pull_request=pr)
    assert commit.team == team and commit.author.team == team

    survey = PRSurveyFactory(pull_request=pr)
    assert survey.team == team and survey.author == pr.author

    survey_review = PRSurveyReviewFactory(survey=survey)
    assert survey_review.team == team and survey_review.reviewer.team == team

    assert AIUsageDailyFactory(member=member).team == team
    assert WeeklyMetricsFactory(member=member).team == team
    assert Team.objects.count() == 1


@pytest.mark.django_db
def test_member_rooted_batches_for_one_member_are_distinct_days_and_mondays():
    member = TeamMemberFactory()
    usage = AIUsageDailyFactory.create_batch(3, member=member)
    assert len({u.date for u in usage}) == 3
    weeks = WeeklyMetricsFactory.create_batch(3, member=member)
    assert {w.week_start.isoweekday() for w in weeks} == {1}
    assert len({w.week_start for w in weeks}) == 3


@pytest.mark.django_db
def test_merged_pr_by_default_has_consistent_times():
    pr = PullRequestFactory()
    assert pr.state == PullRequest.State.MERGED
    assert pr.merged_at >= pr.pr_created_at
    assert pr.cycle_time_hours == round(
        (pr.merged_at - pr.pr_created_at) / dt.timedelta(hours=1), 2
    )
    assert pr.first_review_at >= pr.pr_created_at
    assert pr.review_time_hours >= 0


@pytest.mark.django_db
def test_open_pr():
    pr = PullRequestFactory(state="open", merged_at=None)
    pr.refresh_from_db()
    assert pr.state == "open"
    assert pr.merged_at is None
    assert pr.cycle_time_hours is None
    pr.full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["open", "closed"])
def test_unmerged_pr_needs_only_the_state(state):
    pr = PullRequestFactory(state=state)
    assert pr.merged_at is None
    assert pr.cycle_time_hours is None


@pytest.mark.django_db
def test_unanswered_survey():
    survey = PRSurveyFactory(author_ai_assisted=None)
    survey.refresh_from_db()
    assert survey.author_ai_assisted is None
    assert survey.author_responded_at is None
    survey.full_clean()
    review = PRSurveyReviewFactory(survey=survey)
    assert review.guess_correct is None


@pytest.mark.django_db
@pytest.mark.parametrize(("answer", "guess", "correct"), [(True, True, True), (False, True, False)])
def test_answered_survey_and_reviewer_guess(answer, guess, correct):
    survey = PRSurveyFactory(author_ai_assisted=answer)
    assert survey.author_responded_at is not None
    assert survey.author_responded_at >= survey.pull_request.merged_at
    review = PRSurveyReviewFactory(survey=survey, ai_guess=guess)
    assert review.guess_correct is correct


@pytest.mark.django_db
def test_user_factory_password_works():
    user = UserFactory()
    assert user.check_password("correct-horse-battery")


@pytest.mark.django_db
def test_integration_factory_token_round_trips():
    integration = GitHubIntegrationFactory()
    token = integration.access_token
    integration.refresh_from_db()
    assert token and integration.access_token == token
