"""The PR survey loop's first step: a merged PR gets a survey for its author and one survey review per reviewer.

``create_surveys(team)`` asks about the PRs merged in the last ``SURVEY_WINDOW`` (nobody answers
for a PR of last year: a first sync of a long history surveys only its recent month), in two
statements whatever the number of PRs, each ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, so
running it again creates nothing twice:

1. a ``PRSurvey`` per merged PR of the window that has none, for its author. A PR without an
   author (a deleted GitHub account) or by a bot is not surveyed: there is nobody to ask;
2. a ``PRSurveyReview`` per (survey of the window, reviewer): everyone who reviewed the PR, once,
   but its author and bots. A reviewer who comes after the survey was created is added by the next
   run: the statement covers every survey of the window, not only the new ones.

The team's cache version is bumped on commit when anything was created (the survey cards count
surveys). Callers: the team's PR sync when it stored PRs (``team_sync.finish_pull_requests``),
and a webhook delivery that stored a merged PR (through ``create_surveys_task``). Generated data
(``apps.perflab.datagen``) draws its own surveys for a share of its PRs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from apps.metrics.models import PRReview, PRSurvey, PRSurveyReview, PullRequest, TeamMember
from apps.metrics.services.team_cache import bump_team_data_version

SURVEY_WINDOW = dt.timedelta(days=30)


@dataclass(frozen=True)
class SurveysCreated:
    surveys: int
    survey_reviews: int


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_CREATE_SURVEYS = f"""
INSERT INTO {_table(PRSurvey)} (team_id, pull_request_id, author_id, author_ai_assisted, author_responded_at,
                                created_at)
SELECT pr.team_id, pr.id, pr.author_id, NULL, NULL, %(now)s
FROM {_table(PullRequest)} pr
JOIN {_table(TeamMember)} author ON author.id = pr.author_id
WHERE pr.team_id = %(team)s AND pr.state = %(merged)s AND pr.merged_at >= %(since)s AND NOT author.is_bot
ON CONFLICT (pull_request_id) DO NOTHING
"""

_CREATE_SURVEY_REVIEWS = f"""
INSERT INTO {_table(PRSurveyReview)} (team_id, survey_id, reviewer_id, quality_rating, ai_guess, guess_correct,
                                      responded_at)
SELECT DISTINCT survey.team_id, survey.id, review.reviewer_id, NULL::smallint, NULL::boolean, NULL::boolean,
       NULL::timestamptz
FROM {_table(PRSurvey)} survey
JOIN {_table(PullRequest)} pr ON pr.id = survey.pull_request_id
JOIN {_table(PRReview)} review ON review.pull_request_id = pr.id
JOIN {_table(TeamMember)} reviewer ON reviewer.id = review.reviewer_id
WHERE survey.team_id = %(team)s AND pr.team_id = %(team)s AND pr.merged_at >= %(since)s
  AND review.reviewer_id IS DISTINCT FROM survey.author_id AND NOT reviewer.is_bot
ON CONFLICT (survey_id, reviewer_id) DO NOTHING
"""


def create_surveys(team, *, now: dt.datetime | None = None) -> SurveysCreated:
    """Surveys and survey reviews for the team's PRs merged in the last ``SURVEY_WINDOW``: two statements."""
    now = now or timezone.now()
    params = {"team": team.id, "merged": PullRequest.State.MERGED, "since": now - SURVEY_WINDOW, "now": now}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CREATE_SURVEYS, params)
        surveys = cursor.rowcount
        cursor.execute(_CREATE_SURVEY_REVIEWS, params)
        survey_reviews = cursor.rowcount
        if surveys or survey_reviews:
            bump_team_data_version(team.id)
    return SurveysCreated(surveys=surveys, survey_reviews=survey_reviews)
