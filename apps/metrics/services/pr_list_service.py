"""Pull request lists and their CSV export rows: filters and columns in one place."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from apps.metrics.models import PullRequest, TeamMember
from apps.metrics.services.dates import isoformat_of_postgres_text, range_bounds

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
# What each CSV column reads, in EXPORT_HEADER's order. Authors are joined in the same statement
# (the one LEFT JOIN select_related("author") would make), and rows arrive as tuples: building a
# model instance per row cost more than half the export's time.
EXPORT_SOURCES = (
    "github_repo",
    "github_pr_id",
    "title",
    "author__display_name",
    "author__github_username",
    "state",
    "pr_created_at",
    "merged_at",
    "cycle_time_hours",
    "review_time_hours",
    "additions",
    "deletions",
    "is_ai_assisted",
)

# Read as text, not as datetimes (export_rows).
_EXPORT_TIMESTAMPS = ("pr_created_at", "merged_at")
_CREATED, _MERGED = (EXPORT_SOURCES.index(name) for name in _EXPORT_TIMESTAMPS)

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


def format_export_row(
    repo, number, title, author_name, author_login, state, created, merged, cycle, review, additions, deletions, ai
) -> list[str]:
    """One CSV row from the values of EXPORT_SOURCES (the timestamps already ISO text), every cell safe against
    formula injection."""
    values = [
        repo,
        number,
        title,
        author_name or "",
        author_login or "",
        state,
        created,
        merged,
        cycle,
        review,
        additions,
        deletions,
        "yes" if ai else "no",
    ]
    return [csv_safe(v) for v in values]


def export_row(pr: PullRequest) -> list[str]:
    """The same row from a model instance (reads ``pr.author``: a query per row unless joined)."""
    author = pr.author
    return format_export_row(
        pr.github_repo,
        pr.github_pr_id,
        pr.title,
        author.display_name if author else None,
        author.github_username if author else None,
        pr.state,
        _iso(pr.pr_created_at),
        _iso(pr.merged_at),
        pr.cycle_time_hours,
        pr.review_time_hours,
        pr.additions,
        pr.deletions,
        pr.is_ai_assisted,
    )


# Which date a PR list's range applies to: when it was opened, or when it was merged (what the
# dashboard's cards count). Merged dates list merged PRs only, newest merge first.
DATE_FIELDS = {"created": "pr_created_at", "merged": "merged_at"}


def filter_pull_requests(
    team,
    *,
    state: str | None = None,
    author_id: int | None = None,
    repo: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    dates: str = "created",
) -> QuerySet[PullRequest]:
    """The team's PRs, filtered; dates are inclusive calendar days (UTC) of ``dates`` ("created" or "merged").

    Newest first by that date. With ``dates="merged"`` only merged PRs are listed (the others have no
    merge date): exactly the PRs the dashboard counts as merged in the range.
    """
    if dates not in DATE_FIELDS:
        raise ValueError(f"dates is one of {', '.join(DATE_FIELDS)}, not {dates!r}")
    field = DATE_FIELDS[dates]
    prs = PullRequest.objects.filter(team=team)
    if dates == "merged":
        prs = prs.filter(state=PullRequest.State.MERGED)
    if state:
        prs = prs.filter(state=state)
    if author_id:
        prs = prs.filter(author_id=author_id)
    if repo:
        prs = prs.filter(github_repo=repo)
    if start or end:
        lower, upper = range_bounds(start, end)
        if lower:
            prs = prs.filter(**{f"{field}__gte": lower})
        if upper:
            prs = prs.filter(**{f"{field}__lt": upper})
    return prs.order_by(f"-{field}", "-id")


PAGE_SIZE = 50  # PRs on a page of the list


def pull_request_page(team, page_number: int = 1, **filters) -> Page:
    """One page of the PR list: ``PAGE_SIZE`` of ``filter_pull_requests(team, **filters)``, authors joined.

    Past the last page, the last page. Two statements when read: the count, then the page's rows.
    """
    prs = filter_pull_requests(team, **filters).select_related("author")
    return Paginator(prs, PAGE_SIZE).get_page(page_number)


def team_authors(team) -> QuerySet[TeamMember]:
    """The team's members as author choices (id, name, active), ordered by name: one statement."""
    return TeamMember.objects.filter(team=team).only("id", "display_name", "is_active").order_by("display_name", "id")


def export_rows(team, **filters) -> Iterator[list[str]]:
    """The CSV rows, header first, streamed: ONE statement for all the rows, however many.

    Authors are joined in the same statement, and a server-side cursor hands the rows over
    ``EXPORT_CHUNK_SIZE`` at a time, so no list of every row is ever held. Yields exactly what
    ``apps.perflab.baselines.pr_export_rows`` returns (the pre-fix export). The filters are
    checked now (a wrong keyword raises here); the statement runs when the first PR is asked for.
    """
    # The timestamps come as PostgreSQL's text, turned into isoformat's by string edits: parsing 200k
    # datetimes only to print them again took a third of the export's time.
    as_text = {name: Cast(name, TextField()) for name in _EXPORT_TIMESTAMPS}
    sources = [f"{name}_text" if name in as_text else name for name in EXPORT_SOURCES]
    rows = (
        filter_pull_requests(team, **filters)
        .annotate(**{f"{name}_text": cast for name, cast in as_text.items()})
        .values_list(*sources)
    )
    return _stream_rows(rows)


def _stream_rows(rows) -> Iterator[list[str]]:
    yield list(EXPORT_HEADER)
    for values in rows.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        values = list(values)
        values[_CREATED] = isoformat_of_postgres_text(values[_CREATED])
        values[_MERGED] = isoformat_of_postgres_text(values[_MERGED])
        yield format_export_row(*values)


CSV_LINES_PER_CHUNK = 500  # one write to the client per 500 lines, not per line


class _Echo:
    """A file-like object whose ``write`` hands the line back: csv.writer then returns each line."""

    def write(self, line: str) -> str:
        return line


def csv_chunks(rows: Iterable[list[str]], lines_per_chunk: int = CSV_LINES_PER_CHUNK) -> Iterator[str]:
    """``rows`` as CSV text, ``lines_per_chunk`` lines a chunk: what the export streams to the client."""
    writer = csv.writer(_Echo())
    batch: list[str] = []
    for row in rows:
        batch.append(writer.writerow(row))
        if len(batch) >= lines_per_chunk:
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)
