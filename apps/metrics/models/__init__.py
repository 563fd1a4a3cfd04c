"""Metrics models, one module per domain, re-exported here."""

from apps.metrics.models.aggregations import AIUsageDaily, WeeklyMetrics
from apps.metrics.models.github import Commit, PRReview, PullRequest
from apps.metrics.models.surveys import PRSurvey, PRSurveyReview
from apps.metrics.models.team import TeamMember

__all__ = [
    "AIUsageDaily",
    "Commit",
    "PRReview",
    "PRSurvey",
    "PRSurveyReview",
    "PullRequest",
    "TeamMember",
    "WeeklyMetrics",
]
