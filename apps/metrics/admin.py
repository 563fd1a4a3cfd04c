"""Admin list pages join what they display (list_select_related): one query per page, not per row."""

from django.contrib import admin

from apps.metrics.models import (
    AIUsageDaily,
    Commit,
    PRReview,
    PRSurvey,
    PRSurveyReview,
    PullRequest,
    TeamMember,
    WeeklyMetrics,
)


class TeamScopedAdmin(admin.ModelAdmin):
    list_filter = ["team"]
    show_full_result_count = False  # skips a second COUNT(*) over large tables


@admin.register(TeamMember)
class TeamMemberAdmin(TeamScopedAdmin):
    list_display = ["display_name", "github_username", "team", "role", "is_active"]
    list_filter = ["team", "is_active", "role"]
    list_select_related = ["team"]
    search_fields = ["display_name", "github_username", "email"]
    raw_id_fields = ["team"]


@admin.register(PullRequest)
class PullRequestAdmin(TeamScopedAdmin):
    list_display = ["title", "github_repo", "github_pr_id", "author", "team", "state", "merged_at", "cycle_time_hours"]
    list_filter = ["team", "state", "is_ai_assisted"]
    list_select_related = ["author", "team"]
    search_fields = ["title", "github_repo"]
    raw_id_fields = ["team", "author"]
    date_hierarchy = None


@admin.register(PRReview)
class PRReviewAdmin(TeamScopedAdmin):
    list_display = ["pull_request", "reviewer", "team", "state", "submitted_at"]
    list_select_related = ["pull_request", "reviewer", "team"]
    raw_id_fields = ["team", "pull_request", "reviewer"]


@admin.register(Commit)
class CommitAdmin(TeamScopedAdmin):
    list_display = ["github_sha", "github_repo", "author", "pull_request", "team", "committed_at"]
    list_select_related = ["author", "pull_request", "team"]
    search_fields = ["github_sha"]
    raw_id_fields = ["team", "author", "pull_request"]


@admin.register(PRSurvey)
class PRSurveyAdmin(TeamScopedAdmin):
    list_display = ["pull_request", "author", "team", "author_ai_assisted", "author_responded_at"]
    list_select_related = ["pull_request", "author", "team"]
    raw_id_fields = ["team", "pull_request", "author"]


@admin.register(PRSurveyReview)
class PRSurveyReviewAdmin(TeamScopedAdmin):
    list_display = ["survey", "reviewer", "team", "quality_rating", "ai_guess", "guess_correct"]
    # the survey's __str__ names its pull request id only, so joining the survey suffices
    list_select_related = ["survey", "reviewer", "team"]
    raw_id_fields = ["team", "survey", "reviewer"]


@admin.register(AIUsageDaily)
class AIUsageDailyAdmin(TeamScopedAdmin):
    list_display = ["member", "team", "date", "source", "suggestions_shown", "suggestions_accepted", "acceptance_rate"]
    list_filter = ["team", "source"]
    list_select_related = ["member", "team"]
    raw_id_fields = ["team", "member"]


@admin.register(WeeklyMetrics)
class WeeklyMetricsAdmin(TeamScopedAdmin):
    list_display = ["member", "team", "week_start", "prs_merged", "avg_cycle_time_hours", "commits_count"]
    list_select_related = ["member", "team"]
    raw_id_fields = ["team", "member"]
