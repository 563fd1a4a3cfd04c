import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.integrations.fields import EncryptedTextField


def new_webhook_secret() -> str:
    """A random secret for GitHub's webhook signatures (X-Hub-Signature-256): 64 hex characters."""
    return secrets.token_hex(32)


# An integration GitHub can be read with: a token, or a GitHub App installation (apps.integrations.github_app).
HAS_CREDENTIAL = ~Q(access_token="") | Q(app_id__isnull=False)


class GitHubIntegration(models.Model):
    """A team's GitHub organisation and the one credential it is read with.

    Either a token (``access_token``), or a GitHub App installation: ``app_id``, ``app_installation_id`` and the
    app's ``app_private_key`` (PEM), from which ``apps.integrations.github_app`` makes a JWT and exchanges it for an
    installation token, cached in ``app_token`` until shortly before ``app_token_expires_at``. Never both (a
    constraint says so); the three app fields are set and cleared together.
    """

    team = models.OneToOneField("teams.Team", on_delete=models.CASCADE, related_name="github_integration")
    organization_slug = models.CharField(max_length=100)
    access_token = EncryptedTextField(blank=True, default="")
    app_id = models.PositiveIntegerField(null=True, blank=True, help_text="The GitHub App's id (its settings page).")
    app_installation_id = models.BigIntegerField(
        null=True, blank=True, help_text="The app's installation on the organisation (found from the organisation)."
    )
    app_private_key = EncryptedTextField(blank=True, default="")  # the app's private key, PEM
    app_token = EncryptedTextField(blank=True, default="")  # the cached installation token (about an hour)
    app_token_expires_at = models.DateTimeField(null=True, blank=True)
    copilot_synced_through = models.DateField(
        null=True, blank=True, help_text="Last day whose Copilot metrics have been stored."
    )
    # Encrypted like the token. save() fills an empty one (and migration 0003 filled the rows before it); writes
    # that bypass save() (QuerySet.update, bulk_create) leave it as given.
    webhook_secret = EncryptedTextField(blank=True, default="")
    # After a rotation GitHub keeps signing with the old secret until the admin pastes the new one: the old one
    # is still accepted for WEBHOOK_SECRET_GRACE (apps.integrations.webhooks), then never again.
    previous_webhook_secret = EncryptedTextField(blank=True, default="")
    webhook_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    # Delivery of the PR surveys (apps.integrations.survey_comments): off by default. When on, each survey created
    # since ``survey_comments_enabled_at`` gets one comment on its PR with the author's and reviewers' links.
    post_survey_comments = models.BooleanField(
        "Post survey links as a PR comment",
        default=False,
        help_text="The sync posts one comment on each newly surveyed PR, mentioning its author and reviewers with "
        "their survey links.",
    )
    survey_comments_enabled_at = models.DateTimeField(
        null=True, blank=True, help_text="When posting survey comments was last turned on: older surveys get none."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "GitHub integration"
        verbose_name_plural = "GitHub integrations"
        constraints = [
            # the app's id, installation and key come and go together
            models.CheckConstraint(
                condition=Q(app_id__isnull=True, app_installation_id__isnull=True, app_private_key="")
                | (Q(app_id__isnull=False, app_installation_id__isnull=False) & ~Q(app_private_key="")),
                name="githubintegration_app_complete",
            ),
            # one credential at a time: a token or an app
            models.CheckConstraint(
                condition=Q(app_id__isnull=True) | Q(access_token=""), name="githubintegration_one_credential"
            ),
            # turned on means turned on at some moment: the comments start from it
            models.CheckConstraint(
                condition=Q(post_survey_comments=False) | Q(survey_comments_enabled_at__isnull=False),
                name="githubintegration_survey_comments_since",
            ),
        ]

    def __str__(self) -> str:
        return f"GitHub {self.organization_slug} for {self.team}"

    def save(self, *args, **kwargs):
        if self._stamp_survey_comments() and kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "survey_comments_enabled_at"}
        if not self.webhook_secret:
            self.webhook_secret = new_webhook_secret()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "webhook_secret"}
        super().save(*args, **kwargs)

    def clean(self):
        self._stamp_survey_comments()

    def _stamp_survey_comments(self) -> bool:
        """Turned on without a start (the admin's checkbox): they start now (the settings page's service sets it)."""
        if self.post_survey_comments and self.survey_comments_enabled_at is None:
            self.survey_comments_enabled_at = timezone.now()
            return True
        return False

    @property
    def uses_app(self) -> bool:
        """Read through a GitHub App installation rather than a token."""
        return self.app_id is not None


