"""Survey delivery: one comment on each newly surveyed PR, with its author's and reviewers' survey links.

A team setting (``GitHubIntegration.post_survey_comments``, off by default, on the settings page) turns it on.
``post_survey_comments(team)`` then comments, through GitHub's REST API (``POST
/repos/{owner}/{repo}/issues/{number}/comments``, body ``{"body": ...}``, 201 with the comment), on the PR of every
survey that

- was created at or after the setting was turned on (``survey_comments_enabled_at``): turning it on never
  comments on the PRs surveyed before, whatever their age;
- is still open (``survey_service.SURVEY_OPEN_FOR`` after its creation), and whose PR was merged within
  ``COMMENT_MERGED_WITHIN`` (a first sync surveys a month of merges: those stay quiet too);
- has no comment yet (``SurveyComment``, one row per survey, unique).

The comment mentions the author (``@login``) with the author's link and each reviewer with theirs (absolute:
``settings.SITE_URL`` + ``/surveys/<token>/``), so GitHub notifies each of them.

**Statements, whatever the number of surveys**: one lookup of the integration (the only one when the setting is
off); one statement that claims the pending surveys and reads what their comments need (a ``WITH ... INSERT ...
ON CONFLICT DO NOTHING RETURNING`` joined to the PR, its author and a ``json_agg`` of its reviewers); then, after
the requests (one per PR), one ``UPDATE`` recording every posted comment's GitHub id and URL, and one ``DELETE``
releasing the claims whose post failed. At most four, and one HTTP request per PR.

**Never twice, and nothing lost**: a survey is claimed (its ``SurveyComment`` row inserted, comment id null) and
committed before its comment is posted, so a concurrent run (the webhook's and the sync's) skips it. A post that
fails (an HTTP error on that PR: 404, 422, 5xx) releases that claim only; the others are posted and recorded, and
the next run retries it. A refused token, a missing permission or a rate limit stops the run: the rest are
released untouched, for the next run. A claim left by a run that died between its claim and its record is taken
over after ``CLAIM_TIMEOUT``, so a worker killed just after GitHub's 201 may, rarely, leave a second comment.
At most ``MAX_COMMENTS_PER_RUN`` comments a run (GitHub rate-limits content creation): the rest wait for the next.

Callers: the PR sync (``team_sync.finish_pull_requests``, after ``create_surveys``) and the webhook's survey task
(``tasks.create_surveys_task``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, F, OuterRef, Subquery, Value, When
from django.urls import reverse
from django.utils import timezone

from apps.integrations.github import (
    GitHubError,
    InvalidToken,
    MissingPermission,
    RateLimited,
)
from apps.integrations.github_app import client_for, has_credential
from apps.integrations.models import GitHubIntegration, SurveyComment
from apps.metrics.models import PRSurvey, PRSurveyReview, PullRequest, TeamMember
from apps.metrics.services.survey_service import SURVEY_OPEN_FOR, survey_link_token

logger = logging.getLogger(__name__)

COMMENT_MERGED_WITHIN = dt.timedelta(days=3)  # a PR merged longer ago gets no comment (retries end there too)
CLAIM_TIMEOUT = dt.timedelta(minutes=15)  # a claim older than this, never recorded, belongs to a dead run
MAX_COMMENTS_PER_RUN = 50

# errors that every further request would meet too: stop, release the rest for the next run
_STOPS_THE_RUN = (InvalidToken, MissingPermission, RateLimited)


@dataclass(frozen=True)
class CommentsPosted:
    posted: int = 0
    failed: int = 0  # posts that failed (released: the next run retries them)
    stopped: str = ""  # why the run stopped early (the rest released), or why nothing was tried

    def as_dict(self) -> dict:
        return {"posted": self.posted, "failed": self.failed, **({"stopped": self.stopped} if self.stopped else {})}


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_CLAIM_PENDING = f"""
WITH pending AS (
    SELECT survey.id AS survey_id, survey.team_id
    FROM {_table(PRSurvey)} survey
    JOIN {_table(PullRequest)} pr ON pr.id = survey.pull_request_id AND pr.team_id = survey.team_id
    WHERE survey.team_id = %(team)s AND survey.created_at >= %(since)s AND survey.created_at > %(opened_after)s
      AND pr.merged_at >= %(merged_since)s
      AND NOT EXISTS (SELECT 1 FROM {_table(SurveyComment)} comment
                      WHERE comment.survey_id = survey.id
                        AND (comment.github_comment_id IS NOT NULL OR comment.claimed_at >= %(stale)s))
    ORDER BY survey.created_at, survey.id
    LIMIT %(limit)s
), claimed AS (
    INSERT INTO {_table(SurveyComment)} AS comment (team_id, survey_id, claimed_at, github_comment_id, html_url,
                                                    posted_at)
    SELECT team_id, survey_id, %(now)s, NULL, '', NULL FROM pending
    ON CONFLICT (survey_id) DO UPDATE SET claimed_at = EXCLUDED.claimed_at
    WHERE comment.github_comment_id IS NULL AND comment.claimed_at < %(stale)s
    RETURNING comment.survey_id
)
SELECT survey.id, survey.team_id, pr.github_repo, pr.github_pr_id, author.github_username, author.display_name,
       COALESCE((
           SELECT json_agg(json_build_object('id', review.id, 'login', reviewer.github_username,
                                             'name', reviewer.display_name)
                           ORDER BY lower(reviewer.github_username), review.id)
           FROM {_table(PRSurveyReview)} review
           JOIN {_table(TeamMember)} reviewer ON reviewer.id = review.reviewer_id
           WHERE review.survey_id = survey.id
       ), '[]'::json)
