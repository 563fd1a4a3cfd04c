from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower


def avatar_url_for(github_username: str, github_id: str) -> str:
    """GitHub's avatar for an id (stable) or else a login; "" without either."""
    if github_id:
        return f"https://avatars.githubusercontent.com/u/{github_id}?v=4"
    if github_username:
        return f"https://github.com/{github_username}.png"
    return ""


def initials_for(display_name: str, github_username: str) -> str:
    """Two letters for an avatar: first and last word of the name, else its first two letters, else the login's."""
    words = [w for w in display_name.replace("-", " ").split() if w[:1].isalnum()]
    if not words:
        return (github_username[:2] or "?").upper()
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[-1][0]).upper()


class TeamMember(models.Model):
    """A person on a team as GitHub and our surveys know them (not a login user)."""

    class Role(models.TextChoices):
        DEVELOPER = "developer", "Developer"
        LEAD = "lead", "Lead"
        MANAGER = "manager", "Manager"

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="members")
    display_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, default="")
    github_username = models.CharField(max_length=100, blank=True, default="")
    github_id = models.CharField(max_length=32, blank=True, default="")
    is_active = models.BooleanField(default=True)
    # A GitHub App or bot account (dependabot[bot], ...): stored, so that its PRs and reviews stay linked, but left
    # out of the people figures (team breakdown, weekly metrics). db_default: datagen COPYs without this column.
    is_bot = models.BooleanField(default=False, db_default=False)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.DEVELOPER)
    # The login of this person, when they said "this is me" on one of their survey links: their open surveys are
    # then listed on their home page. One member per user in a team; a deleted user leaves the member unlinked.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="team_members"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name", "id"]
        # No composite indexes (problem 6, notebook 06): the audit's (team, github_username) cannot answer the Copilot
        # lookup's lower(github_username), which the team_id index and the unique constraint below serve, and
        # (team, is_active) narrows nothing the team_id index does not already find.
        indexes = []
        constraints = [
            # GitHub logins compare case-insensitively: "Octocat" and "octocat" are one person.
            models.UniqueConstraint(
                F("team"),
                Lower("github_username"),
                condition=~Q(github_username=""),
                name="teammember_unique_team_github_username",
            ),
            models.UniqueConstraint(
                fields=["team", "github_id"],
                condition=~Q(github_id=""),
                name="teammember_unique_team_github_id",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["developer", "lead", "manager"]), name="teammember_role_valid"
            ),
            models.UniqueConstraint(
                fields=["team", "user"], condition=Q(user__isnull=False), name="teammember_unique_team_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} (@{self.github_username})" if self.github_username else self.display_name

    @property
    def avatar_url(self) -> str:
        return avatar_url_for(self.github_username, self.github_id)

    @property
    def initials(self) -> str:
        return initials_for(self.display_name, self.github_username)
