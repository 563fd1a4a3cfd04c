"""Placeholder: the PR list and its CSV export (being written)."""

from django.http import HttpResponse


def _not_yet(request, team_slug: str):
    return HttpResponse(status=501)


pr_list = pr_list_export = _not_yet