FROM claimed
JOIN {_table(PRSurvey)} survey ON survey.id = claimed.survey_id
JOIN {_table(PullRequest)} pr ON pr.id = survey.pull_request_id
LEFT JOIN {_table(TeamMember)} author ON author.id = survey.author_id
ORDER BY pr.github_repo, pr.github_pr_id
"""

_RECORD_POSTED = f"""
UPDATE {_table(SurveyComment)} comment
SET github_comment_id = posted.comment_id, html_url = posted.html_url, posted_at = %(now)s
FROM unnest(%(surveys)s::bigint[], %(comments)s::bigint[], %(urls)s::text[]) AS posted(survey_id, comment_id, html_url)
WHERE comment.survey_id = posted.survey_id AND comment.github_comment_id IS NULL
"""

_RELEASE = f"""
DELETE FROM {_table(SurveyComment)}
WHERE survey_id = ANY(%(surveys)s::bigint[]) AND github_comment_id IS NULL AND claimed_at = %(claimed_at)s
"""


@dataclass(frozen=True)
class _Pending:
    survey_id: int
    team_id: int
    repository: str
    number: int
    author_login: str | None  # None: the author's account is gone
    author_name: str
    reviewers: tuple[dict, ...]  # {"id", "login", "name"}


def post_survey_comments(team, *, now: dt.datetime | None = None) -> CommentsPosted:
    """Comment on each pending survey's PR (see the module doc): at most four statements and one request per PR."""
    now = now or timezone.now()
    integration = GitHubIntegration.objects.filter(team=team).first()
    if integration is None or not integration.post_survey_comments:
        return CommentsPosted(stopped="off")
    if not has_credential(integration):
        return CommentsPosted(stopped="no GitHub credential")
    pending = _claim_pending(team.id, since=integration.survey_comments_enabled_at, now=now)
    if not pending:
        return CommentsPosted()
    posted: list[tuple[int, dict]] = []
    failed: list[int] = []
    stopped = ""
    try:
        client = client_for(integration)
    except GitHubError as error:  # a GitHub App GitHub refuses (or cannot answer): nothing is tried
        return _finish(team.id, now, posted, [p.survey_id for p in pending], stopped=f"{type(error).__name__}: {error}")
    with client:
        for index, item in enumerate(pending):
            try:
                posted.append((item.survey_id, client.create_issue_comment(item.repository, item.number, _body(item))))
            except _STOPS_THE_RUN as error:
                stopped = f"{type(error).__name__}: {error}"
                failed += [p.survey_id for p in pending[index:]]
                break
            except GitHubError as error:
                logger.warning("survey comment on %s#%s (team %s) failed: %s", item.repository, item.number,
                               team.id, error)  # fmt: skip
                failed.append(item.survey_id)
    return _finish(team.id, now, posted, failed, stopped=stopped)


