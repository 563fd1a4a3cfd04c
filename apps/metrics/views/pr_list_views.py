"""The PR list (filtered, paginated) and its CSV export (streamed).

Both read the same filters, ``PRListFilterForm`` (``apps/metrics/pr_list_forms.py``): ``state``,
``author`` (a member of this team), ``repo``, and the ``start``/``end`` dates (inclusive, UTC; the
last 30 days by default) of ``dates``: "created" (the default) or "merged" (the PRs the dashboard
counts). Every parameter is checked before any row is read, so bad input is a 400 with its reasons
beside the fields (the list page, its form showing what was sent), and the export never starts a
200 it cannot finish.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.shortcuts import render

from apps.metrics.pr_list_forms import PRListFilterForm
from apps.metrics.services.pr_list_service import csv_chunks, export_rows, pull_request_page
from apps.metrics.views.params import DateRange, InvalidParameter, parse_optional_int
from apps.teams.services import get_team_for_user


def _render_list(request, team, form, *, page=None):
    """The PR list page; with the form's errors (HTTP 400) it shows what was sent, and no rows are read."""
    filters = None if form.errors else form.filters
    if filters:
        form.show_applied()  # the fields show the range applied, not the blanks sent
    return render(
        request,
        "metrics/pr_list.html",
        {
            "team": team,
            "form": form,
            "filters": filters,
            "page": page,
            "filter_query": filters.as_query() if filters else "",
        },
        status=200 if filters else 400,
    )


def pr_list(request, team_slug: str):
    team = get_team_for_user(request.user, team_slug)
    form = PRListFilterForm(request.GET, team=team)
    try:
        page_number = parse_optional_int(request.GET, "page") or 1
    except InvalidParameter as error:
        form.add_error(None, str(error))  # not a filter: said above the form
    if not form.is_valid():
        return _render_list(request, team, form)
    page = pull_request_page(team, page_number, **form.filters.service_kwargs())  # past the last: the last
    return _render_list(request, team, form, page=page)


def export_filename(team, date_range: DateRange) -> str:
    return f"tformance-{team.slug}-{date_range.start.isoformat()}-to-{date_range.end.isoformat()}.csv"


def pr_list_export(request, team_slug: str):
    team = get_team_for_user(request.user, team_slug)
    form = PRListFilterForm(request.GET, team=team)
    if not form.is_valid():  # the list page with the reasons: a download never starts
        return _render_list(request, team, form)
    filters = form.filters
    rows = export_rows(team, **filters.service_kwargs())  # nothing read yet: the rows stream out
    response = StreamingHttpResponse(csv_chunks(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(team, filters.range)}"'
    return response
