"""PR sync: a page in at most 8 statements (the same at 10 and 50 PRs), idempotent; the watermark and the resume.

Pages are built by hand from the records of ``apps.integrations.github_records``, as the GitHub
client will hand them over. Inside a test's transaction each page's ``atomic`` is a savepoint:
``SAVEPOINT`` and ``RELEASE`` count among the 8.
"""

import datetime as dt
import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from apps.integrations import pr_sync
from apps.integrations.factories import TrackedRepositoryFactory
from apps.integrations.github import GitHubUnavailable, NotFound
from apps.integrations.github_records import CommitRecord, GitHubUser, PullRequestPage, PullRequestRecord, ReviewRecord
from apps.integrations.models import TrackedRepository
from apps.integrations.pr_sync import (
    MalformedPullRequest,
    derive_flags,
    hours_between,
    store_pull_request_page,
    sync_repository,
)
from apps.metrics.factories import TeamMemberFactory
from apps.metrics.models import Commit, PRReview, PullRequest, TeamMember
from apps.metrics.services.team_cache import team_data_version
from apps.perflab.capture import capture_queries
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db

REPO = "acme/app"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
_ids = itertools.count(1_000)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def person(login, database_id=None, *, bot=False):
    return GitHubUser(login=login, database_id=database_id if database_id is not None else next(_ids), is_bot=bot)


def review(author, hours, state="APPROVED", database_id=None):
    return ReviewRecord(
        database_id=database_id if database_id is not None else next(_ids),
        author=author,
        state=state,
        submitted_at=None if hours is None else at(hours),
    )


def commit(author, hours, sha=None, additions=10, deletions=2):
    return CommitRecord(
        oid=sha or f"{next(_ids):040x}", author=author, committed_at=at(hours), additions=additions, deletions=deletions
    )


def pr(number, updated, *, author=None, state="MERGED", created=0.0, merged=26.0, title=None, **fields):
    merged_at = at(merged) if state == "MERGED" else None
    return PullRequestRecord(
        database_id=fields.pop("database_id", 90_000 + number),
        number=number,
        repository=fields.pop("repository", REPO),
        title=title if title is not None else f"Change number {number}",
        state=state,
        author=author,
        created_at=at(created),
        updated_at=updated if isinstance(updated, dt.datetime) else at(updated),
        merged_at=merged_at,
        closed_at=merged_at if state == "MERGED" else (at(merged) if state == "CLOSED" else None),
        additions=fields.pop("additions", 100),
        deletions=fields.pop("deletions", 20),
        head_ref_name=fields.pop("head_ref_name", f"feature/{number}"),
        reviews=tuple(fields.pop("reviews", ())),
        commits=tuple(fields.pop("commits", ())),
    )


def page(*prs, cursor=None, more=False):
    return PullRequestPage(repository=REPO, pull_requests=tuple(prs), end_cursor=cursor, has_next_page=more)


def snapshot(team):
    """Every row the sync writes for the team, ids included: equal snapshots are equal tables."""
    return {
        "members": list(
            TeamMember.objects.filter(team=team)
            .order_by("id")
            .values_list("id", "display_name", "github_username", "github_id", "is_active", "is_bot")
        ),
        "prs": list(
            PullRequest.objects.filter(team=team)
            .order_by("id")
            .values_list(
                "id", "author_id", "github_pr_id", "github_repo", "title", "state", "pr_created_at", "merged_at",
                "closed_at", "github_updated_at", "first_review_at", "cycle_time_hours", "review_time_hours",
                "additions", "deletions", "is_revert", "is_hotfix", "is_ai_assisted",
            )
        ),
        "reviews": list(
            PRReview.objects.filter(team=team)
            .order_by("id")
            .values_list("id", "pull_request_id", "reviewer_id", "state", "submitted_at", "github_review_id")
        ),
        "commits": list(
            Commit.objects.filter(team=team)
            .order_by("id")
            .values_list("id", "github_sha", "github_repo", "author_id", "pull_request_id", "committed_at",
                         "additions", "deletions")
        ),
    }


