"""GitHubClient's GraphQL side and token check against the loopback stand-in (real HTTP, no mocks).

Members, repositories and pull request pages with their reviews and commits, every error mode the
sync must tell apart, and check_access for a good token and for each thing that can be wrong.
"""

import datetime as dt
import json
import time

import pytest

from apps.integrations.github import (
    Forbidden,
    GitHubClient,
    GitHubUnavailable,
    GraphQLError,
    InvalidToken,
    MalformedResponse,
    MissingPermission,
    NotFound,
    OrganizationNotFound,
    RateLimited,
)
from apps.integrations.github_records import GitHubUser, PullRequestPage, Repository

TOKEN = "ghp_graphql_test"
DAY = dt.date(2026, 3, 2)


@pytest.fixture
def start(start_github):
    """``start(options, **OrgSpec fields)``: a started stand-in for "acme" serving that data; the app points at it."""
    return lambda options=None, **sizes: start_github(TOKEN, options=options, **sizes)


@pytest.fixture
def github(start):
    return start(members=8, repositories=3, prs_per_repository=12)


@pytest.fixture
def client():
    with GitHubClient(TOKEN) as github_client:
        yield github_client


def all_pull_requests(client, repository, **options):
    pages = list(client.pull_request_pages(repository, **options))
    return pages, [pr for page in pages for pr in page.pull_requests]


# --- members ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("members", "requests", "sizes"), [(10, 1, [10]), (250, 3, [100, 100, 50])])
def test_members_cost_one_request_per_hundred(start, client, members, requests, sizes):
    github = start(members=members, repositories=1, prs_per_repository=1)
    pages = list(client.organization_members("acme"))
    assert [len(page) for page in pages] == sizes
    assert client.requests == github.count_operation("Members") == requests == github.request_count
    got = [user for page in pages for user in page]
    expected = github.organization.members
    assert [(u.login, u.database_id, u.name, u.avatar_url) for u in got] == [
        (m.login, m.database_id, m.name, m.avatar_url) for m in expected
    ]
    assert len({u.database_id for u in got}) == members and not any(u.is_bot for u in got)


def test_a_bot_login_is_flagged_even_without_its_typename(github, client):
    answer = {"data": {
        "organization": {"membersWithRole": {
            "nodes": [
                {"__typename": "User", "login": "acme-ci[bot]", "databaseId": 7, "name": None, "avatarUrl": ""},
                {"__typename": "User", "login": "ada", "databaseId": 8, "name": "Ada", "avatarUrl": "a.png"},
            ],
            "pageInfo": {"hasNextPage": False, "endCursor": "x"},
        }},
        "rateLimit": {"cost": 1, "remaining": 4999, "resetAt": "2026-03-02T10:00:00Z"},
    }}
    github.fail_next(200, {"Content-Type": "application/json"}, json.dumps(answer).encode(), operation="Members")
    (page,) = client.organization_members("acme")
    assert page == [GitHubUser("acme-ci[bot]", 7, "", "", is_bot=True), GitHubUser("ada", 8, "Ada", "a.png")]


# --- repositories ----------------------------------------------------------------------------


def test_repositories_page_by_name(start, client):
    github = start(members=2, repositories=5, prs_per_repository=1)
    pages = list(client.organization_repositories("acme", page_size=2))
    assert [len(page) for page in pages] == [2, 2, 1] and github.count_operation("Repositories") == 3
    names = [repo.name_with_owner for page in pages for repo in page]
    assert names == sorted(f"acme/{r.name}" for r in github.organization.repositories.values())
    api = github.repository("api")
    assert pages[0][0] == Repository("acme/api", api.database_id, is_archived=False, is_private=api.is_private)


def test_repositories_searched_by_name(start, client):
    github = start(members=2, repositories=15, prs_per_repository=1)
    found = [r.name_with_owner for page in client.organization_repositories("acme", query=" service ") for r in page]
    assert found == ["acme/auth-service"] and github.count_operation("SearchRepositories") == 1
    assert json.loads(github.requests[0].body)["variables"]["query"] == "org:acme in:name service"
    pages = list(client.organization_repositories("acme", query="a", page_size=3))
    names = [r.name_with_owner.removeprefix("acme/") for page in pages for r in page]
    assert names == sorted(n for n in github.organization.repositories if "a" in n) and len(pages) > 1
    assert list(client.organization_repositories("acme", query="nothing-like-it")) == [[]]


