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
import zlib
from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Q
from django.utils import timezone

from apps.metrics.models import PRReview, PRSurvey, PRSurveyReview, PullRequest, TeamMember
from apps.metrics.services.team_cache import bump_team_data_version
from apps.teams.models import Membership, Team

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


# --- answering: signed links, the author's and the reviewers' answers, the home page's list ---------------------
#
# A survey is answered through a link that needs no login: ``survey_link_token(survey, review)`` signs, with
# ``django.core.signing`` under a salt of its own, the team, the survey and who answers (the author, or one survey
# review), with a timestamp. ``read_survey_link`` refuses a forged or garbled token (``SurveyLinkInvalid``, 400), one
# older than ``SURVEY_LINK_VALIDITY`` (``SurveyLinkExpired``, 410), one whose ids do not name a row of that team any
# more (``SurveyNotFound``, 404: a deleted PR, or ids that were never signed together) and a closed survey
# (``SurveyClosed``, 410). The signature proves the ids were signed here together; the row decides the rest.
#
# A survey is open for ``SURVEY_OPEN_FOR`` after its ``created_at``: until then each person may change their answer
# (the last one counts, ``*_responded_at`` is its time); after it, nothing is written. Each answer is one statement:
#
# - the author's: ``WITH answered AS (UPDATE survey ...) UPDATE review SET guess_correct = (ai_guess = answer)`` for
#   every review of the survey (null where the reviewer has not guessed);
# - a reviewer's: ``UPDATE review SET ..., guess_correct = (guess = (SELECT author's answer ... FOR SHARE))``.
#
# Race-free under READ COMMITTED: the reviewer's ``FOR SHARE`` waits for an author's uncommitted answer and then
# reads it; an author who comes second waits on the review row the reviewer wrote and PostgreSQL re-evaluates the
# ``SET`` on its committed version (so its new ``ai_guess``). Each answer bumps the team's cache version on commit.
# A single statement is its own transaction, so the answers run no ``atomic`` block (and no savepoint inside a
# caller's transaction): refused (closed), the statement has updated nothing.

SURVEY_OPEN_FOR = dt.timedelta(days=30)  # answers are taken, and may be changed, until created_at + this
SURVEY_LINK_VALIDITY = dt.timedelta(days=30)  # a link's signature is accepted for this long after it was made
LINK_SALT = "tformance.metrics.survey-link"
OPEN_SURVEYS_SHOWN = 50


class SurveyLinkRefused(Exception):
    """This survey link cannot be used: ``reason`` says why, ``status`` is the page's HTTP status."""

    status = 400

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SurveyLinkInvalid(SurveyLinkRefused):
    """Forged, tampered or garbled: the signature does not hold or the signed value is not ours."""

    status = 400


class SurveyNotFound(SurveyLinkRefused):
    """Signed, but its ids name no survey (or survey review) of that team: deleted, or never signed together."""

    status = 404


class SurveyLinkExpired(SurveyLinkRefused):
    """The signature is older than ``SURVEY_LINK_VALIDITY``."""

    status = 410


class SurveyClosed(SurveyLinkRefused):
    """The survey was created more than ``SURVEY_OPEN_FOR`` ago: answers are final."""

    status = 410


class MemberLinkRefused(Exception):
    """Refused "this is me": ``reason`` says why; nothing was changed."""

    def __init__(self, reason: str, *, status: int):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class SurveyLink:
    """What a valid link names: the survey (its PR and team joined), the review when a reviewer answers, and the
    member who answers (None when their account was deleted from GitHub's side)."""

    survey: PRSurvey
    review: PRSurveyReview | None
    member: TeamMember | None

    @property
    def is_author(self) -> bool:
        return self.review is None

    @property
    def closes_at(self) -> dt.datetime:
        return survey_closes_at(self.survey)


def survey_closes_at(survey: PRSurvey) -> dt.datetime:
    return survey.created_at + SURVEY_OPEN_FOR


def survey_link_token(survey: PRSurvey, reviewer: PRSurveyReview | None = None) -> str:
    """The signed part of a survey's link for its author, or for the survey review ``reviewer``. No statement."""
    if reviewer is not None and reviewer.survey_id != survey.pk:
        raise ValueError(f"survey review {reviewer.pk} is not of survey {survey.pk}")
    return _link_token(survey.team_id, survey.pk, reviewer.pk if reviewer is not None else None)


def _link_token(team_id: int, survey_id: int, review_id: int | None) -> str:
    payload = {"t": team_id, "s": survey_id}
    if review_id is not None:
        payload["r"] = review_id
    return signing.TimestampSigner(salt=LINK_SALT).sign_object(payload)