def busy_page(team, size, *, salt=""):
    """``size`` PRs by existing members and newcomers, each with reviews (one a bot's) and commits."""
    members = [TeamMemberFactory(team=team, github_username=f"member{salt}-{n}") for n in range(5)]
    known = [person(m.github_username, int(m.github_id)) for m in members]
    records = []
    for n in range(size):
        author = known[n % 5] if n % 3 else person(f"outsider{salt}-{n}")
        reviewer = known[(n + 1) % 5]
        records.append(
            pr(
                n + 1,
                100 - n / 10,
                author=author,
                reviews=[
                    review(reviewer, 3, "COMMENTED"),
                    review(reviewer, 5),
                    review(person(f"review-bot{salt}[bot]", 777), 1),
                ],
                commits=[commit(author, -2), commit(author, -1), commit(None, -0.5)],
            )
        )
    return page(*records, cursor=f"c-{size}", more=True)


# --- derived fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "branch", "flags"),
    [
        ('Revert "Add the flux capacitor"', "revert-12-flux", (True, False)),
        ("revert: the cache change", "main-fix", (True, False)),
        ("Reverting nothing: a new feature", "feature/x", (False, False)),
        ("Unrevert the thing", "feature/x", (False, False)),
        ("Fix login", "hotfix/login", (False, True)),
        ("Fix login", "HOTFIX-login", (False, True)),
        ("Fix login", "hot-fix/login", (False, True)),
        ("Hotfix: login loop", "fix-login", (False, True)),
        ("Emergency hot-fix for payments", "payments", (False, True)),
        ('Revert "Hotfix: login loop"', "revert-hotfix", (True, True)),
        ("Photofixture update", "photohotfixes", (False, False)),
    ],
)
def test_revert_and_hotfix_rules(title, branch, flags):
    assert derive_flags(title, branch) == flags


def test_hours_are_rounded_half_up_to_two_places():
    assert hours_between(T0, None) is None
    assert hours_between(T0, T0) == Decimal("0.00")
    assert hours_between(T0, T0 + dt.timedelta(minutes=90)) == Decimal("1.50")
    assert hours_between(T0, T0 + dt.timedelta(seconds=18)) == Decimal("0.01")  # 0.005 h: half up
    assert hours_between(T0, T0 + dt.timedelta(seconds=17)) == Decimal("0.00")
    assert hours_between(T0, T0 + dt.timedelta(days=400)) == Decimal("9600.00")


# --- one page ------------------------------------------------------------------------------------