# --- pull request pages ----------------------------------------------------------------------


def test_pull_request_pages_newest_update_first_with_cursors(github, client):
    pages, prs = all_pull_requests(client, "acme/api", page_size=5)
    assert [len(page.pull_requests) for page in pages] == [5, 5, 2]
    assert [page.has_next_page for page in pages] == [True, True, False]
    assert [page.requests for page in pages] == [1, 1, 1] and github.count_operation("PullRequests") == 3
    assert [pr.updated_at for pr in prs] == sorted((pr.updated_at for pr in prs), reverse=True)
    assert sorted(pr.number for pr in prs) == list(range(1, 13))
    assert all(isinstance(page, PullRequestPage) and page.repository == "acme/api" for page in pages)

    resumed = next(client.pull_request_pages("acme/api", page_size=5, after=pages[0].end_cursor))
    assert resumed.pull_requests == pages[1].pull_requests

    _, at_fifty = all_pull_requests(client, Repository("acme/api", 1), page_size=50)
    assert at_fifty == prs  # page size changes the requests, not the records


def test_records_are_complete_and_faithful(github, client):
    _, prs = all_pull_requests(client, "acme/api")
    by_number = {pr.number: pr for pr in prs}
    for number, stored in github.repository("api").pull_requests.items():
        pr = by_number[number]
        assert (pr.database_id, pr.title, pr.state, pr.additions, pr.deletions, pr.head_ref_name) == (
            stored.database_id, stored.title, stored.state, stored.additions, stored.deletions, stored.head_ref_name
        )
        assert (pr.created_at, pr.updated_at, pr.merged_at, pr.closed_at) == (
            stored.created_at, stored.updated_at, stored.merged_at, stored.closed_at
        )
        assert [r.database_id for r in pr.reviews] == [r.database_id for r in stored.reviews]
        assert [(c.oid, c.additions, c.deletions, c.committed_at) for c in pr.commits] == [
            (c.oid, c.additions, c.deletions, c.committed_at) for c in stored.commits
        ]
        assert len(pr.reviews) == 2 and len(pr.commits) == 3 and pr.created_at.tzinfo == dt.UTC
    bot, outsider, ghost = by_number[1].author, by_number[2].author, by_number[3].author
    assert bot.is_bot and bot.login.endswith("[bot]") and bot.login == github.pull_request("api", 1).author.login
    assert all(c.author is None for c in by_number[1].commits)  # a bot's commits link to no user
    assert not outsider.is_bot and outsider.login in {a.login for a in github.organization.outside_contributors}
    assert ghost is None
    assert {pr.author.login for pr in prs if pr.author} - {m.login for m in github.organization.members}


def test_a_pr_with_150_reviews_is_completed_and_the_requests_counted(github, client):
    for index in range(148):
        github.add_review("api", 5, state="COMMENTED", at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
                          + dt.timedelta(minutes=index))
    for _ in range(58):
        github.add_commit("api", 5)
    github.reset_log()
    first = next(client.pull_request_pages("acme/api", page_size=10, reviews_per_pr=25, commits_per_pr=50))
    pr = first.pull_requests[0]
    stored = github.pull_request("api", 5)
    assert pr.number == 5 and len(pr.reviews) == 150 and len(pr.commits) == 61
    assert [r.database_id for r in pr.reviews] == [r.database_id for r in stored.reviews]
    assert [c.oid for c in pr.commits] == [c.oid for c in stored.commits]
    assert all(len(other.reviews) == 2 for other in first.pull_requests[1:])
    # 1 page + reviews 25 -> +100 -> +25 (2 requests) + commits 50 -> +11 (1 request)
    assert first.requests == 4 == client.requests == github.request_count
    assert github.request_counts() == {"PullRequests": 1, "PullRequestReviews": 2, "PullRequestCommits": 1}
    assert first.rate_limit.remaining == github.rate_limit_remaining  # the last answer's


