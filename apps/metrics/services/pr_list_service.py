"""Pull request lists and their CSV export rows: filters and columns in one place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db.models import QuerySet

from apps.metrics.models import PullRequest, TeamMember
from apps.metrics.services.dates import range_bounds

EXPORT_HEADER = [
    "repository",
    "number",
    "title",
    "author",
    "author_github",
    "state",
    "created_at",
    "merged_at",
    "cycle_time_hours",
    "review_time_hours",
    "additions",
    "deletions",
    "ai_assisted",
]

# The columns ``export_row`` reads, and only those, are fetched: less to send, parse and build.
# A field read but not listed here would cost a statement per row (the tests count them).
EXPORT_FIELDS = (
    "github_repo",
    "github_pr_id",
    "title",
    "state",
    "pr_created_at",
    "merged_at",
    "cycle_time_hours",
    "review_time_hours",
    "additions",
    "deletions",
    "is_ai_assisted",
    "author__display_name",
    "author__github_username",
)

# Rows fetched per round trip by the export's server-side cursor: memory stays flat at any size.
EXPORT_CHUNK_SIZE = 2000

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """The cell as text, with a leading quote when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_TRIGGERS) else text


def _iso(moment: dt.datetime | None) -> str:
    return moment.isoformat() if moment else ""


def export_row(pr: PullRequest) -> list[str]:
    """One CSV row; reads ``pr.author``, so the queryset should select_related it."""
    author = pr.author
    values = [
        pr.github_repo,
        pr.github_pr_id,
        pr.title,
        author.display_name if author else "",
        author.github_username if author else "",
        pr.state,
        _iso(pr.pr_created_at),
        _iso(pr.merged_at),
        pr.cycle_time_hours,
        pr.review_time_hours,
        pr.additions,
        pr.deletions,
        "yes" if pr.is_ai_assisted else "no",
    ]
    return [csv_safe(v) for v in values]


def filter_pull_requests(
    team,
    *,
    state: str | None = None,
    author_id: int | None = None,
    repo: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> QuerySet[PullRequest]:
    """The team's PRs, newest first (by creation), filtered; dates are inclusive calendar days (UTC)."""
    prs = PullRequest.objects.filter(team=team)
    if state:
        prs = prs.filter(state=state)
    if author_id:
        prs = prs.filter(author_id=author_id)
    if repo:
        prs = prs.filter(github_repo=repo)
    if start or end:
        lower, upper = range_bounds(start, end)
        if lower:
            prs = prs.filter(pr_created_at__gte=lower)
        if upper:
            prs = prs.filter(pr_created_at__lt=upper)
    return prs.order_by("-pr_created_at", "-id")


def team_authors(team) -> QuerySet[TeamMember]:
    """The team's members as author choices (id, name, active), ordered by name: one statement."""
    return TeamMember.objects.filter(team=team).only("id", "display_name", "is_active").order_by("display_name", "id")


def export_rows(team, **filters) -> Iterator[list[str]]:
    """The CSV rows, header first, streamed: ONE statement for all the rows, however many.

    Authors come in the same statement (``select_related``), and a server-side cursor hands the
    rows over ``EXPORT_CHUNK_SIZE`` at a time, so no list of every row is ever held. Yields
    exactly what ``apps.perflab.baselines.pr_export_rows`` returns (the pre-fix export).
    The filters are checked now (a wrong keyword raises here); the statement runs when the
    second item (the first PR) is asked for.
    """
    prs = filter_pull_requests(team, **filters).select_related("author").only(*EXPORT_FIELDS)
    return _stream_rows(prs)


def _stream_rows(prs: QuerySet[PullRequest]) -> Iterator[list[str]]:
    yield list(EXPORT_HEADER)
    for pr in prs.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        yield export_row(pr)