def test_a_page_is_stored_with_its_reviews_commits_and_derived_fields():
    team = TeamFactory()
    ada = TeamMemberFactory(team=team, github_username="ada", github_id="11")
    bob = TeamMemberFactory(team=team, github_username="bob", github_id="12")
    ada_gh, bob_gh = person("ada", 11), person("bob", 12)
    merged = pr(
        7, 40, author=ada_gh, created=0, merged=26.5, title='Revert "Hotfix: cache"', additions=30, deletions=4,
        reviews=[
            review(ada_gh, 0.5, "COMMENTED"),  # the author's own comment is not a review of the PR
            review(person("copilot[bot]", 5), 1),  # nor is a bot's instant one
            review(bob_gh, 4.25, "CHANGES_REQUESTED", database_id=501),
            review(bob_gh, 6, "DISMISSED", database_id=502),
            review(bob_gh, None, "PENDING"),  # not submitted: not a review
        ],
        commits=[commit(ada_gh, -3, sha="a" * 40, additions=20), commit(None, -1, sha="b" * 40)],
    )
    open_pr = pr(8, 39, author=None, state="OPEN", head_ref_name="hotfix/login")  # a ghost's PR
    closed = pr(9, 38, author=bob_gh, state="CLOSED", merged=10, reviews=[review(None, 2, database_id=503)])

    result = store_pull_request_page(team=team, page=page(merged, open_pr, closed), watermark=None)

    assert result == pr_sync.PageResult(
        pull_requests=3, reviews=5, commits=2, members_created=1, skipped=0, newest_updated_at=at(40)
    )
    rows = {p.github_pr_id: p for p in PullRequest.objects.filter(team=team)}
    seven = rows[7]
    assert (seven.author_id, seven.state, seven.github_repo, seven.title) == (ada.id, "merged", REPO, merged.title)
    assert (seven.pr_created_at, seven.merged_at, seven.closed_at, seven.github_updated_at) == (
        at(0), at(26.5), at(26.5), at(40)
    )
    assert seven.first_review_at == at(4.25)
    assert (seven.cycle_time_hours, seven.review_time_hours) == (Decimal("26.50"), Decimal("4.25"))
    assert (seven.additions, seven.deletions, seven.is_revert, seven.is_hotfix) == (30, 4, True, True)
    assert seven.is_ai_assisted is False
    eight = rows[8]
    assert (eight.author_id, eight.state, eight.merged_at, eight.closed_at, eight.cycle_time_hours) == (
        None, "open", None, None, None
    )
    assert (eight.first_review_at, eight.review_time_hours, eight.is_hotfix) == (None, None, True)
    nine = rows[9]
    assert (nine.state, nine.merged_at, nine.closed_at, nine.first_review_at) == ("closed", None, at(10), at(2))

    reviews = {r.github_review_id: r for r in PRReview.objects.filter(team=team)}
    assert (reviews[501].state, reviews[501].reviewer_id, reviews[501].pull_request_id) == (
        "changes_requested", bob.id, seven.id
    )
    assert reviews[502].state == "dismissed"
    assert reviews[503].reviewer_id is None  # a ghost reviewer
    assert len(reviews) == 5  # ada's comment and the bot's approval are stored, as reviews of the PR
    bot = TeamMember.objects.get(team=team, github_username="copilot[bot]")
    assert (bot.is_bot, bot.is_active, bot.github_id) == (True, False, "5")

    commits = {c.github_sha: c for c in Commit.objects.filter(team=team)}
    assert (commits["a" * 40].author_id, commits["a" * 40].pull_request_id, commits["a" * 40].additions) == (
        ada.id, seven.id, 20
    )
    assert (commits["b" * 40].author_id, commits["b" * 40].github_repo) == (None, REPO)


def test_people_are_found_by_github_id_then_login_and_newcomers_are_inactive_members():
    team = TeamFactory()
    renamed = TeamMemberFactory(team=team, github_username="old-login", github_id="21")
    by_hand = TeamMemberFactory(team=team, github_username="Carol", github_id="")
    holder = TeamMemberFactory(team=team, github_username="dave", github_id="40")  # "dave" now belongs to 41
    store_pull_request_page(
        team=team,
        page=page(
            pr(1, 10, author=person("new-login", 21)),
            pr(2, 9, author=person("carol", 31)),
            pr(3, 8, author=person("DAVE", 41)),
            pr(4, 7, author=person("outsider", 51)),
            pr(5, 6, author=person("dependabot[bot]", 61)),
        ),
        watermark=None,
    )
    authors = dict(PullRequest.objects.filter(team=team).values_list("github_pr_id", "author_id"))
    assert authors[1] == renamed.id and authors[2] == by_hand.id
    created = {m.github_id: m for m in TeamMember.objects.filter(team=team, github_id__in=["41", "51", "61"])}
    assert authors[3] == created["41"].id != holder.id
    assert (created["41"].github_username, created["41"].display_name) == ("", "DAVE")  # the login is still held
    assert (created["51"].github_username, created["51"].is_active, created["51"].is_bot) == ("outsider", False, False)
    assert (created["61"].is_active, created["61"].is_bot) == (False, True)
    renamed.refresh_from_db()
    assert renamed.github_username == "old-login"  # the PR sync never rewrites members: import_members does


def test_only_prs_newer_than_the_watermark_are_stored():
    team = TeamFactory()
    result = store_pull_request_page(
        team=team, page=page(pr(3, 30), pr(2, 20), pr(1, 10)), watermark=at(20)
    )
    assert (result.pull_requests, result.skipped, result.reached_watermark) == (1, 2, True)
    assert result.newest_updated_at == at(30)
    assert list(PullRequest.objects.filter(team=team).values_list("github_pr_id", flat=True)) == [3]

    with capture_queries() as capture:
        result = store_pull_request_page(team=team, page=page(pr(2, 20), pr(1, 10)), watermark=at(20))
    assert capture.count == 0 and result.pull_requests == 0 and result.reached_watermark