def test_an_incremental_sync_finds_what_changed_first(github, client):
    _, before = all_pull_requests(client, "acme/web")
    github.update_pull_request("web", 7, title="Retitled", state="MERGED")
    review = github.add_review("web", 9, state="CHANGES_REQUESTED")
    github.reset_log()
    page = next(client.pull_request_pages("acme/web", page_size=2))
    assert [pr.number for pr in page.pull_requests] == [9, 7] and github.request_count == 1
    assert page.pull_requests[1].title == "Retitled" and page.pull_requests[1].merged_at is not None
    assert page.pull_requests[0].reviews[-1].database_id == review.database_id
    assert page.pull_requests[0].updated_at > max(pr.updated_at for pr in before)


def test_low_rate_limit_is_reported_on_the_page(github, client):
    reset = dt.datetime(2026, 12, 31, 12, 0, tzinfo=dt.UTC)
    github.set_rate_limit(remaining=3, reset_at=reset)
    page = next(client.pull_request_pages("acme/api", page_size=5))
    assert (page.rate_limit.remaining, page.rate_limit.reset_at, page.rate_limit.cost) == (2, reset, 1)


# --- errors ----------------------------------------------------------------------------------


def test_a_bad_token_is_invalid(github):
    with GitHubClient("wrong") as intruder:
        with pytest.raises(InvalidToken) as excinfo:
            next(intruder.organization_members("acme"))
        assert excinfo.value.status == 401 and "Bad credentials" in str(excinfo.value)
        assert excinfo.value.url.endswith("/graphql") and "(Members)" in str(excinfo.value)


def test_a_deleted_repository_and_an_unknown_organisation_are_not_found(github, client):
    github.delete_repository("api")
    with pytest.raises(NotFound, match="acme/api") as excinfo:
        next(client.pull_request_pages("acme/api"))
    assert not isinstance(excinfo.value, OrganizationNotFound)
    with pytest.raises(OrganizationNotFound, match="nope"):
        next(client.organization_members("nope"))


def test_a_missing_permission_is_forbidden_and_named(github, client):
    github.deny("pull_requests", "members")
    with pytest.raises(Forbidden, match="Resource not accessible") as excinfo:
        next(client.pull_request_pages("acme/api"))
    assert isinstance(excinfo.value, MissingPermission) and excinfo.value.permissions == ["pull requests"]
    with pytest.raises(MissingPermission) as excinfo:
        next(client.organization_members("acme"))
    assert excinfo.value.permissions == ["members"] and not excinfo.value.retryable


def test_a_classic_token_without_the_scope_is_forbidden_too(start, client):
    github = start({"scopes": ["repo"]}, members=2, repositories=1, prs_per_repository=1)
    github.deny("members")
    with pytest.raises(Forbidden, match="read:org") as excinfo:
        next(client.organization_members("acme"))
    assert excinfo.value.permissions == ["members"]


@pytest.mark.parametrize(
    ("status", "headers", "body", "wait"),
    [
        (429, {"Retry-After": "7"}, b"{}", 7),
        (403, {"Retry-After": "30"}, b'{"message": "You have exceeded a secondary rate limit."}', 30),
        (403, {}, b'{"message": "You have exceeded a secondary rate limit."}', 60),
    ],
)
def test_rate_limits_say_how_long_to_wait(github, client, status, headers, body, wait):
    github.fail_next(status, headers, body, operation="PullRequests")
    with pytest.raises(RateLimited) as excinfo:
        next(client.pull_request_pages("acme/api"))
    assert excinfo.value.wait_seconds == wait and excinfo.value.status == status and excinfo.value.retryable


def test_an_exhausted_graphql_budget_waits_until_the_reset(github, client):
    github.set_rate_limit(remaining=0, reset_at=dt.datetime.fromtimestamp(int(time.time()) + 120, dt.UTC))
    with pytest.raises(RateLimited) as excinfo:
        next(client.organization_members("acme"))
    assert 118 <= excinfo.value.wait_seconds <= 121 and "RATE_LIMITED" not in str(excinfo.value)
    assert "rate limit" in str(excinfo.value)


def test_malformed_answers_name_the_url_and_operation(github, client):
    github.fail_next(200, {}, b"<html>unicorn</html>", operation="PullRequests")
    with pytest.raises(MalformedResponse, match=r"/graphql \(PullRequests\): malformed JSON"):
        next(client.pull_request_pages("acme/api"))
    missing = {"data": {"organization": {"membersWithRole": {"nodes": [{"login": "ada"}]}}}}
    github.fail_next(200, {}, json.dumps(missing).encode(), operation="Members")
    with pytest.raises(MalformedResponse, match=r"\(Members\): unexpected GraphQL answer"):
        next(client.organization_members("acme"))


