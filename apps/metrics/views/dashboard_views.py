from django.shortcuts import render

from apps.metrics.views.params import InvalidParameter, bad_request, parse_date_range
from apps.teams.services import get_team_for_user


def dashboard(request, team_slug: str):
    team = get_team_for_user(request.user, team_slug)
    try:
        date_range = parse_date_range(request.GET)
    except InvalidParameter as error:
        return bad_request(error)
    return render(request, "metrics/dashboard.html", {"team": team, "range": date_range})