def test_storing_the_same_page_twice_leaves_the_same_rows():
    team = TeamFactory()
    first = busy_page(team, 12)
    store_pull_request_page(team=team, page=first, watermark=None)
    before = snapshot(team)
    result = store_pull_request_page(team=team, page=first, watermark=None)
    assert result.members_created == 0
    assert snapshot(team) == before
    assert len(before["prs"]) == 12 and len(before["reviews"]) == 36 and len(before["commits"]) == 36


def test_a_later_version_of_a_pr_updates_its_row_in_place():
    team = TeamFactory()
    author, reviewer = person("ada", 11), person("bob", 12)
    store_pull_request_page(
        team=team, page=page(pr(7, 5, author=author, state="OPEN", title="WIP")), watermark=None
    )
    row = PullRequest.objects.get(team=team)
    PullRequest.objects.filter(pk=row.pk).update(is_ai_assisted=True)  # the survey's, not GitHub's
    later = pr(
        7, 30, author=author, merged=28, title="Add the thing",
        reviews=[review(reviewer, 4, database_id=1)], commits=[commit(author, 1, sha="c" * 40)],
    )
    store_pull_request_page(team=team, page=page(later), watermark=at(5))
    fresh = PullRequest.objects.get(team=team)
    assert fresh.pk == row.pk
    assert (fresh.state, fresh.title, fresh.merged_at, fresh.cycle_time_hours) == (
        "merged", "Add the thing", at(28), Decimal("28.00")
    )
    assert (fresh.first_review_at, fresh.review_time_hours, fresh.is_ai_assisted) == (at(4), Decimal("4.00"), True)
    assert PRReview.objects.get(team=team).pull_request_id == row.pk
    assert Commit.objects.get(team=team).pull_request_id == row.pk


def test_a_record_the_models_cannot_hold_writes_nothing():
    team = TeamFactory()
    bad = pr(2, 9, state="DRAFT")
    with pytest.raises(MalformedPullRequest, match="acme/app#2: unknown state 'DRAFT'"):
        store_pull_request_page(team=team, page=page(pr(1, 10, author=person("ada")), bad), watermark=None)
    assert not PullRequest.objects.filter(team=team).exists()
    assert not TeamMember.objects.filter(team=team).exists()


def test_a_stored_page_bumps_the_team_cache_once_on_commit(django_capture_on_commit_callbacks):
    team = TeamFactory()
    version = team_data_version(team.id)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        store_pull_request_page(team=team, page=busy_page(team, 5), watermark=None)
    assert len(callbacks) == 1 and team_data_version(team.id) == version + 1


def test_a_page_takes_at_most_8_statements_the_same_at_10_and_50_prs():
    results = {}

    def prepare(size):
        team = TeamFactory()
        the_page = busy_page(team, size, salt=str(size))

        def operation():
            results[size] = store_pull_request_page(team=team, page=the_page, watermark=None)

        return operation

    captures = assert_constant_queries(prepare, sizes=(10, 50))
    assert captures[0].without_savepoints().count == 5, captures[0].statements()
    kinds = [q.sql.split()[0] for q in captures[1].queries]
    assert kinds == ["SAVEPOINT", "SELECT", "INSERT", "INSERT", "INSERT", "INSERT", "RELEASE"], captures[1].statements()
    assert not captures[1].has_n_plus_one, captures[1].report()
    assert (results[50].pull_requests, results[50].reviews, results[50].commits) == (50, 150, 150)
    assert results[50].members_created == 17 + 1  # the outsiders and the review bot
    assert results[10].members_created == 4 + 1


# --- a repository --------------------------------------------------------------------------------


class Pages:
    """Pages handed out one at a time; ``fail_at`` (1-based) raises there instead; counts what was taken."""

    def __init__(self, *pages, fail_at=None, error=None):
        self.pages, self.fail_at, self.error, self.taken = pages, fail_at, error, 0

    def __iter__(self):
        for number, item in enumerate(self.pages, 1):
            if number == self.fail_at:
                raise self.error or GitHubUnavailable("GitHub answered 502")
            self.taken += 1
            yield item


