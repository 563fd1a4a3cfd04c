from django.db import models
from django.db.models import F, Q


class PullRequest(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        MERGED = "merged", "Merged"
        CLOSED = "closed", "Closed"

    # No single-column indexes on team and author: the composite indexes below lead with them (migration 0004).
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="pull_requests", db_index=False)
    author = models.ForeignKey(
        "metrics.TeamMember",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pull_requests",
        db_index=False,
    )
    github_pr_id = models.BigIntegerField(help_text="The PR number within its repository.")
    github_repo = models.CharField(max_length=200, help_text="owner/name")
    title = models.CharField(max_length=500)
    state = models.CharField(max_length=10, choices=State.choices)
    pr_created_at = models.DateTimeField()
    merged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="GitHub's closedAt (merged PRs are closed too).")
    github_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="GitHub's updatedAt when the sync stored this PR (null: not from the sync)."
    )
    first_review_at = models.DateTimeField(null=True, blank=True)
    cycle_time_hours = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    review_time_hours = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    additions = models.PositiveIntegerField(default=0)
    deletions = models.PositiveIntegerField(default=0)
    # Derived by the PR sync (apps.integrations.pr_sync.derive_flags): a revert's title starts with "Revert"
    # (GitHub's revert button writes 'Revert "<title>"'); a hotfix's head branch starts with hotfix/ or hotfix-,
    # or its title has the word hotfix (or hot-fix).
    is_revert = models.BooleanField(default=False)
    is_hotfix = models.BooleanField(default=False)
    is_ai_assisted = models.BooleanField(default=False)

    class Meta:
        # Problem 6 (notebook 06): built by migration 0003 with CREATE INDEX CONCURRENTLY. Equality columns
        # first, the range column last; each one is read by a shipped statement (tests/perflab/test_indexes.py).
        indexes = [
            # key metrics, the survey ratings, the weekly charts and the weekly aggregation: a team's PRs merged
            # in a range
            models.Index(fields=["team", "state", "merged_at"], name="pr_team_state_merged_idx"),
            # team breakdown: its join probes each member's PRs merged in the range, with no team condition on
            # the PRs, so the audit's (team, author, merged_at) could not be probed; the author leads instead
            models.Index(fields=["author", "state", "merged_at"], name="pr_author_state_merged_idx"),
            # the PR list and its CSV export: a team's PRs created in a range, newest first
            models.Index(fields=["team", "pr_created_at"], name="pr_team_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "github_repo", "github_pr_id"], name="pullrequest_unique_repo_number"
            ),
            # Migration 0009 adds UNIQUE (id, team_id) as pullrequest_unique_id_team, database-only: the target of
            # the survey's composite foreign key (surveys.py). Not declared here: id alone is already unique, so
            # nothing could violate it and Django's validation would only spend a query on it.
            models.CheckConstraint(condition=Q(state__in=["open", "merged", "closed"]), name="pullrequest_state_valid"),
            models.CheckConstraint(
                condition=Q(state="merged", merged_at__isnull=False) | (~Q(state="merged") & Q(merged_at__isnull=True)),
                name="pullrequest_merged_at_iff_merged",
            ),
            models.CheckConstraint(
                condition=Q(merged_at__isnull=True) | Q(merged_at__gte=F("pr_created_at")),
                name="pullrequest_merged_after_created",
            ),
            models.CheckConstraint(
                condition=Q(cycle_time_hours__isnull=True) | Q(cycle_time_hours__gte=0),
                name="pullrequest_cycle_time_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(review_time_hours__isnull=True) | Q(review_time_hours__gte=0),
                name="pullrequest_review_time_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.github_repo}#{self.github_pr_id}: {self.title}"


class PRReview(models.Model):
    class State(models.TextChoices):
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        COMMENTED = "commented", "Commented"
        DISMISSED = "dismissed", "Dismissed"  # an approval or change request dismissed later (GitHub DISMISSED)

    # the unique (team, github_review_id) leads with team_id (migration 0012)
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="pr_reviews", db_index=False)
    pull_request = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        "metrics.TeamMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews_given"
    )
    state = models.CharField(max_length=20, choices=State.choices)
    submitted_at = models.DateTimeField()
    github_review_id = models.BigIntegerField(
        null=True, blank=True, help_text="GitHub's databaseId of the review (null: not from the sync)."
    )

    class Meta:
        verbose_name = "PR review"
        verbose_name_plural = "PR reviews"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["approved", "changes_requested", "commented", "dismissed"]),
                name="prreview_state_valid",
            ),
            # The PR sync's upsert key. Deliberately not partial: NULLs never conflict in a unique constraint, so
            # reviews without a GitHub id (demo data, factories) are as free as under "WHERE ... IS NOT NULL",
            # and ON CONFLICT (team_id, github_review_id) can name it (a partial index it could not infer).
            # Built concurrently by migration 0007.
            models.UniqueConstraint(fields=["team", "github_review_id"], name="prreview_unique_team_review_id"),
        ]

    def __str__(self) -> str:
        return f"{self.get_state_display()} on PR {self.pull_request_id} by member {self.reviewer_id}"


class Commit(models.Model):
    # (team, committed_at) and the unique (team, github_sha) lead with team_id: no index of its own (migration 0012)
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="commits", db_index=False)
    github_sha = models.CharField(max_length=40)
    github_repo = models.CharField(max_length=200)
    author = models.ForeignKey(
        "metrics.TeamMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="commits"
    )
    pull_request = models.ForeignKey(
        PullRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="commits"
    )
    committed_at = models.DateTimeField()
    additions = models.PositiveIntegerField(default=0)
    deletions = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "github_sha"], name="commit_unique_team_sha"),
        ]
        # the weekly aggregation's commit count and the team's first commit: a team's commits in a time range
        # (notebooks/11_index_health.ipynb weighs it)
        indexes = [models.Index(fields=["team", "committed_at"], name="commit_team_committed_idx")]

    def __str__(self) -> str:
        return f"{self.github_repo}@{self.github_sha[:7]}"
