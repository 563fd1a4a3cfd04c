import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone


class Team(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The weekly aggregation's watermark (``aggregation_service.aggregate_team_weeks``): every week up to and
    # including this Monday's has been aggregated into ``WeeklyMetrics``; null until the first run.
    weekly_metrics_through = models.DateField(
        null=True, blank=True, help_text="Last Monday whose week has been aggregated into the weekly metrics."
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """Who may see which team: a user sees exactly the teams they have a membership of."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    # the unique (user, team) leads with user_id (migration 0004)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team"),
            models.CheckConstraint(condition=models.Q(role__in=["admin", "member"]), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Invite(models.Model):
    """A link that lets one person join ``team`` as a member: once, before ``expires_at``.

    The link carries this row's id, signed (``apps.teams.invites``); the row is what makes it
    single-use and expiring: using it is one ``UPDATE ... WHERE used_at IS NULL AND expires_at > now``.
    """

    VALIDITY = dt.timedelta(days=7)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invites")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="invites_created"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    email = models.EmailField(blank=True, default="", help_text="Who the link is for (a note; nothing is sent).")
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="invites_used"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="invite_expires_after_creation"
            ),
            # used_by may be emptied later (the account deleted), but never set on an unused invite
            models.CheckConstraint(
                condition=models.Q(used_by__isnull=True) | models.Q(used_at__isnull=False),
                name="invite_used_by_needs_used_at",
            ),
        ]

    def __str__(self) -> str:
        state = "used" if self.used_at else f"until {self.expires_at:%Y-%m-%d %H:%M} UTC"
        return f"Invite to {self.team} ({state})"