def three_pages():
    """PRs 9..1, updated at hours 90, 80 .. 10, three to a page, newest first."""
    records = [pr(n, n * 10, author=person(f"dev-{n % 3}", 500 + n % 3)) for n in range(9, 0, -1)]
    return [
        page(*records[0:3], cursor="c1", more=True),
        page(*records[3:6], cursor="c2", more=True),
        page(*records[6:9], cursor="c3", more=False),
    ]


def repo_state(repository):
    repository.refresh_from_db()
    return (repository.pr_watermark, repository.resume_cursor, repository.pending_watermark, repository.status)


def stored_numbers(team):
    return sorted(PullRequest.objects.filter(team=team).values_list("github_pr_id", flat=True))


def test_a_first_sync_stores_every_page_and_sets_the_watermark_to_the_newest_update():
    team = TeamFactory()
    repository = TrackedRepositoryFactory(team=team, name_with_owner=REPO)
    pages = Pages(*three_pages())
    result = sync_repository(team=team, repository=repository, pages=pages)
    assert stored_numbers(team) == list(range(1, 10))
    assert (result.pages, result.pages_stored, result.pull_requests, result.completed, result.resumed) == (
        3, 3, 9, True, False
    )
    assert result.watermark == at(90) and result.requests == 3
    assert repo_state(repository) == (at(90), "", None, "ok")
    assert repository.last_synced_at is not None


def test_an_incremental_sync_stops_at_the_first_pr_not_newer_than_the_watermark():
    team = TeamFactory()
    repository = TrackedRepositoryFactory(team=team, name_with_owner=REPO, pr_watermark=at(90), status="ok")
    newer = [pr(12, 120), pr(11, 110), pr(10, 100)]
    first = page(*newer, cursor="c1", more=True)
    second = page(pr(9, 95), pr(8, 90), pr(7, 80), cursor="c2", more=True)
    pages = Pages(first, second, page(pr(6, 60), cursor="c3"))
    result = sync_repository(team=team, repository=repository, pages=pages)
    assert pages.taken == 2  # the third page is never asked for
    assert stored_numbers(team) == [9, 10, 11, 12]
    assert (result.completed, result.watermark) == (True, at(120))
    assert repo_state(repository) == (at(120), "", None, "ok")


def test_an_unchanged_repository_reads_one_page_and_runs_no_statement():
    team = TeamFactory()
    repository = TrackedRepositoryFactory(team=team, name_with_owner=REPO, pr_watermark=at(90), status="ok")
    pages = Pages(page(pr(9, 90), pr(8, 80), cursor="c1", more=True), page(pr(7, 70)))
    with capture_queries() as capture:
        result = sync_repository(team=team, repository=repository, pages=pages)
    assert capture.count == 0, capture.statements()
    assert pages.taken == 1 and result.unchanged and result.pages == 1 and result.pull_requests == 0
    assert repo_state(repository) == (at(90), "", None, "ok")


def test_an_empty_repository_is_ok_after_its_first_sync_then_writes_nothing():
    team = TeamFactory()
    repository = TrackedRepositoryFactory(team=team, name_with_owner=REPO)
    sync_repository(team=team, repository=repository, pages=[page()])
    assert repo_state(repository) == (None, "", None, "ok")
    with capture_queries() as capture:
        assert sync_repository(team=team, repository=repository, pages=[page()]).unchanged
    assert capture.count == 0


