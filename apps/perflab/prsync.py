"""Problem 8b, the experiment: the naive PR sync against the shipped one, on the same stand-in organisation.

Notebook 10 and ``perf_bench`` both call this module. ``experiment(prs, repositories=...)`` starts a
loopback GitHub stand-in (``GitHubStub.with_organization``) holding ``prs`` pull requests (spread over
``repositories``), gives each variant a fresh team with the organisation's members imported
(``import_members``) and its repositories tracked, then measures:

- ``baselines.sync_pull_requests`` (REST, two requests and a dozen statements per PR), when asked;
- the shipped sync: ``GitHubClient.pull_request_pages`` into ``pr_sync.sync_repository``, per repository;
- the shipped sync again on the unchanged organisation: one request per repository, no write.

Each ``Run`` holds the SQL statements (``capture_queries``), the writes among them
(INSERT/UPDATE/DELETE), the HTTP requests the stand-in answered, the seconds and the rows stored.
``stored_rows(team)`` snapshots what a team holds as tuples whose members are named by GitHub id
and login (not by primary key), so that two teams' rows compare table by table (``compare_rows``).

``webhook_burst(team, stub)`` then changes the stand-in's PRs (titles edited, reviews submitted) and
delivers each change as GitHub would, signed, to the app's webhook endpoint
(``POST /webhooks/github/<webhook id>/``, through Django's test client, so that its statements are
captured), then delivers every one of them again: a replay answers 200 and changes no row.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from django.db.models import F

from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.github_stub import GitHubStub

ORG = "acme"
TOKEN = "ghp_prsync_lab"
WRITE_PREFIXES = ("INSERT", "UPDATE", "DELETE")
_teams = itertools.count(1)


@dataclass(frozen=True)
class Run:
    """One sync of one variant: what it cost and what it stored."""

    variant: str
    prs: int  # the organisation's pull requests
    statements: int
    writes: int  # INSERT, UPDATE and DELETE statements
    requests: int  # HTTP requests the stand-in answered
    seconds: float
    pull_requests: int = 0  # rows stored (written) by the run
    reviews: int = 0
    commits: int = 0
    pages: int = 0  # GraphQL pages stored (shipped sync only)
    page_statements: tuple[int, ...] = ()  # statements each page read took to store (shipped sync only)

    @property
    def statements_per_page(self) -> float | None:
        return self.statements / self.pages if self.pages else None

    def as_row(self) -> dict:
        return {"size": self.prs, "variant": self.variant, "statements": self.statements, "writes": self.writes,
                "requests": self.requests, "seconds": self.seconds, "median_ms": self.seconds * 1000,
                "pull_requests": self.pull_requests, "reviews": self.reviews, "commits": self.commits,
                "pages": self.pages}


@dataclass(frozen=True)
class Experiment:
    prs: int
    repositories: int
    shipped: Run
    unchanged: Run
    baseline: Run | None = None
    same_rows: bool | None = None  # None: the baseline did not run
    row_counts: dict[str, int] = field(default_factory=dict)  # what the shipped sync stored, per table

    @property
    def runs(self) -> list[Run]:
        return [run for run in (self.baseline, self.shipped, self.unchanged) if run is not None]


def stand_in(prs: int, *, repositories: int = 1, reviews_per_pr: int = 2, commits_per_pr: int = 3,
             members: int = 40, seed: int = 10) -> GitHubStub:
    """A started stand-in organisation with ``prs`` pull requests over ``repositories`` (the first takes the rest)."""
    per_repository = prs // repositories
    stub = GitHubStub.with_organization(
        ORG, TOKEN, members=members, repositories=repositories, prs_per_repository=per_repository,
        reviews_per_pr=reviews_per_pr, commits_per_pr=commits_per_pr, seed=seed,
    )
    return stub.start()


def client_for(stub: GitHubStub):
    from apps.integrations.github import GitHubClient

    return GitHubClient(TOKEN, base_url=stub.base_url)


def fresh_team(stub: GitHubStub, label: str = "prsync"):
    """A new team with the organisation's members imported and every repository tracked."""
    from apps.integrations.member_sync import import_members
    from apps.integrations.repository_sync import set_tracked, store_repositories
    from apps.teams.models import Team

    number = next(_teams)
    team = Team.objects.create(name=f"{label} {number}", slug=f"{label}-{number}-{time.time_ns()}")
    with client_for(stub) as client:
        import_members(team=team, users=itertools.chain.from_iterable(client.organization_members(ORG)))
        repositories = list(itertools.chain.from_iterable(client.organization_repositories(ORG)))
    store_repositories(team=team, repositories=repositories)
    set_tracked(team=team, names=[r.name_with_owner for r in repositories])
    return team


