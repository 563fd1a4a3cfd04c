"""A test-only URLconf for the N+1 guard (tests/perflab/test_pytest_guard.py): one view per pattern it catches.

Each repeating line carries a ``# repeats:`` comment; the tests find the line by it and expect it as the call site.
"""

import datetime as dt

from django.contrib.auth.decorators import login_not_required
from django.db.models import prefetch_related_objects
from django.http import HttpResponse
from django.urls import path

from apps.metrics.models import AIUsageDaily, PullRequest, TeamMember


def _team_id(request) -> int:
    return int(request.GET["team"])


@login_not_required
def get_loop(request):
    ids = TeamMember.objects.filter(team_id=_team_id(request)).values_list("pk", flat=True)
    names = [TeamMember.objects.get(pk=pk).display_name for pk in ids]  # repeats: get
    return HttpResponse(", ".join(names))


@login_not_required
def lazy_foreign_key(request):
    prs = PullRequest.objects.filter(team_id=_team_id(request))
    authors = [pr.author.display_name for pr in prs]  # repeats: lazy
    return HttpResponse(", ".join(authors))


@login_not_required
def prefetch_per_object(request):
    sizes = []
    for member in TeamMember.objects.filter(team_id=_team_id(request)):
        prefetch_related_objects([member], "pull_requests")  # repeats: prefetch
        sizes.append(len(member.pull_requests.all()))
    return HttpResponse(str(sizes))


@login_not_required
def update_or_create_per_row(request):
    for member in TeamMember.objects.filter(team_id=_team_id(request)):
        AIUsageDaily.objects.update_or_create(  # repeats: upsert
            team_id=member.team_id,
            member=member,
            date=dt.date(2026, 3, 2),
            source=AIUsageDaily.Source.COPILOT,
            defaults={"suggestions_shown": 10},
        )
    return HttpResponse("ok")


@login_not_required
def clean(request):
    prs = PullRequest.objects.filter(team_id=_team_id(request)).select_related("author")
    return HttpResponse(", ".join(pr.author.display_name for pr in prs))


urlpatterns = [
    path("get-loop/", get_loop),
    path("lazy-fk/", lazy_foreign_key),
    path("prefetch/", prefetch_per_object),
    path("upsert/", update_or_create_per_row),
    path("clean/", clean),
]
