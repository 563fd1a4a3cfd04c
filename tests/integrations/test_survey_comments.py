"""Survey delivery: one PR comment with the author's and reviewers' links, posted to the loopback GitHub stand-in."""

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from apps.integrations import survey_comments, team_sync
from apps.integrations.factories import GitHubIntegrationFactory
from apps.integrations.models import GitHubIntegration, SurveyComment, TrackedRepository
from apps.integrations.repository_sync import set_tracked
from apps.integrations.survey_comments import CLAIM_TIMEOUT, COMMENT_MERGED_WITHIN, post_survey_comments
from apps.integrations.tasks import create_surveys_and_comments_task
from apps.metrics.factories import PRReviewFactory, PullRequestFactory, TeamMemberFactory
from apps.metrics.models import PRSurvey, PRSurveyReview
from apps.metrics.services.survey_service import SURVEY_OPEN_FOR, create_surveys
from apps.perflab.testing import assert_constant_queries, assert_num_queries
from apps.teams.factories import TeamFactory

TOKEN = "ghp_surveycomments00000000000000000000000"
SITE = "https://tformance.example.com"
LINK = re.compile(r"\[Answer\]\((?P<url>[^)\s]+)\)")
pytestmark = pytest.mark.django_db


@pytest.fixture
def stub(start_github, settings):
    """The stand-in for "acme": two repositories of 12 PRs each (numbers 1..12); links point at SITE."""
    settings.SITE_URL = SITE
    return start_github(TOKEN, members=6, repositories=2, prs_per_repository=12)


def repositories(stub) -> list[str]:
    return sorted(repo.name_with_owner for repo in stub.organization.repositories.values())