def test_a_failure_keeps_the_committed_pages_and_the_next_run_resumes_where_it_stopped(transactional_db):
    team = TeamFactory()
    repository = TrackedRepositoryFactory(team=team, name_with_owner=REPO, pr_watermark=at(5), status="ok")
    first, second, third = three_pages()

    with pytest.raises(GitHubUnavailable):
        sync_repository(team=team, repository=repository, pages=Pages(first, second, third, fail_at=3))
    # pages 1 and 2 are committed (this test commits for real); the watermark waits for the rest
    assert stored_numbers(team) == [4, 5, 6, 7, 8, 9]
    assert repo_state(repository) == (at(5), "c2", at(90), "ok")  # a retryable error leaves the status alone

    # meanwhile PR 2 is updated (it moves to the top, above the cursor) and PR 10 is opened
    moved, opened = pr(2, 130), pr(10, 140)
    result = sync_repository(team=team, repository=repository, pages=Pages(third))  # after "c2"
    assert result.resumed and result.completed and result.watermark == at(90)
    assert stored_numbers(team) == list(range(1, 10))
    assert repo_state(repository) == (at(90), "", None, "ok")

    # the next fresh run from the top picks up what changed during the interruption
    top = page(opened, moved, pr(9, 90), cursor="n1", more=True)
    result = sync_repository(team=team, repository=repository, pages=Pages(top, page(pr(8, 80))))
    assert (result.resumed, result.pull_requests, result.watermark, result.pages) == (False, 2, at(140), 1)
    assert PullRequest.objects.get(team=team, github_pr_id=2).github_updated_at == at(130)
    assert repo_state(repository) == (at(140), "", None, "ok")


def test_a_page_that_cannot_be_stored_keeps_the_earlier_pages_and_records_the_failure():
    team = TeamFactory()
    repository = TrackedRepositoryFactory(team=team, name_with_owner=REPO)
    first, second, _ = three_pages()
    broken = page(pr(3, 30), pr(2, 20, state="DRAFT"), cursor="c3")
    with pytest.raises(MalformedPullRequest):
        sync_repository(team=team, repository=repository, pages=Pages(first, second, broken))
    assert stored_numbers(team) == [4, 5, 6, 7, 8, 9]
    assert repo_state(repository) == (None, "c2", at(90), "failed")
    assert repository.status_detail.startswith("MalformedPullRequest: acme/app#2")

    result = sync_repository(team=team, repository=repository, pages=Pages(page(pr(3, 30), pr(2, 20), pr(1, 10))))
    assert result.resumed and result.completed
    assert repo_state(repository) == (at(90), "", None, "ok") and repository.status_detail == ""


def test_a_repository_gone_from_github_is_not_found():
    team = TeamFactory()
    repository = TrackedRepositoryFactory(team=team, name_with_owner=REPO)
    pages = Pages(fail_at=1, error=NotFound("Could not resolve to a Repository", status=200))
    pages.pages = (page(),)
    with pytest.raises(NotFound):
        sync_repository(team=team, repository=repository, pages=pages)
    assert repo_state(repository)[3] == "not_found"
    assert repository.status_detail == "NotFound: Could not resolve to a Repository"


def test_a_repository_of_another_team_is_refused():
    repository = TrackedRepositoryFactory()
    with pytest.raises(ValueError, match="is not a repository of team"):
        sync_repository(team=TeamFactory(), repository=repository, pages=[])


def test_each_page_of_a_run_is_at_most_8_statements_the_same_at_10_and_50_prs():
    """The page's writes and the repository's bookkeeping, in one transaction per page."""

    def prepare(size):
        team = TeamFactory()
        repository = TrackedRepositoryFactory(team=team, name_with_owner=REPO)
        first = busy_page(team, size, salt=f"a{size}")
        older = [
            replace(record, number=1000 + n, updated_at=at(-n))
            for n, record in enumerate(busy_page(team, size, salt=f"b{size}").pull_requests)
        ]

        def operation():
            sync_repository(team=team, repository=repository, pages=[first, page(*older)])

        return operation

    captures = assert_constant_queries(prepare, sizes=(10, 50))
    kinds = [q.sql.split()[0] for q in captures[1].queries]
    per_page = ["SAVEPOINT", "SELECT", "INSERT", "INSERT", "INSERT", "INSERT", "UPDATE", "RELEASE"]
    assert kinds == per_page * 2, captures[1].statements()


def test_the_repository_row_follows_in_memory_and_in_the_database():
    team = TeamFactory()
    repository = TrackedRepositoryFactory(team=team, name_with_owner=REPO)
    sync_repository(team=team, repository=repository, pages=three_pages())
    in_memory = (repository.pr_watermark, repository.resume_cursor, repository.pending_watermark, repository.status)
    fresh = TrackedRepository.objects.get(pk=repository.pk)
    assert in_memory == (fresh.pr_watermark, fresh.resume_cursor, fresh.pending_watermark, fresh.status)
