"""A merged PR gets a survey for its author and one survey review per reviewer: idempotent, two statements."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.metrics.factories import (
    PRReviewFactory,
    PRSurveyFactory,
    PullRequestFactory,
    TeamMemberFactory,
)
from apps.metrics.models import PRSurvey, PRSurveyReview, PullRequest
from apps.metrics.services.survey_service import SURVEY_WINDOW, create_surveys
from apps.metrics.services.team_cache import team_data_version
from apps.perflab.testing import assert_constant_queries, assert_num_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


def merged(team, *, days_ago=2, author=None, reviewers=(), **fields):
    pr = PullRequestFactory(
        team=team,
        pr_created_at=NOW - dt.timedelta(days=days_ago, hours=6),
        merged_at=NOW - dt.timedelta(days=days_ago),
        **({"author": author} if author is not None else {}),
        **fields,
    )
    for reviewer in reviewers:
        PRReviewFactory(pull_request=pr, reviewer=reviewer)
    return pr


def surveys_of(team) -> dict[int, tuple[int | None, set[int]]]:
    """PR id -> (survey author, reviewers asked)."""
    found = {}
    for survey in PRSurvey.objects.filter(team=team).prefetch_related("reviews"):
        found[survey.pull_request_id] = (survey.author_id, {review.reviewer_id for review in survey.reviews.all()})
    return found


def test_a_merged_pr_gets_a_survey_for_its_author_and_one_review_per_reviewer():
    team = TeamFactory()
    ada, bob, cy = (TeamMemberFactory(team=team) for _ in range(3))
    pr = merged(team, author=ada, reviewers=[bob, cy, bob])  # bob reviewed twice: asked once
    created = create_surveys(team, now=NOW)
    assert (created.surveys, created.survey_reviews) == (1, 2)
    assert surveys_of(team) == {pr.id: (ada.id, {bob.id, cy.id})}
    survey = PRSurvey.objects.get()
    assert survey.author_ai_assisted is None and survey.author_responded_at is None  # asked, not answered
    assert set(PRSurveyReview.objects.values_list("quality_rating", "ai_guess", "responded_at")) == {(None, None, None)}


def test_running_again_creates_nothing_and_keeps_answers():
    team = TeamFactory()
    ada, bob = TeamMemberFactory(team=team), TeamMemberFactory(team=team)
    merged(team, author=ada, reviewers=[bob])
    create_surveys(team, now=NOW)
    PRSurvey.objects.update(author_ai_assisted=True, author_responded_at=NOW)
    version = team_data_version(team.id)
    assert create_surveys(team, now=NOW) == create_surveys(team, now=NOW + dt.timedelta(hours=1))
    again = create_surveys(team, now=NOW)
    assert (again.surveys, again.survey_reviews) == (0, 0)
    assert PRSurvey.objects.get().author_ai_assisted is True
    assert PRSurvey.objects.count() == 1 and PRSurveyReview.objects.count() == 1
    assert team_data_version(team.id) == version  # nothing created: the cache stays


def test_a_reviewer_who_comes_later_is_added_to_the_existing_survey():
    team = TeamFactory()
    ada, bob, cy = (TeamMemberFactory(team=team) for _ in range(3))
    pr = merged(team, author=ada, reviewers=[bob])
    create_surveys(team, now=NOW)
    PRReviewFactory(pull_request=pr, reviewer=cy)
    created = create_surveys(team, now=NOW)
    assert (created.surveys, created.survey_reviews) == (0, 1)
    assert surveys_of(team) == {pr.id: (ada.id, {bob.id, cy.id})}


def test_who_is_not_asked_open_old_bot_ghost_and_the_authors_own_review():
    team = TeamFactory()
    ada, bob = TeamMemberFactory(team=team), TeamMemberFactory(team=team)
    bot = TeamMemberFactory(team=team, is_bot=True, github_username="dependabot[bot]")
    surveyed = merged(team, author=ada, reviewers=[ada, bot, bob])  # own review and the bot's: not asked
    merged(team, author=bot, reviewers=[bob])  # a bot's PR: nobody to ask
    ghost = merged(team, author=ada)
    PullRequest.objects.filter(pk=ghost.pk).update(author=None)  # a deleted GitHub account
    merged(team, author=ada, days_ago=SURVEY_WINDOW.days + 1)  # merged before the window
    PullRequestFactory(team=team, author=ada, state=PullRequest.State.OPEN, merged_at=None, cycle_time_hours=None)
    create_surveys(team, now=NOW)
    assert surveys_of(team) == {surveyed.id: (ada.id, {bob.id})}


def test_an_existing_survey_is_left_as_it_is_and_other_teams_are_untouched():
    team, other = TeamFactory(), TeamFactory()
    answered = PRSurveyFactory(pull_request=merged(team), author_ai_assisted=False)
    theirs = merged(other, reviewers=[TeamMemberFactory(team=other)])
    create_surveys(team, now=NOW)
    assert PRSurvey.objects.get(team=team) == answered and PRSurvey.objects.get(team=team).author_ai_assisted is False
    assert not PRSurvey.objects.filter(pull_request=theirs).exists()


def test_creating_bumps_the_team_cache_version_once(django_capture_on_commit_callbacks):
    team = TeamFactory()
    merged(team, reviewers=[TeamMemberFactory(team=team)])
    before = team_data_version(team.id)
    with django_capture_on_commit_callbacks(execute=True):
        create_surveys(team, now=NOW)
    assert team_data_version(team.id) == before + 1


def test_two_statements_whatever_the_number_of_prs():
    def prepare(size):
        team = TeamFactory()
        people = [TeamMemberFactory(team=team) for _ in range(4)]
        for index in range(size):
            merged(team, author=people[index % 4], reviewers=[people[(index + 1) % 4], people[(index + 2) % 4]])
        return lambda: create_surveys(team, now=NOW)

    assert_constant_queries(prepare, sizes=(3, 30))
    team = TeamFactory()
    merged(team, reviewers=[TeamMemberFactory(team=team)])
    with assert_num_queries(2):  # the two INSERTs (SAVEPOINT/RELEASE left out)
        create_surveys(team, now=NOW)


def test_the_window_ends_now_by_default():
    team = TeamFactory()
    now = timezone.now()
    recent = PullRequestFactory(team=team, pr_created_at=now - dt.timedelta(days=2), merged_at=now - dt.timedelta(1))
    old_start = now - SURVEY_WINDOW - dt.timedelta(days=2)
    PullRequestFactory(team=team, pr_created_at=old_start, merged_at=old_start + dt.timedelta(days=1))
    assert create_surveys(team).surveys == 1
    assert list(PRSurvey.objects.values_list("pull_request_id", flat=True)) == [recent.id]