class TrackedRepository(models.Model):
    """A repository of the team's organisation, and where its PR sync stands.

    ``store_repositories`` keeps the list (one row per ``owner/name``, the same string as
    ``PullRequest.github_repo``), ``set_tracked`` chooses which are synced. The PR sync's
    bookkeeping (``apps.integrations.pr_sync``, which documents it in full):

    - ``pr_watermark``: the newest ``updatedAt`` below which every PR is stored. A run stops at the
      first PR not newer than it. It advances only when a run has come all the way down to it.
    - ``resume_cursor``: set while a run is unfinished (it failed after committing some pages):
      the ``endCursor`` of the last committed page, where the next run continues.
    - ``pending_watermark``: the newest ``updatedAt`` of that unfinished run; it becomes
      ``pr_watermark`` when the run is completed.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Not synced yet"
        OK = "ok", "OK"
        NOT_FOUND = "not_found", "Not found"  # no longer in the organisation, or GitHub answered 404
        FORBIDDEN = "forbidden", "Not readable"  # the token may not read its pull requests
        FAILED = "failed", "Failed"  # the last run stopped on an error (status_detail says which)

    # no team_id index of its own: the unique (team, name_with_owner) index leads with it
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, related_name="tracked_repositories", db_index=False
    )
    name_with_owner = models.CharField(max_length=200, help_text="owner/name, as PullRequest.github_repo stores it")
    github_id = models.BigIntegerField(help_text="GitHub's databaseId of the repository.")
    is_archived = models.BooleanField(default=False)
    is_private = models.BooleanField(default=False)
    is_tracked = models.BooleanField(default=False, help_text="Its pull requests are synced.")
    pr_watermark = models.DateTimeField(
        null=True, blank=True, help_text="Newest updatedAt below which every PR is stored (null: never completed)."
    )
    resume_cursor = models.TextField(
        blank=True, default="", help_text="Where an unfinished sync continues (GraphQL endCursor); empty: from the top."
    )
    pending_watermark = models.DateTimeField(
        null=True, blank=True, help_text="Newest updatedAt of the unfinished sync: the watermark once it completes."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_detail = models.TextField(blank=True, default="")
    last_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sync last committed its PRs (an unchanged re-sync writes nothing)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "tracked repository"
        verbose_name_plural = "tracked repositories"
        ordering = ["name_with_owner"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name_with_owner"], name="trackedrepository_unique_team_name"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "ok", "not_found", "forbidden", "failed"]),
                name="trackedrepository_status_valid",
            ),
            # a cursor belongs to an unfinished run, and an unfinished run has its pending watermark
            models.CheckConstraint(
                condition=Q(resume_cursor="") | Q(pending_watermark__isnull=False),
                name="trackedrepository_resume_has_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name_with_owner} ({'tracked' if self.is_tracked else 'not tracked'})"


class SyncStatus(models.Model):
    """How the team's last sync of one kind went, for the settings page: one row per (team, kind), updated in place."""

    class Kind(models.TextChoices):
        MEMBERS = "members", "Members"
        REPOSITORIES = "repositories", "Repositories"
        PULL_REQUESTS = "pull_requests", "Pull requests"
        COPILOT = "copilot", "Copilot usage"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        RATE_LIMITED = "rate_limited", "Waiting for GitHub's rate limit"

    # no team_id index of its own: the unique (team, kind) index leads with it
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="sync_statuses", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices)
    detail = models.TextField(blank=True, default="")
    counts = models.JSONField(default=dict, blank=True, help_text="What the run stored, e.g. {\"created\": 3}.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When a rate-limited or failed run is retried.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sync status"
        verbose_name_plural = "sync statuses"
        constraints = [
            models.UniqueConstraint(fields=["team", "kind"], name="syncstatus_unique_team_kind"),
            models.CheckConstraint(
                condition=Q(kind__in=["members", "repositories", "pull_requests", "copilot"]),
                name="syncstatus_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["running", "done", "failed", "rate_limited"]), name="syncstatus_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync of team {self.team_id}: {self.get_state_display()}"


class WebhookDelivery(models.Model):
    """A GitHub webhook delivery a team's endpoint stored (``X-GitHub-Delivery``): a replay writes nothing.

    Inserted with ``ON CONFLICT DO NOTHING`` in the same transaction as the event's writes
    (``apps.integrations.webhooks``): of two concurrent replays, one inserts and writes, the other
    waits on the unique index, then finds the row and writes nothing.
    """

    # no team_id index of its own: the unique (team, delivery_id) index leads with it
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, related_name="webhook_deliveries", db_index=False
    )
    delivery_id = models.CharField(max_length=100, help_text="GitHub's X-GitHub-Delivery (a GUID).")
    event = models.CharField(max_length=50, help_text="X-GitHub-Event, e.g. pull_request.")
    action = models.CharField(max_length=50, blank=True, default="")
    received_at = models.DateTimeField()

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["team", "delivery_id"], name="webhookdelivery_unique_team_delivery"),
        ]

    def __str__(self) -> str:
        return f"{self.event} delivery {self.delivery_id} for team {self.team_id}"


class SurveyComment(models.Model):
    """The PR comment that delivered a survey's links (``apps.integrations.survey_comments``): at most one per survey.

    The row is a claim before it is a record: inserted (``ON CONFLICT DO NOTHING``) before the comment is posted,
    with ``github_comment_id`` null, so that two runs never post the same survey's comment; filled with GitHub's
    comment id once GitHub answered 201, deleted again when the post failed (the next run retries it). A claim whose
    run died mid-way is taken over after ``survey_comments.CLAIM_TIMEOUT``.
    """

    # no team_id index of its own: every read starts from the survey (unique) or joins from the team's surveys
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="survey_comments", db_index=False)
    survey = models.OneToOneField("metrics.PRSurvey", on_delete=models.CASCADE, related_name="github_comment")
    claimed_at = models.DateTimeField(help_text="When a run took it on (posting, or posted).")
    github_comment_id = models.BigIntegerField(null=True, blank=True, help_text="GitHub's id of the posted comment.")
    html_url = models.URLField(max_length=500, blank=True, default="")
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "survey comment"
        verbose_name_plural = "survey comments"
        constraints = [
            # posted means GitHub's id and the time, together
            models.CheckConstraint(
                condition=Q(github_comment_id__isnull=True, posted_at__isnull=True)
                | Q(github_comment_id__isnull=False, posted_at__isnull=False),
                name="surveycomment_posted_has_id",
            ),
        ]

    def __str__(self) -> str:
        state = f"comment {self.github_comment_id}" if self.github_comment_id else "being posted"
        return f"Survey {self.survey_id} on GitHub: {state}"
