"""Placeholder: the dashboard's JSON chart endpoints and metric cards (being written)."""

from django.http import HttpResponse


def _not_yet(request, team_slug: str):
    return HttpResponse(status=501)


key_metrics_cards = cycle_time_chart = ai_share_chart = pr_size_chart = _not_yet
