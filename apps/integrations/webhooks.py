"""GitHub webhooks: ``POST /webhooks/github/<webhook id>/``, one team's endpoint (issue 12 §4).

**The endpoint id** (``webhook_id``) is ``<integration id>.<32 hex>``, the hex a salted HMAC of the
integration id under ``SECRET_KEY``: unguessable, nothing stored, and a wrong or forged one is the
same 404 as an unknown integration. The team's ``GitHubIntegration.webhook_secret`` signs deliveries.

**A delivery** (``handle_delivery``), in this order:

1. the body is read, at most ``MAX_BODY_BYTES`` (a larger one is refused before it is read whole: 413);
2. one ``SELECT`` of the integration (the id's integration, with its team and secret): 404 when none;
3. ``X-Hub-Signature-256`` is checked against HMAC-SHA256(secret, raw body) with
   ``hmac.compare_digest``, before anything is parsed: missing or wrong is 401, nothing written;
4. ``ping`` and every event or action not handled here: 204, nothing written;
5. the JSON is parsed and mapped to the sync's records (``github_records``): malformed is 400 with a
   message, nothing written;
6. one transaction: the delivery is inserted with ``ON CONFLICT (team, delivery_id) DO NOTHING``, in
   the same statement as the check that the PR's repository is one the team tracks (the sync stores
   no other: an untracked one is 204, nothing written); a replay (the row was there, or a concurrent
   replay inserted it first: the unique index makes this one wait for it) answers 200 and writes
   nothing more. Otherwise the event is stored through ``pr_sync``'s mapping (``pull_request_row``,
   ``review_rows``, ``member_id``, and ``member_sync.resolve_people``: the derived-field rules live
   there only), and the team's cache version is bumped once, on commit.

**Surveys.** A ``pull_request`` ``closed`` delivery that stored a merge queues
``tasks.create_surveys_and_comments_task`` on commit (its author and reviewers are asked about it:
``survey_service``; and, when the team asked for it, told in a PR comment: ``survey_comments``); the statements
above are the request's, the survey's and the comments' run in the worker.

**Rotation and retention.** ``rotate_webhook_secret`` (the settings page's "New secret") stores a new
secret and keeps the old one, accepted for ``WEBHOOK_SECRET_GRACE`` (a day) so that deliveries
signed before the admin pastes the new one into GitHub are not lost. ``prune_webhook_deliveries``
(a daily beat task) forgets deliveries older than ``DELIVERY_RETENTION``: GitHub redelivers only
the last 3 days, so an older replay cannot come.

**Statements per event** (the whole request, the integration lookup included), at most 5:

- ``pull_request`` (opened, edited, closed merged or not, reopened, synchronize): lookup, delivery,
  members ``SELECT``, [new members upsert], PR upsert. The upsert leaves ``first_review_at`` and
  ``review_time_hours`` of a stored PR alone: the payload has no reviews, the stored ones decide.
  It leaves the whole row alone when the stored ``github_updated_at`` is newer than the payload's
  ``updated_at`` (GitHub does not promise the order of deliveries).
  Commits are not in the payload: the sync stores them.
- ``pull_request_review`` (submitted, edited, dismissed): lookup, delivery, members ``SELECT``,
  [new members upsert], and one statement for the PR and the review: ``WITH pull_request AS
  (INSERT ... ON CONFLICT DO UPDATE ... RETURNING id) INSERT`` the review. A stored PR keeps every
  field but its first review, which moves earlier when this review counts (not the author's, not
  a bot's); a PR never stored is inserted from the payload's PR, its first review this review's.
  Five at most: a new reviewer, a new author and a PR never stored all at once included.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from apps.integrations.github_records import GitHubUser, PullRequestRecord, ReviewRecord
from apps.integrations.member_sync import resolve_people
from apps.integrations.models import GitHubIntegration, TrackedRepository, WebhookDelivery, new_webhook_secret
from apps.integrations.pr_sync import (
    PR_FIELDS,
    REVIEW_FIELDS,
    MalformedPullRequest,
    member_id,
    pull_request_row,
    review_rows,
)
from apps.integrations.tasks import create_surveys_and_comments_task
from apps.metrics.models import PRReview, PullRequest
from apps.metrics.services.team_cache import bump_team_data_version
from tformance.celery import enqueue_on_commit

# GitHub lets an admin redeliver a delivery of the last 3 days: replays older than this cannot come
DELIVERY_RETENTION = dt.timedelta(days=14)
WEBHOOK_SECRET_GRACE = dt.timedelta(hours=24)  # time to paste a rotated secret into GitHub
MAX_BODY_BYTES = 1024 * 1024  # GitHub caps a payload at 25 MB; a PR or review event is a few KB
PULL_REQUEST_ACTIONS = frozenset({"opened", "edited", "closed", "reopened", "synchronize"})
REVIEW_ACTIONS = frozenset({"submitted", "edited", "dismissed"})
GHOST_LOGIN = "ghost"  # the account GitHub's REST API shows for a deleted user
_ID_SALT = "apps.integrations.webhooks.webhook_id"
# the payload's review states (lower-case); "pending" reviews are not reviews yet
_REVIEW_STATES = {"approved", "changes_requested", "commented", "dismissed"}
# a webhook's PR upsert: the stored reviews decide the first review, the payload has none
WEBHOOK_PR_FIELDS = [name for name in PR_FIELDS if name not in ("first_review_at", "review_time_hours")]


class WebhookError(Exception):
    """A delivery refused; ``status`` is the HTTP answer, the message its body."""

    status = 400


class BodyTooLarge(WebhookError):
    status = 413


class UnknownEndpoint(WebhookError):
    status = 404


class BadSignature(WebhookError):
    status = 401


class MalformedPayload(WebhookError):
    status = 400


@dataclass(frozen=True)
class DeliveryResult:
    status: int  # 200 stored or replayed, 204 ignored
    detail: str
    stored: bool = False
    replay: bool = False


# --- the endpoint id ------------------------------------------------------------------------------


def _id_digest(integration_id: int, secret: str | None = None) -> str:
    return salted_hmac(_ID_SALT, str(integration_id), secret=secret, algorithm="sha256").hexdigest()[:32]


def webhook_id(integration: GitHubIntegration | int) -> str:
    """The integration's endpoint id for ``/webhooks/github/<id>/``."""
    pk = integration if isinstance(integration, int) else integration.pk
    return f"{pk}.{_id_digest(pk)}"