def surveyed_team(stub, prs: int, *, reviewers: int = 2, enabled: bool = True, merged_ago=dt.timedelta(hours=2)):
    """A team connected to the stand-in whose ``prs`` merged PRs (split over both repositories, numbers GitHub
    knows) have surveys for their author and ``reviewers`` reviewers; survey comments on since an hour ago."""
    now = timezone.now()
    team = TeamFactory()
    GitHubIntegrationFactory(
        team=team, organization_slug="acme", access_token=TOKEN, post_survey_comments=enabled,
        survey_comments_enabled_at=now - dt.timedelta(hours=1) if enabled else None,
    )  # fmt: skip
    author = TeamMemberFactory(team=team, github_username=f"author-{team.pk}")
    people = [TeamMemberFactory(team=team, github_username=f"reviewer{i}-{team.pk}") for i in range(reviewers)]
    names = repositories(stub)
    for index in range(prs):
        pr = merged_pr(team, names[index % 2], index // 2 + 1, now - merged_ago, author=author)
        for person in people:
            PRReviewFactory(team=team, pull_request=pr, reviewer=person)
    create_surveys(team)
    return team


def merged_pr(team, repository: str, number: int, merged_at: dt.datetime, **fields):
    return PullRequestFactory(team=team, github_repo=repository, github_pr_id=number, merged_at=merged_at,
                              pr_created_at=merged_at - dt.timedelta(hours=5), **fields)  # fmt: skip


def test_with_the_setting_off_nothing_is_posted(stub):
    team = surveyed_team(stub, 3, enabled=False)
    stub.reset_log()
    with assert_num_queries(1):  # the setting's lookup, nothing else
        result = post_survey_comments(team)
    assert result.stopped == "off" and result.posted == 0
    assert stub.comments() == [] and stub.request_count == 0
    assert not SurveyComment.objects.exists()


def test_one_comment_per_pr_mentions_the_author_and_each_reviewer_with_working_links(stub):
    team = surveyed_team(stub, 4, reviewers=2)
    result = post_survey_comments(team)
    assert (result.posted, result.failed, result.stopped) == (4, 0, "")
    surveys = PRSurvey.objects.filter(team=team).select_related("pull_request", "author")
    assert len(stub.comments()) == 4
    anonymous = Client()
    for survey in surveys:
        pr = survey.pull_request
        [comment] = stub.comments(pr.github_repo, pr.github_pr_id)
        reviewers = list(
            PRSurveyReview.objects.filter(survey=survey).values_list("reviewer__github_username", flat=True)
        )
        assert len(reviewers) == 2
        lines = comment.body.splitlines()
        for login in [survey.author.github_username, *reviewers]:
            [line] = [line for line in lines if f"@{login} " in line]
            [url] = LINK.findall(line)
            assert url.startswith(f"{SITE}/surveys/")
            page = anonymous.get(urlsplit(url).path)  # the link works, without logging in
            assert page.status_code == 200, (login, page.content[:300])
        assert len(LINK.findall(comment.body)) == 3  # author + two reviewers, nobody else
        # GitHub's answer is recorded: the comment's id and address
        recorded = SurveyComment.objects.get(survey=survey)
        assert recorded.team_id == team.pk and recorded.github_comment_id == comment.database_id
        assert recorded.html_url.endswith(f"#issuecomment-{comment.database_id}") and recorded.posted_at
    # the author's link answers as the author, a reviewer's as that reviewer
    survey = surveys[0]
    [comment] = stub.comments(survey.pull_request.github_repo, survey.pull_request.github_pr_id)
    author_link = LINK.findall(next(line for line in comment.body.splitlines() if "(author)" in line))[0]
    assert anonymous.post(urlsplit(author_link).path, {"ai_assisted": "yes"}).status_code in (200, 302)
    assert PRSurvey.objects.get(pk=survey.pk).author_ai_assisted is True


def test_a_second_run_posts_nothing_more(stub):
    team = surveyed_team(stub, 3)
    assert post_survey_comments(team).posted == 3
    stub.reset_log()
    with assert_num_queries(2):  # the setting, and the claim that finds nothing
        again = post_survey_comments(team)
    assert (again.posted, again.failed) == (0, 0)
    assert stub.request_count == 0 and len(stub.comments()) == 3
    assert SurveyComment.objects.filter(team=team, github_comment_id__isnull=False).count() == 3


def test_a_failed_post_leaves_the_others_posted_and_is_retried_next_run(stub):
    team = surveyed_team(stub, 4)
    failing = PRSurvey.objects.filter(team=team).select_related("pull_request").order_by("pk")[1].pull_request
    stub.fail_next(502, body=b'{"message": "Server Error"}',
                   path=f"/repos/{failing.github_repo}/issues/{failing.github_pr_id}/comments")  # fmt: skip
    first = post_survey_comments(team)
    assert (first.posted, first.failed, first.stopped) == (3, 1, "")
    assert stub.comments(failing.github_repo, failing.github_pr_id) == []
    assert not SurveyComment.objects.filter(survey__pull_request=failing).exists()  # released, not lost
    second = post_survey_comments(team)
    assert (second.posted, second.failed) == (1, 0)
    assert len(stub.comments(failing.github_repo, failing.github_pr_id)) == 1
    assert len(stub.comments()) == 4  # one per PR, none twice
    assert post_survey_comments(team).posted == 0


def test_a_pr_github_does_not_know_fails_alone(stub):
    team = surveyed_team(stub, 2)
    merged_pr(team, repositories(stub)[0], 999, timezone.now())
    create_surveys(team)
    result = post_survey_comments(team)
    assert (result.posted, result.failed) == (2, 1)
    assert SurveyComment.objects.filter(team=team).count() == 2


def test_a_rate_limit_stops_the_run_and_the_next_posts_them_all(stub):
    team = surveyed_team(stub, 3)
    first_pr = sorted(PRSurvey.objects.filter(team=team).values_list("pull_request__github_repo",
                                                                       "pull_request__github_pr_id"))[0]  # fmt: skip
    stub.fail_next(403, {"Retry-After": "60"}, b'{"message": "You have exceeded a secondary rate limit"}',
                   path=f"/repos/{first_pr[0]}/issues/{first_pr[1]}/comments")  # fmt: skip
    stopped = post_survey_comments(team)
    assert stopped.posted == 0 and stopped.failed == 3 and "RateLimited" in stopped.stopped
    assert stub.comments() == [] and not SurveyComment.objects.exists()
    assert post_survey_comments(team).posted == 3


def test_the_statement_count_is_the_same_at_two_sizes(stub, capsys):
    def prepare(size):
        team = surveyed_team(stub, size, reviewers=3)
        return lambda: post_survey_comments(team)

    small, large = assert_constant_queries(prepare, sizes=(2, 10))
    # the setting; the claim with everything the comments need; the record of the posted comments
    assert small.count == large.count == 3, small.statements()
    with capsys.disabled():
        print(f"\npost_survey_comments: {small.count} statements at 2 PRs, {large.count} at 10 (+1 request a PR)")


def test_a_failure_adds_one_statement_whatever_the_size(stub):
    def prepare(size):
        team = surveyed_team(stub, size)
        pr = PRSurvey.objects.filter(team=team).select_related("pull_request").first().pull_request
        stub.fail_next(500, path=f"/repos/{pr.github_repo}/issues/{pr.github_pr_id}/comments")
        return lambda: post_survey_comments(team)

    small, large = assert_constant_queries(prepare, sizes=(2, 10))
    assert small.count == 4, small.statements()  # ... and the release of the failed claim


def test_another_teams_surveys_are_never_posted(stub):
    ours = surveyed_team(stub, 2)
    theirs = surveyed_team(stub, 2)
    assert post_survey_comments(ours).posted == 2
    assert not SurveyComment.objects.filter(team=theirs).exists()
    assert all(c.body.count(f"-{ours.pk} ") == 3 for c in stub.comments())  # only our people are mentioned
    assert post_survey_comments(theirs).posted == 2
    assert SurveyComment.objects.filter(team=ours).count() == SurveyComment.objects.filter(team=theirs).count() == 2


def test_only_surveys_created_since_the_setting_was_turned_on_and_recent_merges_get_a_comment(stub):
    team = surveyed_team(stub, 2, enabled=False)  # surveyed while off
    assert survey_comments.set_survey_comments(team=team, enabled=True)
    assert post_survey_comments(team).posted == 0  # turning it on does not comment on what was surveyed before
    # surveyed after turning it on, but merged longer ago than COMMENT_MERGED_WITHIN: quiet too
    old = merged_pr(team, repositories(stub)[0], 7, timezone.now() - COMMENT_MERGED_WITHIN - dt.timedelta(hours=1))
    fresh = merged_pr(team, repositories(stub)[0], 8, timezone.now() - dt.timedelta(minutes=5))
    create_surveys(team)
    assert post_survey_comments(team).posted == 1
    assert [(c.repository, c.number) for c in stub.comments()] == [(fresh.github_repo, 8)]
    assert not SurveyComment.objects.filter(survey__pull_request=old).exists()
    # a closed survey (older than SURVEY_OPEN_FOR) gets none, whatever else
    PRSurvey.objects.filter(team=team).update(created_at=timezone.now() - SURVEY_OPEN_FOR - dt.timedelta(hours=1))
    SurveyComment.objects.all().delete()
    assert post_survey_comments(team).posted == 0


def test_turning_it_on_starts_now_off_keeps_the_start_and_on_again_restarts(stub):
    team = surveyed_team(stub, 1, enabled=False)
    at = timezone.now() - dt.timedelta(days=1)
    assert survey_comments.set_survey_comments(team=team, enabled=True, now=at)
    assert survey_comments.set_survey_comments(team=team, enabled=True)  # already on: the start stays
    integration = GitHubIntegration.objects.get(team=team)
    assert integration.post_survey_comments and integration.survey_comments_enabled_at == at
    assert survey_comments.set_survey_comments(team=team, enabled=False)
    assert survey_comments.set_survey_comments(team=team, enabled=True)
    assert GitHubIntegration.objects.get(team=team).survey_comments_enabled_at > at
    assert not survey_comments.set_survey_comments(team=TeamFactory(), enabled=True)  # no integration


def test_the_admins_checkbox_stamps_the_start_on_save(stub):
    integration = GitHubIntegrationFactory(team=TeamFactory(), post_survey_comments=False)
    integration.post_survey_comments = True
    integration.save(update_fields=["post_survey_comments"])
    integration.refresh_from_db()
    assert integration.survey_comments_enabled_at is not None


def test_a_claim_is_skipped_while_fresh_and_taken_over_once_stale(stub):
    team = surveyed_team(stub, 2)
    first, second = PRSurvey.objects.filter(team=team).order_by("pk")
    now = timezone.now()
    SurveyComment.objects.create(team=team, survey=first, claimed_at=now)  # another run is posting it
    SurveyComment.objects.create(team=team, survey=second, claimed_at=now - CLAIM_TIMEOUT - dt.timedelta(minutes=1))
    result = post_survey_comments(team)
    assert result.posted == 1  # the dead run's claim is taken over; the live one's is left to it
    assert SurveyComment.objects.get(survey=second).github_comment_id is not None
    assert SurveyComment.objects.get(survey=first).github_comment_id is None


def test_a_survey_without_reviewers_mentions_its_author_only(stub):
    team = surveyed_team(stub, 1, reviewers=0)
    assert post_survey_comments(team).posted == 1
    [comment] = stub.comments()
    assert len(LINK.findall(comment.body)) == 1 and "(author)" in comment.body and "(reviewer)" not in comment.body


def test_a_refused_token_stops_the_run_and_posts_nothing(stub):
    team = surveyed_team(stub, 2)
    GitHubIntegration.objects.filter(team=team).update(access_token="ghp_wrong")
    result = post_survey_comments(team)
    assert result.posted == 0 and result.failed == 2 and "InvalidToken" in result.stopped
    assert not SurveyComment.objects.exists()


# --- the callers: the sync and the webhook's task ---------------------------------------------------------------


def _connected(enabled: bool):
    team = TeamFactory()
    GitHubIntegrationFactory(team=team, organization_slug="acme", access_token=TOKEN)
    survey_comments.set_survey_comments(team=team, enabled=enabled, now=timezone.now() - dt.timedelta(minutes=1))
    team_sync.refresh_repositories(team)
    set_tracked(team=team, names=list(TrackedRepository.objects.filter(team=team).values_list("name_with_owner",
                                                                                             flat=True)))  # fmt: skip
    return team


@pytest.mark.parametrize("enabled", [True, False])
def test_the_sync_posts_the_comments_of_the_surveys_it_created_once(start_github, settings, enabled):
    settings.SITE_URL = SITE
    now = timezone.now().replace(microsecond=0)
    stub = start_github(TOKEN, members=6, repositories=2, prs_per_repository=15, end=now, days=2)
    team = _connected(enabled)
    result = team_sync.sync_team(team)
    created = PRSurvey.objects.filter(team=team).count()
    assert created > 0
    recent = PRSurvey.objects.filter(team=team, pull_request__merged_at__gte=timezone.now() - COMMENT_MERGED_WITHIN)
    if not enabled:
        assert stub.comments() == [] and not SurveyComment.objects.exists()
        return
    assert len(stub.comments()) == recent.count() == created  # merged within two days: all recent
    assert result["pull_requests"]["survey_comments_posted"] == created
    for comment in stub.comments():
        assert comment.body.count("[Answer](") >= 1
    again = team_sync.sync_team(team)
    assert len(stub.comments()) == created
    assert "survey_comments_posted" not in again["pull_requests"]


@pytest.mark.django_db(transaction=True)
def test_the_webhooks_survey_task_creates_the_surveys_then_posts_their_comments(stub):
    team = surveyed_team(stub, 0)
    author = TeamMemberFactory(team=team)
    merged_pr(team, repositories(stub)[1], 3, timezone.now(), author=author)
    outcome = create_surveys_and_comments_task(team.pk)
    assert outcome["surveys"] == 1 and outcome["comments"] == {"posted": 1, "failed": 0}
    assert [(c.repository, c.number) for c in stub.comments()] == [(repositories(stub)[1], 3)]
    assert create_surveys_and_comments_task(team.pk)["comments"] == {"posted": 0, "failed": 0}
    assert create_surveys_and_comments_task(10**12) == {"skipped": "no such team"}