_INVALID = "This survey link is not valid: it is incomplete or has been altered."


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _link_ids(token: str) -> tuple[int, int, int | None]:
    try:
        payload = signing.TimestampSigner(salt=LINK_SALT).unsign_object(
            token, max_age=SURVEY_LINK_VALIDITY.total_seconds()
        )
    except signing.SignatureExpired as exc:
        raise SurveyLinkExpired(
            f"This survey link has expired: links work for {SURVEY_LINK_VALIDITY.days} days."
        ) from exc
    except (signing.BadSignature, ValueError, UnicodeError, zlib.error, TypeError) as exc:
        raise SurveyLinkInvalid(_INVALID) from exc
    if not isinstance(payload, dict) or set(payload) - {"t", "s", "r"}:
        raise SurveyLinkInvalid(_INVALID)
    team_id, survey_id, review_id = payload.get("t"), payload.get("s"), payload.get("r")
    if not (_is_id(team_id) and _is_id(survey_id) and (review_id is None or _is_id(review_id))):
        raise SurveyLinkInvalid(_INVALID)
    return team_id, survey_id, review_id


def read_survey_link(token: str, *, now: dt.datetime | None = None) -> SurveyLink:
    """The survey and person a link names, if it is genuine, unexpired, of one team and the survey is open.

    One statement at most (none for a forged link). Raises a ``SurveyLinkRefused`` subclass otherwise.
    """
    team_id, survey_id, review_id = _link_ids(token)
    if review_id is None:
        survey = (
            PRSurvey.objects.select_related("pull_request", "team", "author")
            .filter(pk=survey_id, team_id=team_id, pull_request__team_id=team_id)
            .first()
        )
        review, member = None, survey and survey.author
    else:
        review = (
            PRSurveyReview.objects.select_related("survey__pull_request", "survey__team", "survey__author", "reviewer")
            .filter(pk=review_id, survey_id=survey_id, team_id=team_id, survey__team_id=team_id)
            .first()
        )
        survey, member = (review.survey, review.reviewer) if review else (None, None)
    if survey is None:
        raise SurveyNotFound("This survey no longer exists (its pull request or team may have been deleted).")
    if member is not None and member.team_id != team_id:
        raise SurveyNotFound("This survey no longer exists (its pull request or team may have been deleted).")
    link = SurveyLink(survey=survey, review=review, member=member)
    if link.closes_at <= (now or timezone.now()):
        raise SurveyClosed(f"This survey closed on {link.closes_at:%Y-%m-%d} UTC: its answers are final.")
    return link


_ANSWER_AS_AUTHOR = f"""
WITH answered AS (
    UPDATE {_table(PRSurvey)} SET author_ai_assisted = %(answer)s, author_responded_at = %(now)s
    WHERE id = %(survey)s AND created_at > %(opened_after)s
    RETURNING id, author_ai_assisted
), recomputed AS (
    UPDATE {_table(PRSurveyReview)} review SET guess_correct = (review.ai_guess = answered.author_ai_assisted)
    FROM answered WHERE review.survey_id = answered.id
    RETURNING review.id
)
SELECT (SELECT count(*) FROM answered), (SELECT count(*) FROM recomputed)
"""

_ANSWER_AS_REVIEWER = f"""
UPDATE {_table(PRSurveyReview)} review
SET quality_rating = %(quality)s, ai_guess = %(guess)s, responded_at = %(now)s,
    guess_correct = (%(guess)s = (SELECT survey.author_ai_assisted FROM {_table(PRSurvey)} survey
                                  WHERE survey.id = review.survey_id FOR SHARE))
WHERE review.id = %(review)s
  AND EXISTS (SELECT 1 FROM {_table(PRSurvey)} survey
              WHERE survey.id = review.survey_id AND survey.created_at > %(opened_after)s)
"""


def _closed(survey: PRSurvey) -> SurveyClosed:
    return SurveyClosed(f"This survey closed on {survey_closes_at(survey):%Y-%m-%d} UTC: its answers are final.")


def answer_as_author(survey: PRSurvey, *, ai_assisted: bool, now: dt.datetime | None = None) -> int:
    """Store (or change) the author's answer and recompute ``guess_correct`` of the survey's reviews: one statement.

    Returns the number of reviews recomputed. ``SurveyClosed`` (nothing written) once the survey is closed.
    """
    if not isinstance(ai_assisted, bool):
        raise TypeError("ai_assisted must be a bool")
    now = now or timezone.now()
    params = {"answer": ai_assisted, "now": now, "survey": survey.pk, "opened_after": now - SURVEY_OPEN_FOR}
    with connection.cursor() as cursor:  # one statement: atomic on its own, no savepoint needed
        cursor.execute(_ANSWER_AS_AUTHOR, params)
        answered, recomputed = cursor.fetchone()
    if not answered:
        raise _closed(survey)
    bump_team_data_version(survey.team_id)  # at once in autocommit, else when the caller's transaction commits
    return recomputed