def integration_id_of(value: str) -> int | None:
    """The integration id behind an endpoint id, None when it is not one of ours (no database access).

    Signed with ``SECRET_KEY``; one signed with a key of ``SECRET_KEY_FALLBACKS`` still answers, so a rotated key
    does not break the URL pasted into GitHub while the old key is kept (as Django's own signing does)."""
    pk, _, digest = value.partition(".")
    if not pk.isascii() or not pk.isdigit() or len(pk) > 18 or not digest.isascii():
        return None
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return int(pk) if any(constant_time_compare(digest, _id_digest(int(pk), key)) for key in keys) else None


@dataclass(frozen=True)
class WebhookSetup:
    """What a team admin pastes into GitHub (organisation settings, Webhooks, Add webhook)."""

    path: str  # /webhooks/github/<webhook id>/; the page makes it absolute
    secret: str
    content_type: str = "application/json"
    events: tuple[str, ...] = ("Pull requests", "Pull request reviews")


def webhook_setup(team) -> WebhookSetup | None:
    """The team's webhook URL path and secret, None without an integration. One statement."""
    from django.urls import reverse

    found = GitHubIntegration.objects.filter(team=team).values_list("pk", "webhook_secret").first()
    if found is None or not found[1]:
        return None
    return WebhookSetup(path=reverse("integrations:github_webhook", args=[webhook_id(found[0])]), secret=found[1])


def rotate_webhook_secret(team) -> str | None:
    """A new secret for the team's webhook, the old one accepted for ``WEBHOOK_SECRET_GRACE``: one ``UPDATE``.

    Returns the new secret; None when the team has no integration. Rotating twice within the grace
    keeps only the latest previous secret: the one before it stops at once.
    """
    new = new_webhook_secret()
    now = timezone.now()
    rotated = GitHubIntegration.objects.filter(team=team).update(
        previous_webhook_secret=F("webhook_secret"),  # the stored ciphertext, copied as is
        webhook_secret=new,
        webhook_secret_rotated_at=now,
        updated_at=now,
    )
    return new if rotated else None


def prune_webhook_deliveries(*, now: dt.datetime | None = None) -> int:
    """Forget deliveries older than ``DELIVERY_RETENTION`` (no replay of them can arrive): one ``DELETE``."""
    cutoff = (now or timezone.now()) - DELIVERY_RETENTION
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted


# --- verification ---------------------------------------------------------------------------------