def _claim_pending(team_id: int, *, since: dt.datetime, now: dt.datetime) -> list[_Pending]:
    params = {
        "team": team_id, "since": since, "opened_after": now - SURVEY_OPEN_FOR,
        "merged_since": now - COMMENT_MERGED_WITHIN, "stale": now - CLAIM_TIMEOUT, "now": now,
        "limit": MAX_COMMENTS_PER_RUN,
    }  # fmt: skip
    with connection.cursor() as cursor:  # one statement: committed on its own (autocommit) before any request
        cursor.execute(_CLAIM_PENDING, params)
        rows = cursor.fetchall()
    return [
        _Pending(
            survey_id,
            team_id,
            repository,
            number,
            login,
            name or "",
            tuple(json.loads(reviewers) if isinstance(reviewers, str) else reviewers),
        )
        for survey_id, team_id, repository, number, login, name, reviewers in rows
    ]


def _finish(team_id: int, now: dt.datetime, posted: list[tuple[int, dict]], failed: list[int], *, stopped: str):
    """Record the posted comments (one ``UPDATE``) and release the failed claims (one ``DELETE``)."""
    with connection.cursor() as cursor:
        if posted:
            cursor.execute(_RECORD_POSTED, {
                "now": now, "surveys": [survey for survey, _ in posted],
                "comments": [comment["id"] for _, comment in posted],
                "urls": [comment["html_url"] for _, comment in posted],
            })  # fmt: skip
        if failed:
            cursor.execute(_RELEASE, {"surveys": failed, "claimed_at": now})
    if stopped:
        logger.warning("survey comments of team %s stopped: %s (%s left for the next run)", team_id, stopped,
                       len(failed))  # fmt: skip
    return CommentsPosted(posted=len(posted), failed=len(failed), stopped=stopped)


# --- the setting ------------------------------------------------------------------------------------------------


def posted_comments_count():
    """A subquery of an integration's team's posted survey comments, for the settings page's one read of the
    integration (``teams.services.team_settings``)."""
    return Subquery(
        SurveyComment.objects.filter(team=OuterRef("team"), github_comment_id__isnull=False)
        .order_by()
        .values("team")
        .annotate(n=Count("pk"))
        .values("n")
    )


def survey_comments_setting(github: dict | None) -> dict | None:
    """``{"enabled", "since", "posted"}`` for the settings page from ``team_settings``' ``github`` row; None without
    a GitHub integration. No statement."""
    if github is None:
        return None
    return {"enabled": github["post_survey_comments"], "since": github["survey_comments_enabled_at"],
            "posted": github["survey_comments_posted"] or 0}  # fmt: skip


def set_survey_comments(*, team, enabled: bool, now: dt.datetime | None = None) -> bool:
    """Turn the team's survey comments on or off: one ``UPDATE``. Turning them on (from off) starts them now:
    only surveys created from this moment get a comment. False when the team has no GitHub integration."""
    if not isinstance(enabled, bool):
        raise TypeError("enabled must be a bool")
    integration = GitHubIntegration.objects.filter(team=team)
    if not enabled:
        return bool(integration.update(post_survey_comments=False))
    since = Case(When(post_survey_comments=False, then=Value(now or timezone.now())),
                 default=F("survey_comments_enabled_at"))  # fmt: skip
    return bool(integration.update(post_survey_comments=True, survey_comments_enabled_at=since))


# --- the request --------------------------------------------------------------------------------------------
# --- the comment -----------------------------------------------------------------------------------------------


def survey_url(token: str) -> str:
    """A survey link as sent off-site: ``settings.SITE_URL`` (read now) and the link's path."""
    return settings.SITE_URL.rstrip("/") + reverse("surveys:answer", args=[token])


def _mention(login: str | None, name: str) -> str:
    return f"@{login}" if login else (name or "a former member")


def _body(item: _Pending) -> str:
    survey = PRSurvey(pk=item.survey_id, team_id=item.team_id)  # what the token signs: no statement
    days = SURVEY_OPEN_FOR.days
    lines = [
        f"**tformance survey** on this pull request: a minute each, no login needed, open for {days} days. "
        "Please answer with your own link only.",
        "",
    ]
    if item.author_login is not None or item.author_name:
        link = survey_url(survey_link_token(survey))
        author = _mention(item.author_login, item.author_name)
        lines.append(f"- {author} (author): was it AI-assisted? [Answer]({link})")
    for reviewer in item.reviewers:
        review = PRSurveyReview(pk=reviewer["id"], survey_id=item.survey_id)
        link = survey_url(survey_link_token(survey, review))
        lines.append(
            f"- {_mention(reviewer['login'], reviewer['name'])} (reviewer): how was it, and was it AI-assisted? "
            f"[Answer]({link})"
        )
    return "\n".join(lines) + "\n"
