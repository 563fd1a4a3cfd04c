from django.db.models import Count, Q
from django.shortcuts import render

from apps.teams.services import get_team_for_user, teams_for_user


def home(request):
    teams = teams_for_user(request.user).annotate(
        member_count=Count("members", filter=Q(members__is_active=True))
    )
    return render(request, "teams/home.html", {"teams": teams})


def team_overview(request, team_slug: str):
    team = get_team_for_user(request.user, team_slug)
    counts = team.members.aggregate(
        active=Count("id", filter=Q(is_active=True)),
        total=Count("id"),
    )
    return render(request, "teams/overview.html", {"team": team, "counts": counts})