def repository_names(team) -> list[str]:
    from apps.integrations.models import TrackedRepository

    return list(TrackedRepository.objects.filter(team=team, is_tracked=True)
                .order_by("name_with_owner").values_list("name_with_owner", flat=True))


def _writes(capture) -> int:
    return sum(1 for query in capture.queries if query.sql.lstrip().upper().startswith(WRITE_PREFIXES))


def run_shipped(team, stub: GitHubStub, *, page_size: int = 50, variant: str = "shipped") -> Run:
    """``sync_repository`` over every tracked repository, fed by ``GitHubClient.pull_request_pages``."""
    from apps.integrations.models import TrackedRepository
    from apps.integrations.pr_sync import sync_repository

    repositories = list(TrackedRepository.objects.filter(team=team, is_tracked=True).order_by("name_with_owner"))
    stub.reset_log()
    results, per_page = [], []

    mark: list[int] = []  # the statement count when the page being stored was handed over

    def counted(pages):
        """The pages, noting the statements that storing each one took (sync_repository stores a page, then asks)."""
        for page in pages:
            if mark:
                per_page.append(capture.count - mark.pop())
            mark.append(capture.count)
            yield page

    with client_for(stub) as client, capture_queries(call_sites=False) as capture:
        started = time.perf_counter()
        for repository in repositories:
            pages = client.pull_request_pages(repository.name_with_owner, page_size=page_size,
                                              after=repository.resume_cursor or None)
            results.append(sync_repository(team=team, repository=repository, pages=counted(pages)))
            if mark:  # the last page: the sync stopped without asking for another
                per_page.append(capture.count - mark.pop())
        seconds = time.perf_counter() - started
    return Run(variant, stub.organization.pull_request_count, capture.count, _writes(capture), stub.request_count,
               seconds, pull_requests=sum(r.pull_requests for r in results), reviews=sum(r.reviews for r in results),
               commits=sum(r.commits for r in results), pages=sum(r.pages_stored for r in results),
               page_statements=tuple(per_page))


def run_baseline(team, stub: GitHubStub) -> Run:
    """``baselines.sync_pull_requests`` over every tracked repository."""
    import httpx

    names = repository_names(team)
    stub.reset_log()
    totals = {"pull_requests": 0, "reviews": 0, "commits": 0}
    with httpx.Client(base_url=stub.base_url, timeout=30) as http, capture_queries(call_sites=False) as capture:
        started = time.perf_counter()
        for name in names:
            counts = baselines.sync_pull_requests(team, http, TOKEN, name)
            for key in totals:
                totals[key] += counts[key]
        seconds = time.perf_counter() - started
    return Run("baseline", stub.organization.pull_request_count, capture.count, _writes(capture),
               stub.request_count, seconds, **totals)


# --- the rows, compared ---------------------------------------------------------------------------


def stored_rows(team) -> dict[str, list[tuple]]:
    """Every PR, review and commit the team holds (and its members), as sorted tuples; people by GitHub identity."""
    from apps.metrics.models import Commit, PRReview, PullRequest, TeamMember

    def person(prefix: str) -> list:
        return [F(f"{prefix}__github_id"), F(f"{prefix}__github_username")]

    prs = PullRequest.objects.filter(team=team).values_list(
        "github_repo", "github_pr_id", "title", "state", "pr_created_at", "merged_at", "closed_at",
        "github_updated_at", "additions", "deletions", "cycle_time_hours", "review_time_hours", "first_review_at",
        "is_revert", "is_hotfix", *person("author"),
    )
    reviews = PRReview.objects.filter(team=team).values_list(
        "github_review_id", "pull_request__github_repo", "pull_request__github_pr_id", "state", "submitted_at",
        *person("reviewer"),
    )
    commits = Commit.objects.filter(team=team).values_list(
        "github_sha", "github_repo", "pull_request__github_pr_id", "committed_at", "additions", "deletions",
        *person("author"),
    )
    members = TeamMember.objects.filter(team=team).values_list(
        "github_id", "github_username", "is_active", "is_bot"
    )
    return {name: sorted(rows, key=repr) for name, rows in
            (("pull_requests", prs), ("reviews", reviews), ("commits", commits), ("members", members))}


def compare_rows(left: dict[str, list[tuple]], right: dict[str, list[tuple]]) -> dict[str, dict]:
    """Per table: rows on each side, whether they are equal, and a few rows found on one side only."""
    report = {}
    for table in left.keys() | right.keys():
        a, b = left.get(table, []), right.get(table, [])
        only_left = [row for row in a if row not in set(b)][:3]
        only_right = [row for row in b if row not in set(a)][:3]
        report[table] = {"left": len(a), "right": len(b), "equal": a == b,
                         "only_left": only_left, "only_right": only_right}
    return dict(sorted(report.items()))


