"""The team sync end to end, against the loopback GitHub stand-in and the real PostgreSQL and Redis."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.integrations import team_sync
from apps.integrations.factories import GitHubIntegrationFactory
from apps.integrations.models import SyncStatus, TrackedRepository
from apps.integrations.repository_sync import set_tracked
from apps.metrics.models import Commit, PRReview, PRSurvey, PRSurveyReview, PullRequest, TeamMember
from apps.metrics.services.survey_service import SURVEY_WINDOW
from apps.perflab.capture import capture_queries
from apps.teams.factories import TeamFactory

TOKEN = "ghp_teamsync0000000000000000000000000000"
pytestmark = pytest.mark.django_db


@pytest.fixture
def start(start_github):
    """``start(**OrgSpec fields)``: a running stand-in for "acme" (stopped after the test); the API URL points at it."""
    return lambda **sizes: start_github(TOKEN, **sizes)


def connected_team():
    team = TeamFactory()
    GitHubIntegrationFactory(team=team, organization_slug="acme", access_token=TOKEN)
    return team


def track_all(team):
    team_sync.refresh_repositories(team)
    names = list(TrackedRepository.objects.filter(team=team).values_list("name_with_owner", flat=True))
    set_tracked(team=team, names=names)
    return names


def status(team, kind):
    return SyncStatus.objects.get(team=team, kind=kind)


def stub_counts(stub):
    org = stub.organization
    prs = [pr for repo in org.repositories.values() for pr in repo.pull_requests.values()]
    return {
        "members": len(org.members),
        "repositories": len(org.repositories),
        "pull_requests": len(prs),
        "reviews": sum(len(pr.reviews) for pr in prs),
        "commits": sum(len(pr.commits) for pr in prs),
    }


def run_full_sync(team):
    with capture_queries(call_sites=False) as statements:
        result = team_sync.sync_team(team)
    return result, statements.count


@pytest.mark.parametrize("size", [(6, 2, 8), (15, 3, 20)])
def test_a_full_sync_stores_the_organisation_then_an_unchanged_resync_writes_nothing(start, size, capsys):
    members, repositories, prs = size
    stub = start(members=members, repositories=repositories, prs_per_repository=prs)
    team = connected_team()
    track_all(team)
    stub.reset_log()
    result, statements = run_full_sync(team)
    expected = stub_counts(stub)
    requests = stub.request_count
    assert TrackedRepository.objects.filter(team=team).count() == expected["repositories"]
    assert TeamMember.objects.filter(team=team, is_active=True, is_bot=False).count() >= expected["members"]
    assert PullRequest.objects.filter(team=team).count() == expected["pull_requests"]
    assert PRReview.objects.filter(team=team).count() == expected["reviews"]
    assert Commit.objects.filter(team=team).count() == expected["commits"]
    pr_status = status(team, SyncStatus.Kind.PULL_REQUESTS)
    assert pr_status.state == SyncStatus.State.DONE
    assert pr_status.counts["pull_requests"] == expected["pull_requests"]
    assert status(team, SyncStatus.Kind.MEMBERS).state == SyncStatus.State.DONE
    assert result["pull_requests"]["repositories"] == repositories

    # unchanged: one PR request per repository (plus members and the repository list), nothing written
    stub.reset_log()
    with capture_queries(call_sites=False) as again:
        team_sync.sync_team(team)
    assert stub.count_operation("PullRequests") == repositories
    assert stub.count_operation("PullRequestReviews") == stub.count_operation("PullRequestCommits") == 0
    writes = [
        q.sql
        for q in again.queries
        if q.sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) and "integrations_syncstatus" not in q.sql
    ]
    assert writes == [], writes
    assert PullRequest.objects.filter(team=team).count() == expected["pull_requests"]
    status_upserts = sum("integrations_syncstatus" in q.sql for q in again.queries)
    with capsys.disabled():
        print(
            f"\nfull sync {size}: {requests} requests, {statements} statements; "
            f"unchanged re-sync: {stub.request_count} requests, {again.count} statements "
            f"({status_upserts} of them SyncStatus upserts, no other write)"
        )


def test_a_sync_surveys_the_prs_merged_in_the_last_30_days_once(start):
    end = timezone.now().replace(microsecond=0)
    stub = start(members=6, repositories=1, prs_per_repository=30, end=end, days=90)
    team = connected_team()
    track_all(team)
    team_sync.sync_team(team)
    since = timezone.now() - SURVEY_WINDOW
    recent = PullRequest.objects.filter(team=team, state="merged", merged_at__gte=since, author__is_bot=False)
    assert recent.exists() and PullRequest.objects.filter(team=team, merged_at__lt=since).exists()
    assert set(PRSurvey.objects.filter(team=team).values_list("pull_request_id", flat=True)) == set(
        recent.values_list("id", flat=True)
    )
    assert status(team, SyncStatus.Kind.PULL_REQUESTS).counts["surveys_created"] == recent.count()
    asked = PRSurveyReview.objects.filter(team=team).count()
    assert asked > 0
    # unchanged: no PR stored, so the survey statements do not run either
    stub.reset_log()
    with capture_queries(call_sites=False) as again:
        team_sync.sync_team(team)
    assert not any("metrics_prsurvey" in q.sql for q in again.queries)
    assert PRSurveyReview.objects.filter(team=team).count() == asked


def test_an_unchanged_resync_is_the_same_count_at_two_sizes(start, capsys):
    counts = []
    for size in (4, 30):
        stub = start(members=size, repositories=2, prs_per_repository=size)
        team = connected_team()
        track_all(team)
        team_sync.sync_team(team)
        stub.reset_log()
        with capture_queries(call_sites=False) as again:
            team_sync.sync_team(team)
        counts.append((again.count, stub.request_count))
        stub.stop()
    assert counts[0] == counts[1], counts
    with capsys.disabled():
        print(f"\nunchanged re-sync at 4 and 30 members and PRs a repository (statements, requests): {counts}")


def test_a_revoked_token_mid_way_fails_with_the_reason(start):
    stub = start(members=5, repositories=2, prs_per_repository=5)
    team = connected_team()
    track_all(team)
    team_sync.sync_team_members(team)
    stub.token = "ghp_someoneelse"  # revoked: every request is now 401
    stub.reset_log()
    with pytest.raises(team_sync.TokenRefused):
        team_sync.sync_tracked_repository(team, TrackedRepository.objects.filter(team=team).first().pk)
    assert stub.request_count == 1
    pr_status = status(team, SyncStatus.Kind.PULL_REQUESTS)
    assert (pr_status.state, pr_status.detail) == (SyncStatus.State.FAILED, team_sync.TOKEN_REFUSED)
    with pytest.raises(team_sync.TokenRefused):
        team_sync.sync_team_members(team)
    assert status(team, SyncStatus.Kind.MEMBERS).detail == team_sync.TOKEN_REFUSED


def test_a_deleted_repository_is_marked_and_the_others_sync(start):
    stub = start(members=5, repositories=3, prs_per_repository=6)
    team = connected_team()
    names = track_all(team)
    gone = names[0]
    stub.delete_repository(gone)
    outcomes = [team_sync.sync_tracked_repository(team, pk) for pk in team_sync.tracked_repository_ids(team)]
    assert [o["outcome"] for o in outcomes] == ["not_found", "done", "done"]
    assert TrackedRepository.objects.get(team=team, name_with_owner=gone).status == TrackedRepository.Status.NOT_FOUND
    assert set(PullRequest.objects.filter(team=team).values_list("github_repo", flat=True)) == set(names[1:])
    summary = team_sync.finish_pull_requests(team, outcomes)
    assert summary["not_found"] == 1 and gone in summary["detail"]
    assert summary["state"] == SyncStatus.State.DONE and summary["repositories"] == 3


def test_a_spent_rate_limit_stops_after_the_committed_page_and_says_when(start):
    stub = start(members=5, repositories=1, prs_per_repository=30)
    team = connected_team()
    [name] = track_all(team)
    repository = TrackedRepository.objects.get(team=team, name_with_owner=name)
    reset_at = (timezone.now() + dt.timedelta(minutes=20)).replace(microsecond=0)
    stub.set_rate_limit(remaining=1, reset_at=reset_at)  # the first page fits, the next would not
    stub.reset_log()
    with pytest.raises(team_sync.RetryAt) as raised:
        team_sync.sync_tracked_repository(team, repository.pk, page_size=10)
    assert raised.value.retry_at == reset_at
    assert abs(raised.value.wait_seconds - 20 * 60) <= 2
    assert stub.count_operation("PullRequests") == 1  # the page that would not fit was not asked for
    assert PullRequest.objects.filter(team=team).count() == 10  # the first page is committed
    repository.refresh_from_db()
    assert repository.resume_cursor
    pr_status = status(team, SyncStatus.Kind.PULL_REQUESTS)
    assert (pr_status.state, pr_status.retry_at) == (SyncStatus.State.RATE_LIMITED, reset_at)

    stub.set_rate_limit(remaining=5000)  # after the reset: the run resumes from its cursor
    outcome = team_sync.sync_tracked_repository(team, repository.pk, page_size=10)
    assert outcome["outcome"] == "done" and outcome["resumed"]
    assert PullRequest.objects.filter(team=team).count() == 30


def test_githubs_rate_limited_answer_is_a_retry_at_its_reset(start):
    stub = start(members=5, repositories=1, prs_per_repository=5)
    team = connected_team()
    [name] = track_all(team)
    reset_at = (timezone.now() + dt.timedelta(minutes=5)).replace(microsecond=0)
    stub.set_rate_limit(remaining=0, reset_at=reset_at)
    with pytest.raises(team_sync.RetryAt) as raised:
        team_sync.sync_tracked_repository(team, TrackedRepository.objects.get(name_with_owner=name).pk)
    assert abs(raised.value.wait_seconds - 300) <= 2
    assert status(team, SyncStatus.Kind.PULL_REQUESTS).state == SyncStatus.State.RATE_LIMITED


def test_the_lock_refuses_a_second_sync_of_the_same_repository(start):
    stub = start(members=3, repositories=1, prs_per_repository=3)
    team = connected_team()
    [name] = track_all(team)
    repository = TrackedRepository.objects.get(team=team, name_with_owner=name)
    held = team_sync.repository_lock(repository.pk)
    assert held.acquire(blocking=False)
    try:
        stub.reset_log()
        assert team_sync.sync_tracked_repository(team, repository.pk)["outcome"] == "locked"
        assert stub.request_count == 0
    finally:
        held.release()
    assert team_sync.sync_tracked_repository(team, repository.pk)["outcome"] == "done"
    assert team_sync.repository_lock(repository.pk).acquire(blocking=False)  # released after the run


def test_a_team_without_a_token_fails_with_a_reason():
    team = TeamFactory()
    GitHubIntegrationFactory(team=team, organization_slug="acme", access_token="")
    with pytest.raises(team_sync.TokenRefused):
        team_sync.sync_team_members(team)
    assert status(team, SyncStatus.Kind.MEMBERS).detail == team_sync.NO_TOKEN


def test_a_search_adds_repositories_without_marking_the_others_gone(start):
    start(members=3, repositories=4, prs_per_repository=1)
    team = connected_team()
    names = track_all(team)
    short = names[0].split("/")[1]
    found = team_sync.list_repositories(team, short)
    assert names[0] in [r.name_with_owner for r in found]
    team_sync.refresh_repositories(team, short)
    assert not TrackedRepository.objects.filter(team=team, status=TrackedRepository.Status.NOT_FOUND).exists()


def test_a_full_sync_costs_a_fixed_number_of_statements_and_requests_per_page(start, capsys):
    """Two sizes, the same shape: requests = member pages + 1 (repository list) + PR pages; statements grow
    by at most 8 a committed page (6 outside a test's transaction, whose savepoint adds 2), nothing per PR."""
    measured = []
    for prs in (100, 300):  # 2 and 6 pages of 50 per repository
        stub = start(members=40, repositories=2, prs_per_repository=prs)
        team = connected_team()
        track_all(team)
        stub.reset_log()
        with capture_queries(call_sites=False) as statements:
            result = team_sync.sync_team(team)
        pages = result["pull_requests"]["pages"]
        assert pages == 2 * prs // 50
        assert stub.count_operation("PullRequests") == pages
        assert stub.request_count == 1 + 1 + pages  # 40 members: one page; no nested overflow at 2 reviews, 3 commits
        measured.append((prs, pages, stub.request_count, statements.count))
        stub.stop()
    (_, pages_a, _, statements_a), (_, pages_b, _, statements_b) = measured
    per_page = (statements_b - statements_a) / (pages_b - pages_a)
    # a page's people upsert is skipped when everyone on it is known already: at most 8, not exactly
    assert 6 <= per_page <= 8, measured
    with capsys.disabled():
        print(f"\nfull sync (2 repositories x PRs, pages, requests, statements): {measured}; {per_page:.0f} a page")


def test_a_token_revoked_mid_way_keeps_the_committed_pages_and_is_not_retried(start):
    stub = start(members=5, repositories=1, prs_per_repository=30)
    team = connected_team()
    [name] = track_all(team)
    repository = TrackedRepository.objects.get(team=team, name_with_owner=name)
    stub.set_rate_limit(remaining=1)  # the run stops after its first page...
    with pytest.raises(team_sync.RetryAt):
        team_sync.sync_tracked_repository(team, repository.pk, page_size=10)
    stub.set_rate_limit(remaining=5000)
    stub.token = "ghp_revoked"  # ...and the token is revoked before it resumes
    stub.reset_log()
    with pytest.raises(team_sync.TokenRefused):
        team_sync.sync_tracked_repository(team, repository.pk, page_size=10)
    assert stub.request_count == 1
    assert PullRequest.objects.filter(team=team).count() == 10  # page 1 stays
    repository.refresh_from_db()
    assert repository.resume_cursor and repository.status == TrackedRepository.Status.FORBIDDEN
    pr_status = status(team, SyncStatus.Kind.PULL_REQUESTS)
    assert (pr_status.state, pr_status.detail) == (SyncStatus.State.FAILED, team_sync.TOKEN_REFUSED)
    summary = team_sync.finish_pull_requests(team, [{"repository": name, "outcome": "token_refused"}])
    assert (summary["state"], summary["detail"]) == (SyncStatus.State.FAILED, team_sync.TOKEN_REFUSED)


def test_a_spent_rate_limit_on_the_members_is_a_retry_at_the_reset(start):
    stub = start(members=5, repositories=1, prs_per_repository=1)
    team = connected_team()
    reset_at = (timezone.now() + dt.timedelta(minutes=7)).replace(microsecond=0)
    stub.set_rate_limit(remaining=0, reset_at=reset_at)
    with pytest.raises(team_sync.RetryAt) as raised:
        team_sync.sync_team(team)
    assert abs(raised.value.wait_seconds - 7 * 60) <= 2
    members = status(team, SyncStatus.Kind.MEMBERS)
    assert members.state == SyncStatus.State.RATE_LIMITED and abs((members.retry_at - reset_at).total_seconds()) <= 2
    assert not TeamMember.objects.filter(team=team).exists()
