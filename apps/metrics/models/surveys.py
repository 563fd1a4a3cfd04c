from django.db import models
from django.db.models import Q


class PRSurvey(models.Model):
    """Asked of a merged PR's author: was this AI-assisted? ``author_ai_assisted`` null = not answered."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="pr_surveys")
    pull_request = models.OneToOneField("metrics.PullRequest", on_delete=models.CASCADE, related_name="survey")
    author = models.ForeignKey(
        "metrics.TeamMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="authored_surveys"
    )
    author_ai_assisted = models.BooleanField(null=True, blank=True)
    author_responded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "PR survey"
        verbose_name_plural = "PR surveys"
        # A survey's team is its PR's: migration 0009 adds the composite foreign key
        # prsurvey_same_team_as_pull_request, (pull_request_id, team_id) -> metrics_pullrequest (id, team_id),
        # DEFERRABLE INITIALLY DEFERRED like Django's own (Django 5.2 cannot declare a composite foreign key), and
        # UNIQUE (id, team_id) here as prsurvey_unique_id_team, the target of the reviews' key. That one is
        # database-only too: id alone is unique, so nothing could violate it.
        constraints = [
            models.CheckConstraint(
                condition=Q(author_ai_assisted__isnull=True, author_responded_at__isnull=True)
                | Q(author_ai_assisted__isnull=False, author_responded_at__isnull=False),
                name="prsurvey_answer_has_time",
            ),
        ]

    def __str__(self) -> str:
        answer = {None: "unanswered", True: "AI-assisted", False: "not AI-assisted"}[self.author_ai_assisted]
        return f"Survey on PR {self.pull_request_id}: {answer}"


class PRSurveyReview(models.Model):
    """A reviewer's rating of a surveyed PR (1 = poor .. 3 = great) and guess at AI assistance."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="pr_survey_reviews")
    # the unique (survey, reviewer) leads with survey_id (migration 0012)
    survey = models.ForeignKey(PRSurvey, on_delete=models.CASCADE, related_name="reviews", db_index=False)
    reviewer = models.ForeignKey(
        "metrics.TeamMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="survey_reviews"
    )
    quality_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    ai_guess = models.BooleanField(null=True, blank=True)
    guess_correct = models.BooleanField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "PR survey review"
        verbose_name_plural = "PR survey reviews"
        # A review's team is its survey's (so its PR's): migration 0009 adds the composite foreign key
        # prsurveyreview_same_team_as_survey, (survey_id, team_id) -> metrics_prsurvey (id, team_id), deferred.
        constraints = [
            models.UniqueConstraint(fields=["survey", "reviewer"], name="prsurveyreview_unique_survey_reviewer"),
            models.CheckConstraint(
                condition=Q(quality_rating__isnull=True) | Q(quality_rating__gte=1, quality_rating__lte=3),
                name="prsurveyreview_quality_rating_1_to_3",
            ),
        ]

    def __str__(self) -> str:
        return f"Review of survey {self.survey_id} by member {self.reviewer_id}: {self.quality_rating}"