def same_rows(left, right) -> bool:
    return all(table["equal"] for table in compare_rows(stored_rows(left), stored_rows(right)).values())


# --- webhooks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookBurst:
    deliveries: int
    statuses: tuple[int, ...]  # of every first delivery
    statements: tuple[int, ...]  # per first delivery
    replay_statuses: tuple[int, ...]
    replay_statements: tuple[int, ...]
    replays_changed_nothing: bool  # the team's rows are the same before and after the replays
    seconds: float

    @property
    def max_statements(self) -> int:
        return max(self.statements, default=0)


def webhook_burst(team, stub: GitHubStub, *, edits: int = 10, reviews: int = 10) -> WebhookBurst:
    """``edits`` title edits and ``reviews`` submitted reviews, delivered signed to the team's endpoint, then again."""
    from django.test import Client
    from django.urls import reverse

    from apps.integrations.models import GitHubIntegration
    from apps.integrations.webhooks import webhook_id
    from apps.perflab.bench import quiet_loggers
    from apps.perflab.github_stub import pull_request_event, pull_request_review_event, webhook_request

    integration, _ = GitHubIntegration.objects.get_or_create(
        team=team, defaults={"organization_slug": ORG, "access_token": TOKEN}
    )
    path = reverse("integrations:github_webhook", args=[webhook_id(integration)])
    repository = repository_names(team)[0].partition("/")[2]
    numbers = sorted(stub.repository(repository).pull_requests)
    deliveries = []
    for index in range(edits):
        number = numbers[index % len(numbers)]
        old = stub.pull_request(repository, number).title
        pr = stub.update_pull_request(repository, number, title=f"{old} (edited {index})")
        payload = pull_request_event("edited", pr, changes={"title": {"from": old}})
        deliveries.append(webhook_request("pull_request", payload, secret=integration.webhook_secret,
                                          delivery=f"prsync-edit-{index}"))
    for index in range(reviews):
        number = numbers[index % len(numbers)]
        review = stub.add_review(repository, number)
        payload = pull_request_review_event("submitted", stub.pull_request(repository, number), review)
        deliveries.append(webhook_request("pull_request_review", payload, secret=integration.webhook_secret,
                                          delivery=f"prsync-review-{index}"))
    client = Client()

    def deliver_all() -> tuple[list[int], list[int]]:
        statuses, statements = [], []
        for body, headers in deliveries:
            sent = {name: value for name, value in headers.items() if name != "Content-Type"}
            with capture_queries(call_sites=False) as capture:
                response = client.post(path, data=body, content_type="application/json", headers=sent)
            statuses.append(response.status_code)
            statements.append(capture.count)
        return statuses, statements

    with quiet_loggers():  # a log line per request would land on stderr (a notebook's output)
        started = time.perf_counter()
        statuses, statements = deliver_all()
        seconds = time.perf_counter() - started
        before = stored_rows(team)
        replay_statuses, replay_statements = deliver_all()
    return WebhookBurst(len(deliveries), tuple(statuses), tuple(statements), tuple(replay_statuses),
                        tuple(replay_statements), stored_rows(team) == before, seconds)


# --- the experiment ------------------------------------------------------------------------------


def experiment(prs: int, *, repositories: int = 1, baseline: bool = True, page_size: int = 50,
               reviews_per_pr: int = 2, commits_per_pr: int = 3, cleanup: bool = True) -> Experiment:
    """Baseline (if asked) and shipped sync on fresh teams, then an unchanged re-sync; rows compared."""
    stub = stand_in(prs, repositories=repositories, reviews_per_pr=reviews_per_pr, commits_per_pr=commits_per_pr)
    teams = []
    try:
        baseline_run = equal = None
        shipped_team = fresh_team(stub, "shipped")
        teams.append(shipped_team)
        shipped = run_shipped(shipped_team, stub, page_size=page_size)
        unchanged = run_shipped(shipped_team, stub, page_size=page_size, variant="shipped, unchanged")
        shipped_rows = stored_rows(shipped_team)
        if baseline:
            baseline_team = fresh_team(stub, "baseline")
            teams.append(baseline_team)
            baseline_run = run_baseline(baseline_team, stub)
            equal = all(t["equal"] for t in compare_rows(stored_rows(baseline_team), shipped_rows).values())
        counts = {name: len(rows) for name, rows in shipped_rows.items()}
        return Experiment(prs=stub.organization.pull_request_count, repositories=repositories, shipped=shipped,
                          unchanged=unchanged, baseline=baseline_run, same_rows=equal, row_counts=counts)
    finally:
        stub.stop()
        if cleanup:
            for team in teams:
                team.delete()
