from django.db.models import Count, Q
from django.shortcuts import render

from apps.teams.services import teams_for_user


def home(request):
    teams = teams_for_user(request.user).annotate(
        member_count=Count("members", filter=Q(members__is_active=True))
    )
    return render(request, "teams/home.html", {"teams": teams})
