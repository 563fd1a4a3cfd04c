"""The PR list (filtered, paginated) and its CSV export (streamed).

Both read the same filters: ``state``, ``author`` (a member of this team), ``repo``, and the
``start``/``end`` dates (inclusive, UTC; the last 30 days by default) of ``dates``: "created"
(the default) or "merged" (the PRs the dashboard counts). Every
parameter is checked before any row is read, so bad input is a 400 with its reason (the list
page, its form showing what was sent), and the export never starts a 200 it cannot finish.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render

from apps.metrics.models import PullRequest
from apps.metrics.services.pr_list_service import DATE_FIELDS, export_rows, filter_pull_requests, team_authors
from apps.metrics.views.params import (
    DateRange,
    InvalidParameter,
    parse_choice,
    parse_date_range,
    parse_optional_int,
    parse_text,
)
from apps.teams.services import get_team_for_user

PAGE_SIZE = 50
CSV_LINES_PER_CHUNK = 500  # one write to the client per 500 lines, not per line
REPO_MAX_LENGTH = PullRequest._meta.get_field("github_repo").max_length


@dataclass(frozen=True)
class PRFilters:
    range: DateRange
    state: str | None = None
    author_id: int | None = None
    repo: str | None = None
    dates: str = "created"  # which date the range applies to: DATE_FIELDS

    def service_kwargs(self) -> dict:
        return {
            "state": self.state,
            "author_id": self.author_id,
            "repo": self.repo,
            "start": self.range.start,
            "end": self.range.end,
            "dates": self.dates,
        }

    def as_query(self) -> str:
        """The filters as a query string, dates explicit: a link shows the same rows tomorrow."""
        return urlencode({name: value for name, value in self.form_values().items() if value})

    def form_values(self) -> dict[str, str]:
        """What the filter form shows, as text."""
        return {
            "dates": self.dates,
            "start": self.range.start.isoformat(),
            "end": self.range.end.isoformat(),
            "state": self.state or "",
            "author": str(self.author_id or ""),
            "repo": self.repo or "",
        }


FORM_FIELDS = ("dates", "start", "end", "state", "author", "repo")


def submitted_values(params) -> dict[str, str]:
    """The form's fields as the user sent them (the last of repeated values), to show back with an error."""
    return {name: params.get(name, "") for name in FORM_FIELDS}


def parse_filters(params, *, author_ids=None, team=None) -> PRFilters:
    """Check every filter; ``InvalidParameter`` names the first bad one.

    The author must be a member of this team: pass the team's member ids when they are at hand
    (``author_ids``), else ``team`` and one statement checks it.
    """
    dates = parse_choice(params, "dates", DATE_FIELDS, default="created")
    date_range = parse_date_range(params)
    state = parse_choice(params, "state", PullRequest.State.values)
    author_id = parse_optional_int(params, "author")
    if author_id is not None:
        known = author_id in author_ids if author_ids is not None else team_authors(team).filter(pk=author_id).exists()
        if not known:
            raise InvalidParameter(f"author {author_id} is not a member of this team")
    repo = parse_text(params, "repo", max_length=REPO_MAX_LENGTH)
    return PRFilters(range=date_range, state=state, author_id=author_id, repo=repo, dates=dates)


def _render_list(request, team, authors, *, filters=None, page=None, error=None):
    """The PR list page; with ``error`` (HTTP 400) the form shows what was sent, and no rows are read."""
    return render(
        request,
        "metrics/pr_list.html",
        {
            "team": team,
            "filters": filters,
            "form": filters.form_values() if filters else submitted_values(request.GET),
            "error": error,
            "authors": authors,
            "states": PullRequest.State.choices,
            "page": page,
            "filter_query": filters.as_query() if filters else "",
        },
        status=400 if error else 200,
    )


def pr_list(request, team_slug: str):
    team = get_team_for_user(request.user, team_slug)
    authors = list(team_authors(team))
    try:
        filters = parse_filters(request.GET, author_ids={member.id for member in authors})
        page_number = parse_optional_int(request.GET, "page") or 1
    except InvalidParameter as error:
        return _render_list(request, team, authors, error=error)
    prs = filter_pull_requests(team, **filters.service_kwargs()).select_related("author")
    page = Paginator(prs, PAGE_SIZE).get_page(page_number)  # past the last page: the last page
    return _render_list(request, team, authors, filters=filters, page=page)


class _Echo:
    """A file-like object whose ``write`` hands the line back: csv.writer then returns each line."""

    def write(self, line: str) -> str:
        return line


def _csv_chunks(rows: Iterable[list[str]], lines_per_chunk: int = CSV_LINES_PER_CHUNK) -> Iterator[str]:
    writer = csv.writer(_Echo())
    batch: list[str] = []
    for row in rows:
        batch.append(writer.writerow(row))
        if len(batch) >= lines_per_chunk:
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)


def export_filename(team, date_range: DateRange) -> str:
    return f"tformance-{team.slug}-{date_range.start.isoformat()}-to-{date_range.end.isoformat()}.csv"


def pr_list_export(request, team_slug: str):
    team = get_team_for_user(request.user, team_slug)
    try:
        filters = parse_filters(request.GET, team=team)
    except InvalidParameter as error:  # the list page with the reason: a download never starts
        return _render_list(request, team, list(team_authors(team)), error=error)
    rows = export_rows(team, **filters.service_kwargs())  # nothing read yet: the rows stream out
    response = StreamingHttpResponse(_csv_chunks(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(team, filters.range)}"'
    return response
