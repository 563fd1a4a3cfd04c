"""Team access: the one place that decides which teams a user may see."""

from django.db.models import QuerySet
from django.http import Http404

from apps.teams.models import Team


def teams_for_user(user) -> QuerySet[Team]:
    """Teams the user belongs to, ordered by name. Anonymous users see none."""
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).order_by("name", "id")


def get_team_for_user(user, slug: str) -> Team:
    """The team with this slug if the user belongs to it; 404 otherwise (no existence leak)."""
    team = teams_for_user(user).filter(slug=slug).first()
    if team is None:
        raise Http404("No such team.")
    return team