def test_other_graphql_errors_are_named_with_their_messages(github, client):
    github.fail_graphql_next([{"message": "Something went wrong while executing your query.", "type": "INTERNAL"}])
    with pytest.raises(GraphQLError) as excinfo:
        next(client.organization_repositories("acme"))
    assert excinfo.value.messages == ["Something went wrong while executing your query."]
    assert excinfo.value.types == ["INTERNAL"] and excinfo.value.operation == "Repositories"
    assert "Something went wrong" in str(excinfo.value) and not excinfo.value.retryable


def test_an_overflow_page_that_fails_fails_the_page(github, client):
    for _ in range(30):
        github.add_review("api", 2)
    github.fail_next(502, operation="PullRequestReviews")
    with pytest.raises(GitHubUnavailable) as excinfo:
        next(client.pull_request_pages("acme/api", reviews_per_pr=10))
    assert excinfo.value.status == 502


def test_sizes_beyond_what_github_allows_are_refused_before_any_request(github, client):
    with pytest.raises(ValueError, match="page_size"):
        next(client.pull_request_pages("acme/api", page_size=101))
    with pytest.raises(ValueError, match="owner/name"):
        next(client.pull_request_pages("api"))
    assert client.requests == 0


def test_the_graphql_url_beside_github_enterprise_rest():
    assert str(GitHubClient("t", base_url="https://api.github.com").graphql_url) == "https://api.github.com/graphql"
    ghes = GitHubClient("t", base_url="https://ghe.example.com/api/v3/")
    assert str(ghes.graphql_url) == "https://ghe.example.com/api/graphql"


# --- check_access ----------------------------------------------------------------------------


def test_a_good_token_may_read_everything(start, client):
    github = start({"viewer": "ada", "scopes": ["read:org", "repo", "manage_billing:copilot"]}, members=3,
                   repositories=2, prs_per_repository=2)
    github.set_users(["ada"], [DAY])
    report = client.check_access("ACME")
    assert (report.login, report.organization) == ("ada", "acme")
    assert (report.can_read_members, report.can_read_pull_requests, report.can_read_copilot) == (True, True, True)
    assert report.scopes == ("read:org", "repo", "manage_billing:copilot") and report.notes == ()
    assert client.requests == github.request_count == 6  # /user, /orgs, members, repos, PRs, Copilot


def test_check_access_with_a_bad_token_or_an_unknown_organisation(github):
    with GitHubClient("wrong") as intruder, pytest.raises(InvalidToken):
        intruder.check_access("acme")
    with GitHubClient(TOKEN) as client, pytest.raises(OrganizationNotFound, match="'nope'") as excinfo:
        client.check_access("nope")
    assert excinfo.value.status == 404


def test_every_missing_permission_is_named_at_once(github, client):
    github.deny("members", "pull_requests", "copilot")
    with pytest.raises(MissingPermission) as excinfo:
        client.check_access("acme")
    error = excinfo.value
    assert error.permissions == ["members", "pull requests", "Copilot metrics"]
    assert str(error) == "the token may not read members, pull requests, Copilot metrics"
    assert not (error.report.can_read_members or error.report.can_read_pull_requests or error.report.can_read_copilot)
    assert any("organization_copilot_metrics=read" in note for note in error.report.notes)


def test_missing_members_alone_is_enough_to_refuse(github, client):
    github.deny("members")
    with pytest.raises(MissingPermission) as excinfo:
        client.check_access("acme")
    assert excinfo.value.permissions == ["members"] and excinfo.value.report.can_read_pull_requests


def test_copilot_is_optional(github, client):
    github.deny("copilot")
    report = client.check_access("acme")
    assert report.can_read_members and report.can_read_pull_requests and not report.can_read_copilot
    assert "needs: organization_copilot_metrics=read" in report.notes[0]
    github.denied.clear()  # permitted, but no Copilot report exists: not readable either, said why
    report = client.check_access("acme")
    assert not report.can_read_copilot and "no report" in report.notes[0]


def test_an_organisation_without_repositories_cannot_refuse_pull_requests(start, client):
    start(members=2, repositories=0)
    report = client.check_access("acme")
    assert report.can_read_pull_requests and "no repository" in report.notes[0]
