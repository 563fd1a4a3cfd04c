"""The PR list (filtered, paginated) and its CSV export (streamed).

Both read the same filters: ``state``, ``author`` (a member of this team), ``repo`` and the
``start``/``end`` creation dates (inclusive, UTC; the last 30 days by default). Every
parameter is checked before any row is read, so bad input is a 400 with its reason, and the
export never starts a 200 it cannot finish.
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
from apps.metrics.services.pr_list_service import export_rows, filter_pull_requests, team_authors
from apps.metrics.views.params import DateRange, InvalidParameter, bad_request, parse_date_range, parse_optional_int
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

    def service_kwargs(self) -> dict:
        return {
            "state": self.state,
            "author_id": self.author_id,
            "repo": self.repo,
            "start": self.range.start,
            "end": self.range.end,
        }

    def as_query(self) -> str:
        """The filters as a query string, dates explicit: a link shows the same rows tomorrow."""
        params = {"start": self.range.start.isoformat(), "end": self.range.end.isoformat()}
        for name, value in (("state", self.state), ("author", self.author_id), ("repo", self.repo)):
            if value:
                params[name] = value
        return urlencode(params)


def parse_filters(params, *, author_ids=None, team=None) -> PRFilters:
    """Check every filter; ``InvalidParameter`` names the first bad one.

    The author must be a member of this team: pass the team's member ids when they are at hand
    (``author_ids``), else ``team`` and one statement checks it.
    """
    date_range = parse_date_range(params)
    state = params.get("state") or None
    if state is not None and state not in PullRequest.State.values:
        allowed = ", ".join(PullRequest.State.values)
        raise InvalidParameter(f"state must be one of {allowed}, not {state!r}")
    author_id = parse_optional_int(params, "author")
    if author_id is not None:
        known = author_id in author_ids if author_ids is not None else team_authors(team).filter(pk=author_id).exists()
        if not known:
            raise InvalidParameter(f"author {author_id} is not a member of this team")
    repo = (params.get("repo") or "").strip() or None
    if repo is not None and len(repo) > REPO_MAX_LENGTH:
        raise InvalidParameter(f"repo is at most {REPO_MAX_LENGTH} characters")
    return PRFilters(range=date_range, state=state, author_id=author_id, repo=repo)


def pr_list(request, team_slug: str):
    team = get_team_for_user(request.user, team_slug)
    authors = list(team_authors(team))
    try:
        filters = parse_filters(request.GET, author_ids={member.id for member in authors})
        page_number = parse_optional_int(request.GET, "page") or 1
    except InvalidParameter as error:
        return bad_request(error)
    prs = filter_pull_requests(team, **filters.service_kwargs()).select_related("author")
    page = Paginator(prs, PAGE_SIZE).get_page(page_number)  # past the last page: the last page
    return render(
        request,
        "metrics/pr_list.html",
        {
            "team": team,
            "filters": filters,
            "authors": authors,
            "states": PullRequest.State.choices,
            "page": page,
            "filter_query": filters.as_query(),
        },
    )


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
    except InvalidParameter as error:
        return bad_request(error)
    rows = export_rows(team, **filters.service_kwargs())  # nothing read yet: the rows stream out
    response = StreamingHttpResponse(_csv_chunks(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(team, filters.range)}"'
    return response