def signature_of(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def accepted_secrets(integration: GitHubIntegration, *, now: dt.datetime | None = None) -> list[str]:
    """The team's secret, and the one before it for ``WEBHOOK_SECRET_GRACE`` after a rotation."""
    secrets = [integration.webhook_secret] if integration.webhook_secret else []
    rotated_at = integration.webhook_secret_rotated_at
    in_grace = rotated_at is not None and (now or timezone.now()) - rotated_at < WEBHOOK_SECRET_GRACE
    if integration.previous_webhook_secret and in_grace:
        secrets.append(integration.previous_webhook_secret)
    return secrets


def verify_signature(secrets: list[str], body: bytes, header: str | None) -> None:
    """``BadSignature`` unless ``header`` is HMAC-SHA256 of ``body`` under one of ``secrets`` (constant-time)."""
    if not header:
        raise BadSignature("X-Hub-Signature-256 is missing.")
    if not secrets:
        raise BadSignature("This team has no webhook secret.")
    given = header.strip().encode("utf-8", "replace")
    matches = [hmac.compare_digest(signature_of(secret, body).encode(), given) for secret in secrets]
    if not any(matches):
        raise BadSignature("X-Hub-Signature-256 does not match this team's webhook secret.")


def read_body(stream, content_length: str | None) -> bytes:
    """At most ``MAX_BODY_BYTES`` of the body; a declared or actual larger one is ``BodyTooLarge``."""
    try:
        declared = int(content_length or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise BodyTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    body = stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    return body


# --- payload -> records ---------------------------------------------------------------------------


def _time(value, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{name} is not a time.")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MalformedPayload(f"{name} is not a time: {value[:40]!r}.") from None
    if moment.tzinfo is None:
        raise MalformedPayload(f"{name} has no time zone.")
    return moment.astimezone(dt.UTC)


def _required_time(value, name: str) -> dt.datetime:
    moment = _time(value, name)
    if moment is None:
        raise MalformedPayload(f"{name} is missing.")
    return moment


def _object(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{name} is missing or not an object.")
    return value


def _int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise MalformedPayload(f"{name} is missing or not a number.")
    return value


def _text(value, name: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or "\x00" in value:
        raise MalformedPayload(f"{name} is missing or not text.")
    return value


def user_record(user) -> GitHubUser | None:
    """A REST user object as the sync's ``GitHubUser``; None for no user or the deleted-user ghost."""
    if user is None:
        return None
    user = _object(user, "user")
    login = _text(user.get("login"), "user.login")
    if len(login) > 100 or not login.isprintable():  # GitHub's logins are at most 39 characters
        raise MalformedPayload("user.login is not a GitHub login.")
    if login.lower() == GHOST_LOGIN:
        return None
    user_id = user.get("id")
    return GitHubUser(
        login=login,
        database_id=_int(user_id, "user.id") if user_id is not None else None,
        avatar_url=user.get("avatar_url") if isinstance(user.get("avatar_url"), str) else "",
        is_bot=user.get("type") == "Bot",
    )


def pull_request_record(payload: dict, *, reviews: tuple[ReviewRecord, ...] = ()) -> PullRequestRecord:
    """The payload's ``pull_request`` (REST shape) as the sync's record."""
    pr = _object(payload.get("pull_request"), "pull_request")
    repository = _object(payload.get("repository"), "repository")
    merged_at = _time(pr.get("merged_at"), "pull_request.merged_at")
    state = _text(pr.get("state"), "pull_request.state").lower()
    if state not in ("open", "closed"):
        raise MalformedPayload(f"pull_request.state {state[:20]!r} is neither open nor closed.")
    if state == "closed" and (pr.get("merged") is True or merged_at is not None):
        state = "merged"
    head = pr.get("head")
    head_ref = head.get("ref") if isinstance(head, dict) else ""
    return PullRequestRecord(
        database_id=_int(pr.get("id"), "pull_request.id"),
        number=_int(pr.get("number"), "pull_request.number"),
        repository=_text(repository.get("full_name"), "repository.full_name")[:200],
        title=_text(pr.get("title"), "pull_request.title", required=False),
        state=state.upper(),
        author=user_record(pr.get("user")),
        created_at=_required_time(pr.get("created_at"), "pull_request.created_at"),
        updated_at=_required_time(pr.get("updated_at"), "pull_request.updated_at"),
        merged_at=merged_at,
        closed_at=_time(pr.get("closed_at"), "pull_request.closed_at"),
        additions=_int(pr.get("additions", 0), "pull_request.additions"),
        deletions=_int(pr.get("deletions", 0), "pull_request.deletions"),
        head_ref_name=head_ref if isinstance(head_ref, str) else "",
        reviews=reviews,
    )


def review_record(payload: dict) -> ReviewRecord | None:
    """The payload's ``review``; None for a pending review (not submitted: nothing to store)."""
    review = _object(payload.get("review"), "review")
    state = _text(review.get("state"), "review.state").lower()
    if state == "pending":
        return None
    if state not in _REVIEW_STATES:
        raise MalformedPayload(f"review.state {state[:30]!r} is not a review state.")
    return ReviewRecord(
        database_id=_int(review.get("id"), "review.id"),
        author=user_record(review.get("user")),
        state=state.upper(),
        submitted_at=_required_time(review.get("submitted_at"), "review.submitted_at"),
    )


# --- the delivery ---------------------------------------------------------------------------------


def find_integration(endpoint_id: str) -> GitHubIntegration:
    """The endpoint's integration with its team, in one ``SELECT``; ``UnknownEndpoint`` otherwise."""
    pk = integration_id_of(endpoint_id)
    integration = GitHubIntegration.objects.select_related("team").filter(pk=pk).first() if pk is not None else None
    if integration is None:
        raise UnknownEndpoint("No such webhook.")
    return integration


def handle_delivery(*, endpoint_id: str, body: bytes, headers) -> DeliveryResult:
    """Verify, parse and store one delivery (see the module doc). Raises a ``WebhookError`` when refused."""
    integration = find_integration(endpoint_id)
    verify_signature(accepted_secrets(integration), body, headers.get("X-Hub-Signature-256"))
    event = headers.get("X-GitHub-Event") or ""
    if event not in ("pull_request", "pull_request_review"):
        return DeliveryResult(204, f"{event[:50] or 'This event'} is not stored.")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, nesting too deep
        raise MalformedPayload(f"The body is not JSON: {str(exc)[:200]}.") from None
    if not isinstance(payload, dict):
        raise MalformedPayload("The payload is not a JSON object.")
    action = payload.get("action")
    actions = PULL_REQUEST_ACTIONS if event == "pull_request" else REVIEW_ACTIONS
    if not isinstance(action, str) or action not in actions:
        return DeliveryResult(204, f"{event} {str(action)[:50]} is not stored.")
    delivery = headers.get("X-GitHub-Delivery") or ""
    if not delivery or len(delivery) > 100 or not delivery.isprintable() or not delivery.isascii():
        raise MalformedPayload("X-GitHub-Delivery is missing or not a delivery id.")

    review = None
    if event == "pull_request_review":
        review = review_record(payload)
        if review is None:
            return DeliveryResult(204, "A pending review is not stored.")
    record = pull_request_record(payload, reviews=(review,) if review else ())
    try:
        row = pull_request_row(integration.team, record)  # checks the record before any statement
    except MalformedPullRequest as exc:
        raise MalformedPayload(str(exc)) from None

    team = integration.team
    with transaction.atomic():
        inserted = _insert_delivery(team.id, record.repository, delivery, event, action)
        if inserted == "untracked":
            return DeliveryResult(204, f"{record.repository} is not a tracked repository of this team.")
        if inserted == "replay":
            return DeliveryResult(200, f"Delivery {delivery} was already stored.", replay=True)
        changed = _store_pull_request(team, record, row) if review is None else _store_review(team, record, row)
        if changed:
            bump_team_data_version(team.id)
            if action == "closed" and row.state == PullRequest.State.MERGED:  # just merged: ask about it
                enqueue_on_commit(create_surveys_and_comments_task, team.id)  # after commit; later reviewers: the sync
    if not changed:
        return DeliveryResult(200, f"{event} {action}: the stored pull request is newer; nothing changed.")
    return DeliveryResult(200, f"{event} {action} stored.", stored=True)


def _insert_delivery(team_id: int, repository: str, delivery: str, event: str, action: str) -> str:
    """Insert the delivery, ``ON CONFLICT DO NOTHING``, if ``repository`` is tracked: one statement.

    ``"untracked"`` (nothing inserted: the sync does not store that repository either), ``"replay"``
    (the row was there) or ``"new"``.
    """
    delivery_table = WebhookDelivery._meta.db_table
    tracked_table = TrackedRepository._meta.db_table
    statement = (
        f'WITH tracked AS (SELECT EXISTS (SELECT 1 FROM "{tracked_table}" '
        "WHERE team_id = %s AND name_with_owner = %s AND is_tracked) AS ok), "
        f'inserted AS (INSERT INTO "{delivery_table}" (team_id, delivery_id, event, action, received_at) '
        "SELECT %s, %s, %s, %s, %s FROM tracked WHERE ok "
        "ON CONFLICT (team_id, delivery_id) DO NOTHING RETURNING id) "
        "SELECT (SELECT ok FROM tracked), EXISTS (SELECT 1 FROM inserted)"
    )
    params = [team_id, repository, team_id, delivery, event[:50], str(action)[:50], timezone.now()]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        tracked, inserted = cursor.fetchone()
    if not tracked:
        return "untracked"
    return "new" if inserted else "replay"


def _store_pull_request(team, record: PullRequestRecord, row: PullRequest) -> bool:
    """The PR upsert; False when nothing changed (the stored row is newer and no member was created)."""
    members, created = resolve_people(team, [record.author])
    row.author_id = member_id(members, record.author)
    return _upsert_unless_older(row) or created > 0


def _upsert_unless_older(row: PullRequest) -> bool:
    """Upsert one PR, ``WHERE`` the stored row is not newer: one statement; False when it was left alone.

    GitHub does not promise the order of deliveries: an older one (its ``updated_at`` before the
    stored ``github_updated_at``) leaves the row alone.
    """
    table, columns, values = _row_values(row)
    updated_at = _column(PullRequest, "github_updated_at")
    statement = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(values))}) "
        f"ON CONFLICT ({_PR_KEY}) DO UPDATE SET {_set_from_excluded(PullRequest, WEBHOOK_PR_FIELDS)} "
        f"WHERE {table}.{updated_at} IS NULL OR {table}.{updated_at} <= EXCLUDED.{updated_at}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, values)
        return cursor.rowcount > 0


def _store_review(team, record: PullRequestRecord, row: PullRequest) -> bool:
    """The review and its PR in one statement, after the people (one ``SELECT``, one upsert when someone is new)."""
    members, _ = resolve_people(team, [record.author, *(review.author for review in record.reviews)])
    row.author_id = member_id(members, record.author)
    reviews = review_rows(team, [record], [row], members)  # its PR's id comes from the statement
    _upsert_review_with_pull_request(row, reviews[0] if reviews else None)
    return True


def _upsert_review_with_pull_request(row: PullRequest, review: PRReview | None) -> None:
    """One statement: the PR upsert, then the review upsert with the PR's id (``WITH ... RETURNING id``).

    A PR never stored is inserted from the payload, its first review being this review (when it
    counts: ``pr_sync.first_review_at``, already in ``row``). A stored PR keeps every field but its
    first review, which moves to this review's time when that is earlier.
    """
    table, columns, values = _row_values(row)
    first, hours = _column(PullRequest, "first_review_at"), _column(PullRequest, "review_time_hours")
    earlier = f"({table}.{first} IS NULL OR {table}.{first} > EXCLUDED.{first})"
    statement = (
        f"WITH pull_request AS (INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(values))}) ON CONFLICT ({_PR_KEY}) DO UPDATE SET "
        f"{first} = CASE WHEN {earlier} THEN EXCLUDED.{first} ELSE {table}.{first} END, "
        f"{hours} = CASE WHEN {earlier} THEN EXCLUDED.{hours} ELSE {table}.{hours} END "
        "RETURNING id) "
    )
    params = list(values)
    if review is None:
        statement += "SELECT id FROM pull_request"
    else:
        review_table, review_columns, review_values = _row_values(review, leave_out=("pull_request",))
        pull_request_column = _column(PRReview, "pull_request")
        statement += (
            f"INSERT INTO {review_table} ({', '.join(review_columns)}, {pull_request_column}) "
            f"VALUES ({', '.join(['%s'] * len(review_values))}, (SELECT id FROM pull_request)) "
            f"ON CONFLICT ({_REVIEW_KEY}) DO UPDATE SET {_set_from_excluded(PRReview, REVIEW_FIELDS)}"
        )
        params += review_values
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


# --- SQL of one row ----------------------------------------------------------------------------------
# Written out because these upserts need what bulk_create cannot say: a WHERE on the conflict update, a
# conditional SET, and one row's id feeding another's insert in the same statement.

_PR_KEY = "team_id, github_repo, github_pr_id"  # PullRequest's unique constraint
_REVIEW_KEY = "team_id, github_review_id"  # PRReview's


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _set_from_excluded(model, names: list[str]) -> str:
    return ", ".join(f"{_column(model, name)} = EXCLUDED.{_column(model, name)}" for name in names)


def _row_values(obj, *, leave_out: tuple[str, ...] = ()) -> tuple[str, list[str], list]:
    """The table, columns and values of an unsaved row, prepared as Django's own INSERT prepares them."""
    meta = type(obj)._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key and f.name not in leave_out]
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    return connection.ops.quote_name(meta.db_table), [connection.ops.quote_name(f.column) for f in fields], values