def answer_as_reviewer(
    survey_review: PRSurveyReview, *, quality: int, ai_guess: bool, now: dt.datetime | None = None
) -> None:
    """Store (or change) a reviewer's rating (1..3) and guess, ``guess_correct`` from the author's answer (null
    while the author has not answered): one statement. ``SurveyClosed`` (nothing written) once the survey is closed."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 3:
        raise ValueError("quality must be 1, 2 or 3")
    if not isinstance(ai_guess, bool):
        raise TypeError("ai_guess must be a bool")
    now = now or timezone.now()
    params = {
        "quality": quality, "guess": ai_guess, "now": now, "review": survey_review.pk,
        "opened_after": now - SURVEY_OPEN_FOR,
    }  # fmt: skip
    with connection.cursor() as cursor:  # one statement: atomic on its own, no savepoint needed
        cursor.execute(_ANSWER_AS_REVIEWER, params)
        updated = cursor.rowcount
    if updated != 1:
        raise _closed(survey_review.survey)
    bump_team_data_version(survey_review.team_id)


def link_member_to_user(*, link: SurveyLink, user) -> TeamMember:
    """Says "this is me": the link's member becomes ``user``'s, so that their open surveys show on their home page.

    Only for a user of the member's team (``teams.Membership``), and only when the member is not linked to someone
    else and the user to no other member of that team; ``MemberLinkRefused`` otherwise, nothing changed. One
    statement (two when refused, to say why).
    """
    member = link.member
    if member is None:
        raise MemberLinkRefused("This survey's person no longer exists.", status=404)
    in_team = Membership.objects.filter(user=user.pk, team=member.team_id)
    try:
        with transaction.atomic():
            linked = (
                TeamMember.objects.filter(pk=member.pk, team_id=member.team_id)
                .filter(Q(user__isnull=True) | Q(user=user.pk))
                .filter(Exists(in_team))
                .update(user=user.pk)
            )
    except IntegrityError as exc:  # (team, user) is unique: the user is another member of this team already
        raise MemberLinkRefused("Your account is already linked to another member of this team.", status=409) from exc
    if linked != 1:
        if not in_team.exists():
            raise MemberLinkRefused("You are not a member of this survey's team.", status=403)
        raise MemberLinkRefused("This person is already linked to another account.", status=409)
    member.user_id = user.pk
    return member


_OPEN_SURVEYS = f"""
SELECT * FROM (
    SELECT 'author' AS role, survey.team_id, survey.id AS survey_id, NULL::bigint AS review_id, survey.created_at,
           pr.title, pr.github_repo, pr.merged_at, team.name AS team_name
    FROM {_table(PRSurvey)} survey
    JOIN {_table(TeamMember)} member ON member.id = survey.author_id AND member.team_id = survey.team_id
    JOIN {_table(PullRequest)} pr ON pr.id = survey.pull_request_id
    JOIN {_table(Team)} team ON team.id = survey.team_id
    WHERE member.user_id = %(user)s AND survey.author_ai_assisted IS NULL AND survey.created_at > %(opened_after)s
      AND EXISTS (SELECT 1 FROM {_table(Membership)} m WHERE m.user_id = %(user)s AND m.team_id = survey.team_id)
    UNION ALL
    SELECT 'reviewer', review.team_id, survey.id, review.id, survey.created_at,
           pr.title, pr.github_repo, pr.merged_at, team.name
    FROM {_table(PRSurveyReview)} review
    JOIN {_table(PRSurvey)} survey ON survey.id = review.survey_id AND survey.team_id = review.team_id
    JOIN {_table(TeamMember)} member ON member.id = review.reviewer_id AND member.team_id = review.team_id
    JOIN {_table(PullRequest)} pr ON pr.id = survey.pull_request_id
    JOIN {_table(Team)} team ON team.id = review.team_id
    WHERE member.user_id = %(user)s AND review.responded_at IS NULL AND survey.created_at > %(opened_after)s
      AND EXISTS (SELECT 1 FROM {_table(Membership)} m WHERE m.user_id = %(user)s AND m.team_id = review.team_id)
) open_surveys
ORDER BY created_at, survey_id, review_id NULLS FIRST
LIMIT %(limit)s
"""


def open_surveys_for_user(user, *, now: dt.datetime | None = None) -> list[dict]:
    """The open, unanswered surveys (as author) and survey reviews (as reviewer) of the members linked to ``user``,
    in teams the user still belongs to, oldest (closing soonest) first, at most ``OPEN_SURVEYS_SHOWN``: one
    statement (none for an anonymous user). Each row: ``role`` ("author"/"reviewer"), ``team_id``, ``team_name``,
    ``survey_id``, ``review_id``, ``title``, ``github_repo``, ``merged_at``, ``closes_at`` and ``token``."""
    if not getattr(user, "is_authenticated", False):
        return []
    now = now or timezone.now()
    params = {"user": user.pk, "opened_after": now - SURVEY_OPEN_FOR, "limit": OPEN_SURVEYS_SHOWN}
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_SURVEYS, params)
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["closes_at"] = row.pop("created_at") + SURVEY_OPEN_FOR
        row["token"] = _link_token(row["team_id"], row["survey_id"], row["review_id"])
    return rows
