from django.db import models
from django.db.models import Q


class AIUsageDaily(models.Model):
    """One member's AI-assistant usage on one day, from one source (Copilot, Cursor)."""

    class Source(models.TextChoices):
        COPILOT = "copilot", "GitHub Copilot"
        CURSOR = "cursor", "Cursor"

    # no team_id index of its own: the unique (team, member, date, source) leads with it (migration 0012)
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="ai_usage", db_index=False)
    member = models.ForeignKey("metrics.TeamMember", on_delete=models.CASCADE, related_name="ai_usage")
    date = models.DateField()
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.COPILOT)
    suggestions_shown = models.PositiveIntegerField(default=0)
    suggestions_accepted = models.PositiveIntegerField(default=0)
    lines_suggested = models.PositiveIntegerField(default=0)
    lines_accepted = models.PositiveIntegerField(default=0)
    chat_interactions = models.PositiveIntegerField(default=0)
    acceptance_rate = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="Accepted / shown, in percent."
    )

    class Meta:
        verbose_name = verbose_name_plural = "AI usage (daily)"
        constraints = [
            models.UniqueConstraint(
                fields=["team", "member", "date", "source"], name="aiusagedaily_unique_member_day_source"
            ),
            models.CheckConstraint(condition=Q(source__in=["copilot", "cursor"]), name="aiusagedaily_source_valid"),
            models.CheckConstraint(
                condition=Q(acceptance_rate__isnull=True) | Q(acceptance_rate__gte=0, acceptance_rate__lte=100),
                name="aiusagedaily_acceptance_rate_percent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} usage of member {self.member_id} on {self.date}"


class WeeklyMetrics(models.Model):
    """Per-member figures for one ISO week, rebuilt idempotently by the aggregation service."""

    # the unique (team, member, week_start) leads with team_id (migration 0012)
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="weekly_metrics", db_index=False)
    member = models.ForeignKey("metrics.TeamMember", on_delete=models.CASCADE, related_name="weekly_metrics")
    week_start = models.DateField(help_text="The Monday the week starts on.")
    prs_merged = models.PositiveIntegerField(default=0)
    avg_cycle_time_hours = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    avg_review_time_hours = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    commits_count = models.PositiveIntegerField(default=0)
    lines_added = models.PositiveIntegerField(default=0)
    lines_removed = models.PositiveIntegerField(default=0)
    revert_count = models.PositiveIntegerField(default=0)
    hotfix_count = models.PositiveIntegerField(default=0)
    ai_assisted_prs = models.PositiveIntegerField(default=0)
    surveys_completed = models.PositiveIntegerField(default=0)
    avg_quality_rating = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    guess_accuracy = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="Share of correct reviewer guesses, percent."
    )

    class Meta:
        verbose_name = verbose_name_plural = "weekly metrics"
        constraints = [
            models.UniqueConstraint(fields=["team", "member", "week_start"], name="weeklymetrics_unique_member_week"),
            models.CheckConstraint(condition=Q(week_start__iso_week_day=1), name="weeklymetrics_week_start_monday"),
        ]

    def __str__(self) -> str:
        return f"Week of {self.week_start} for member {self.member_id}"
