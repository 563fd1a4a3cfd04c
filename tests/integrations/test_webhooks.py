"""GitHub webhooks (issue 12 §4): POST /webhooks/github/<webhook id>/, signed deliveries from the stand-in."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid

import pytest
from django.db import connection
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from apps.integrations.factories import GitHubIntegrationFactory, TrackedRepositoryFactory
from apps.integrations.models import GitHubIntegration, TrackedRepository, WebhookDelivery
from apps.integrations.pr_sync import hours_between
from apps.integrations.webhooks import (
    DELIVERY_RETENTION,
    MAX_BODY_BYTES,
    WEBHOOK_SECRET_GRACE,
    handle_delivery,
    prune_webhook_deliveries,
    rotate_webhook_secret,
    webhook_id,
    webhook_setup,
)
from apps.metrics.factories import TeamMemberFactory
from apps.metrics.models import Commit, PRReview, PRSurvey, PullRequest, TeamMember
from apps.metrics.services.team_cache import team_data_version
from apps.perflab.github_stub import (
    GitHubStub,
    pull_request_event,
    pull_request_review_event,
    send_webhook,
    webhook_request,
    webhook_signature,
)
from apps.perflab.testing import assert_max_queries, assert_num_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db

REPO = "api"


@pytest.fixture
def stub():
    """The stand-in's organisation, not started: the tests only build payloads from it."""
    stub = GitHubStub.with_organization(
        "acme", members=4, repositories=1, prs_per_repository=2, outside_contributors=0, bots=0
    )
    stub.repo = next(iter(stub.organization.repositories.values())).name
    return stub


def connect(stub):
    """A team with an integration that tracks the stand-in's repository."""
    integration = GitHubIntegrationFactory()
    TrackedRepositoryFactory(team=integration.team, name_with_owner=f"acme/{stub.repo}", is_tracked=True)
    return integration


@pytest.fixture
def integration(stub):
    return connect(stub)


def url_of(integration) -> str:
    return reverse("integrations:github_webhook", args=[webhook_id(integration)])


def deliver(client, integration, event, payload, *, secret=None, delivery=None, url=None):
    body, headers = webhook_request(
        event, payload, secret=integration.webhook_secret if secret is None else secret, delivery=delivery
    )
    return post(client, url or url_of(integration), body, headers)


def post(client, url, body, headers, content_type="application/json"):
    extra = {name: value for name, value in headers.items() if name.lower() != "content-type"}
    return client.post(url, data=body, content_type=content_type, headers=extra)


def written() -> tuple[int, int, int, int, int]:
    return (
        PullRequest.objects.count(),
        PRReview.objects.count(),
        Commit.objects.count(),
        TeamMember.objects.count(),
        WebhookDelivery.objects.count(),
    )


def stored(integration, pr) -> PullRequest:
    return PullRequest.objects.get(
        team=integration.team, github_repo=pr.repository.name_with_owner, github_pr_id=pr.number
    )


# --- each event kind stores the right row ---------------------------------------------------------


def test_opened_stores_the_pull_request_and_its_author(client, stub, integration):
    pr = stub.add_pull_request(stub.repo, title="Add the export")
    response = deliver(client, integration, "pull_request", pull_request_event("opened", pr))
    assert response.status_code == 200, response.content
    assert response.json()["stored"] is True
    row = stored(integration, pr)
    assert (row.state, row.title, row.additions, row.deletions) == ("open", "Add the export", 10, 2)
    assert row.pr_created_at == pr.created_at and row.github_updated_at == pr.updated_at
    assert row.merged_at is None and row.cycle_time_hours is None and row.first_review_at is None
    assert row.author.github_username == pr.author.login
    assert row.author.github_id == str(pr.author.database_id)
    assert WebhookDelivery.objects.filter(team=integration.team, event="pull_request", action="opened").count() == 1


def test_an_existing_member_is_the_author(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    member = TeamMemberFactory(team=integration.team, github_username=pr.author.login.upper(), github_id="")
    deliver(client, integration, "pull_request", pull_request_event("opened", pr))
    assert stored(integration, pr).author_id == member.id
    assert TeamMember.objects.filter(team=integration.team).count() == 1


def test_edited_closed_merged_reopened_and_synchronize_update_the_row(client, stub, integration):
    pr = stub.add_pull_request(stub.repo, title="Hotfix the login")
    deliver(client, integration, "pull_request", pull_request_event("opened", pr))
    assert stored(integration, pr).is_hotfix is True

    stub.update_pull_request(stub.repo, pr.number, title='Revert "the login"')
    deliver(client, integration, "pull_request", pull_request_event("edited", pr, changes={"title": {"from": "x"}}))
    row = stored(integration, pr)
    assert (row.title, row.is_revert, row.is_hotfix) == ('Revert "the login"', True, False)

    stub.add_commit(stub.repo, pr.number, additions=7, deletions=3)
    deliver(client, integration, "pull_request", pull_request_event("synchronize", pr))
    row = stored(integration, pr)
    assert (row.additions, row.deletions, row.github_updated_at) == (17, 5, pr.updated_at)

    stub.update_pull_request(stub.repo, pr.number, state="CLOSED")
    deliver(client, integration, "pull_request", pull_request_event("closed", pr))
    row = stored(integration, pr)
    assert (row.state, row.merged_at, row.closed_at) == ("closed", None, pr.closed_at)

    stub.update_pull_request(stub.repo, pr.number, state="OPEN")
    deliver(client, integration, "pull_request", pull_request_event("reopened", pr))
    row = stored(integration, pr)
    assert (row.state, row.closed_at) == ("open", None)

    stub.update_pull_request(stub.repo, pr.number, state="MERGED")
    deliver(client, integration, "pull_request", pull_request_event("closed", pr))
    row = stored(integration, pr)
    assert (row.state, row.merged_at) == ("merged", pr.merged_at)
    assert row.cycle_time_hours == hours_between(pr.created_at, pr.merged_at)
    assert PullRequest.objects.count() == 1
    assert WebhookDelivery.objects.count() == 6


@pytest.mark.django_db(transaction=True)  # the survey task is queued on commit
def test_a_merge_delivered_queues_the_survey_of_its_author_and_reviewers(client, stub, integration, eager_celery):
    now = timezone.now().replace(microsecond=0)
    pr = stub.add_pull_request(stub.repo, at=now - dt.timedelta(hours=5))
    review = stub.add_review(stub.repo, pr.number, at=now - dt.timedelta(hours=3))
    deliver(client, integration, "pull_request", pull_request_event("opened", pr))
    deliver(client, integration, "pull_request_review", pull_request_review_event("submitted", pr, review))
    assert not PRSurvey.objects.exists()  # not merged yet: nobody is asked
    stub.update_pull_request(stub.repo, pr.number, state="MERGED", at=now - dt.timedelta(hours=1))
    assert deliver(client, integration, "pull_request", pull_request_event("closed", pr)).status_code == 200
    survey = PRSurvey.objects.get()
    assert survey.pull_request_id == stored(integration, pr).id
    assert survey.author.github_username == pr.author.login
    assert [r.reviewer.github_username for r in survey.reviews.all()] == [review.author.login]


def test_review_submitted_edited_and_dismissed(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    deliver(client, integration, "pull_request", pull_request_event("opened", pr))
    review = stub.add_review(stub.repo, pr.number, state="CHANGES_REQUESTED")
    response = deliver(client, integration, "pull_request_review", pull_request_review_event("submitted", pr, review))
    assert response.status_code == 200, response.content
    row = PRReview.objects.get(github_review_id=review.database_id)
    assert (row.state, row.submitted_at, row.pull_request_id) == (
        "changes_requested",
        review.submitted_at,
        stored(integration, pr).id,
    )
    assert row.reviewer.github_username == review.author.login
    pull = stored(integration, pr)
    assert pull.first_review_at == review.submitted_at
    assert pull.review_time_hours == hours_between(pr.created_at, review.submitted_at)

    # a later review does not move the first review; an edit of a PR keeps it too (the payload has no reviews)
    later = stub.add_review(stub.repo, pr.number, state="APPROVED")
    deliver(client, integration, "pull_request_review", pull_request_review_event("submitted", pr, later))
    stub.update_pull_request(stub.repo, pr.number, title="A better title")
    deliver(client, integration, "pull_request", pull_request_event("edited", pr))
    pull = stored(integration, pr)
    assert pull.first_review_at == review.submitted_at and pull.title == "A better title"

    deliver(client, integration, "pull_request_review", pull_request_review_event("edited", pr, review))
    stub.dismiss_review(stub.repo, pr.number, review.database_id)
    deliver(client, integration, "pull_request_review", pull_request_review_event("dismissed", pr, review))
    assert PRReview.objects.get(github_review_id=review.database_id).state == "dismissed"
    assert PRReview.objects.count() == 2


def test_the_authors_own_review_is_not_the_first_review(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    deliver(client, integration, "pull_request", pull_request_event("opened", pr))
    own = stub.add_review(stub.repo, pr.number, author=pr.author.login, state="COMMENTED")
    deliver(client, integration, "pull_request_review", pull_request_review_event("submitted", pr, own))
    assert PRReview.objects.get(github_review_id=own.database_id).reviewer_id == stored(integration, pr).author_id
    assert stored(integration, pr).first_review_at is None


def test_a_review_of_a_pull_request_never_stored_stores_both(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    review = stub.add_review(stub.repo, pr.number)
    response = deliver(client, integration, "pull_request_review", pull_request_review_event("submitted", pr, review))
    assert response.status_code == 200
    pull = stored(integration, pr)
    assert pull.first_review_at == review.submitted_at
    assert PRReview.objects.get(github_review_id=review.database_id).pull_request_id == pull.id


def test_an_earlier_review_delivered_late_moves_the_first_review_earlier(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    deliver(client, integration, "pull_request", pull_request_event("opened", pr))
    early = stub.add_review(stub.repo, pr.number, at=pr.created_at + dt.timedelta(hours=2))
    late = stub.add_review(stub.repo, pr.number, at=pr.created_at + dt.timedelta(hours=5))
    deliver(client, integration, "pull_request_review", pull_request_review_event("submitted", pr, late))
    assert stored(integration, pr).first_review_at == late.submitted_at
    deliver(client, integration, "pull_request_review", pull_request_review_event("submitted", pr, early))
    pull = stored(integration, pr)
    assert (pull.first_review_at, pull.review_time_hours) == (
        early.submitted_at,
        hours_between(pr.created_at, early.submitted_at),
    )
    # the later one again (edited): the first review stays the earlier one, and the PR's other fields stay
    title = pull.title
    deliver(client, integration, "pull_request_review", pull_request_review_event("edited", pr, late))
    pull = stored(integration, pr)
    assert (pull.first_review_at, pull.title) == (early.submitted_at, title)


def test_ping_and_other_events_are_204_and_write_nothing(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    before = written()
    assert deliver(client, integration, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1}).status_code == 204
    assert deliver(client, integration, "push", {"ref": "refs/heads/main"}).status_code == 204
    assert deliver(client, integration, "pull_request", pull_request_event("labeled", pr)).status_code == 204
    assert written() == before


def test_the_cache_version_is_bumped_once_on_commit(client, stub, integration, django_capture_on_commit_callbacks):
    pr = stub.add_pull_request(stub.repo)
    team_id = integration.team_id
    version = team_data_version(team_id)
    body, headers = webhook_request("pull_request", pull_request_event("opened", pr), secret=integration.webhook_secret)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert post(client, url_of(integration), body, headers).status_code == 200
    assert len(callbacks) == 1 and team_data_version(team_id) == version + 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # a replay: nothing changed
        assert post(client, url_of(integration), body, headers).status_code == 200
    assert callbacks == [] and team_data_version(team_id) == version + 1


# --- refused deliveries write nothing --------------------------------------------------------------


def test_a_bad_a_missing_and_another_teams_signature_are_401(client, stub, integration):
    other = connect(stub)
    pr = stub.add_pull_request(stub.repo)
    payload = pull_request_event("opened", pr)
    before = written()
    assert deliver(client, integration, "pull_request", payload, secret="not-the-secret").status_code == 401
    assert deliver(client, integration, "pull_request", payload, secret=other.webhook_secret).status_code == 401
    body, headers = webhook_request("pull_request", payload, secret=integration.webhook_secret)
    missing = {name: value for name, value in headers.items() if name != "X-Hub-Signature-256"}
    response = post(client, url_of(integration), body, missing)
    assert response.status_code == 401 and "missing" in response.json()["error"]
    tampered = body.replace(b'"opened"', b'"closed"')
    assert post(client, url_of(integration), tampered, headers).status_code == 401
    sha1 = {**headers, "X-Hub-Signature-256": headers["X-Hub-Signature-256"].replace("sha256=", "sha1=")}
    assert post(client, url_of(integration), body, sha1).status_code == 401
    # the other team's endpoint with its own signature is fine, and stores for that team only
    assert deliver(client, other, "pull_request", payload).status_code == 200
    assert PullRequest.objects.filter(team=integration.team).count() == before[0]
    assert WebhookDelivery.objects.filter(team=integration.team).count() == 0


def test_after_a_rotation_the_old_secret_works_for_the_grace_then_is_401(client, stub, integration):
    old = integration.webhook_secret
    new = rotate_webhook_secret(integration.team)
    assert new and new != old
    pr = stub.add_pull_request(stub.repo)
    assert deliver(client, integration, "pull_request", pull_request_event("opened", pr), secret=new).status_code == 200
    stub.update_pull_request(stub.repo, pr.number, title="Signed with the old secret")
    assert deliver(client, integration, "pull_request", pull_request_event("edited", pr), secret=old).status_code == 200
    assert stored(integration, pr).title == "Signed with the old secret"

    # past the grace, the old secret is refused and nothing is written
    GitHubIntegration.objects.filter(pk=integration.pk).update(
        webhook_secret_rotated_at=timezone.now() - WEBHOOK_SECRET_GRACE - dt.timedelta(seconds=1)
    )
    before = written()
    stub.update_pull_request(stub.repo, pr.number, title="Too late")
    refused = deliver(client, integration, "pull_request", pull_request_event("edited", pr), secret=old)
    assert refused.status_code == 401 and written() == before
    assert stored(integration, pr).title == "Signed with the old secret"
    assert deliver(client, integration, "pull_request", pull_request_event("edited", pr), secret=new).status_code == 200


def test_a_second_rotation_retires_the_first_secret_at_once(client, stub, integration):
    first = integration.webhook_secret
    second = rotate_webhook_secret(integration.team)
    third = rotate_webhook_secret(integration.team)
    pr = stub.add_pull_request(stub.repo)
    payload = pull_request_event("opened", pr)
    assert deliver(client, integration, "pull_request", payload, secret=first).status_code == 401
    assert deliver(client, integration, "pull_request", payload, secret=second).status_code == 200
    assert deliver(client, integration, "pull_request", payload, secret=third).status_code == 200  # a replay: 200
    assert rotate_webhook_secret(TeamFactory()) is None


def test_deliveries_older_than_the_retention_are_pruned(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    for action in ["opened", "edited"]:
        deliver(client, integration, "pull_request", pull_request_event(action, pr))
    old = WebhookDelivery.objects.order_by("id").first()
    WebhookDelivery.objects.filter(pk=old.pk).update(received_at=timezone.now() - DELIVERY_RETENTION - dt.timedelta(1))
    with assert_num_queries(1):
        assert prune_webhook_deliveries() == 1
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) != [old.pk]
    assert WebhookDelivery.objects.count() == 1
    assert prune_webhook_deliveries() == 0


def test_an_unknown_or_forged_webhook_id_is_404(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    body, headers = webhook_request("pull_request", pull_request_event("opened", pr), secret=integration.webhook_secret)
    pk = integration.pk
    for endpoint in [f"{pk}.{'0' * 32}", str(pk), f"{pk + 1000}.{webhook_id(pk + 1000).split('.')[1]}", "x", "-1.a"]:
        url = reverse("integrations:github_webhook", args=[endpoint])
        assert post(client, url, body, headers).status_code == 404, endpoint
    assert written()[4] == 0


def test_a_replay_answers_200_and_writes_nothing_twice(client, stub, integration):
    pr = stub.add_pull_request(stub.repo, title="First")
    delivery = str(uuid.uuid4())
    deliver(client, integration, "pull_request", pull_request_event("opened", pr), delivery=delivery)
    PullRequest.objects.update(title="changed since")
    before = written()
    response = deliver(client, integration, "pull_request", pull_request_event("opened", pr), delivery=delivery)
    assert response.status_code == 200 and response.json()["replay"] is True
    assert written() == before and stored(integration, pr).title == "changed since"
    # the same delivery id at another team is that team's own delivery
    other = connect(stub)
    assert deliver(client, other, "pull_request", pull_request_event("opened", pr), delivery=delivery).json()["stored"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'"text"',
        b"",
        b'{"action": "opened"}',
        b'{"action": "opened", "pull_request": {"id": 1}, "repository": {"full_name": "acme/api"}}',
    ],
)
def test_a_malformed_payload_is_400_with_a_message(client, integration, body):
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": webhook_signature(integration.webhook_secret, body),
    }
    before = written()
    response = post(client, url_of(integration), body, headers)
    assert response.status_code in (400, 204), response.content  # "[1, 2]" and friends: 400; no action: 204
    if response.status_code == 400:
        assert response.json()["error"]
    assert written() == before


def test_malformed_fields_of_a_real_payload_are_400(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    broken = [
        ("created_at", "yesterday"),
        ("created_at", "2026-01-01T00:00:00"),
        ("number", "7"),
        ("number", -1),
        ("state", "exploded"),
        ("title", "a\x00b"),
        ("user", "someone"),
        ("additions", 2**70),
    ]
    for name, value in broken:
        payload = pull_request_event("opened", pr)
        payload["pull_request"][name] = value
        response = deliver(client, integration, "pull_request", payload)
        assert response.status_code == 400, (name, value, response.content)
        assert response.json()["error"]
    merged_without_time = pull_request_event("closed", pr)
    merged_without_time["pull_request"].update(state="closed", merged=True, merged_at=None)
    assert deliver(client, integration, "pull_request", merged_without_time).status_code == 400
    review = stub.add_review(stub.repo, pr.number)
    payload = pull_request_review_event("submitted", pr, review)
    payload["review"]["state"] = "superb"
    assert deliver(client, integration, "pull_request_review", payload).status_code == 400
    assert written()[0] == written()[4] == 0


def test_an_oversize_body_is_413(client, integration):
    body = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": webhook_signature(integration.webhook_secret, body),
    }
    response = post(client, url_of(integration), body, headers)
    assert response.status_code == 413 and response.json()["error"]
    assert written()[4] == 0


def test_get_is_405(client, integration):
    assert client.get(url_of(integration)).status_code == 405


# --- statements per event ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the event's own transaction, no test savepoints around it
@pytest.mark.parametrize("known_people", [True, False], ids=["known", "new people"])
def test_a_pull_request_event_takes_at_most_5_statements(client, stub, integration, known_people, capsys):
    pr = stub.add_pull_request(stub.repo)
    if known_people:
        TeamMemberFactory(team=integration.team, github_username=pr.author.login, github_id=str(pr.author.database_id))
    # a new author is one more statement (the members upsert), once: the edit finds them stored
    for action, statements in [("opened", 4 if known_people else 5), ("edited", 4)]:
        body, headers = webhook_request(
            "pull_request", pull_request_event(action, pr), secret=integration.webhook_secret
        )
        with assert_num_queries(statements) as capture:
            assert post(client, url_of(integration), body, headers).status_code == 200
        with capsys.disabled():
            print(
                f"\nwebhook pull_request {action} ({'known' if known_people else 'new'} author): "
                f"{capture.count} statements"
            )
        with assert_num_queries(2):  # a replay: the lookup and the delivery insert
            assert post(client, url_of(integration), body, headers).json()["replay"] is True


@pytest.mark.django_db(transaction=True)
def test_a_review_event_takes_at_most_5_statements(client, stub, integration, capsys):
    pr = stub.add_pull_request(stub.repo)
    deliver(client, integration, "pull_request", pull_request_event("opened", pr))
    review = stub.add_review(stub.repo, pr.number)  # its reviewer is not a member yet: the members upsert runs
    for action, statements in [("submitted", 5), ("edited", 4), ("dismissed", 4)]:  # submitted: the new reviewer
        if action == "dismissed":
            stub.dismiss_review(stub.repo, pr.number, review.database_id)
        body, headers = webhook_request(
            "pull_request_review", pull_request_review_event(action, pr, review), secret=integration.webhook_secret
        )
        with assert_num_queries(statements) as capture:
            assert post(client, url_of(integration), body, headers).status_code == 200
        with capsys.disabled():
            print(f"\nwebhook pull_request_review {action}: {capture.count} statements")
    assert PRReview.objects.get().state == "dismissed"


@pytest.mark.django_db(transaction=True)
def test_a_review_of_a_pull_request_never_stored_by_people_never_seen_takes_at_most_5_statements(
    client, stub, integration, capsys
):
    # the worst case: the PR, its author and its reviewer all new (outside contributors)
    pr = stub.add_pull_request(stub.repo, author="first-timer")
    review = stub.add_review(stub.repo, pr.number, author="drive-by-reviewer")
    body, headers = webhook_request(
        "pull_request_review", pull_request_review_event("submitted", pr, review), secret=integration.webhook_secret
    )
    members_before = TeamMember.objects.count()
    with assert_num_queries(5) as capture:
        assert post(client, url_of(integration), body, headers).status_code == 200
    with capsys.disabled():
        print(f"\nwebhook pull_request_review submitted (new PR, new author, new reviewer): {capture.count} statements")
    pull = stored(integration, pr)
    row = PRReview.objects.get(github_review_id=review.database_id)
    assert (row.pull_request_id, row.reviewer.github_username) == (pull.id, "drive-by-reviewer")
    assert (pull.author.github_username, pull.first_review_at) == ("first-timer", review.submitted_at)
    assert TeamMember.objects.count() == members_before + 2


def test_the_statements_are_the_same_for_a_small_and_a_big_team(client, stub):
    counts = []
    for size in (5, 50):
        integration = connect(stub)
        TeamMemberFactory.create_batch(size, team=integration.team)
        pr = stub.add_pull_request(stub.repo)
        body, headers = webhook_request(
            "pull_request", pull_request_event("opened", pr), secret=integration.webhook_secret
        )
        with assert_num_queries(5) as capture:  # SAVEPOINT/RELEASE (the test transaction's) left out
            assert post(client, url_of(integration), body, headers).status_code == 200
        counts.append(capture.count)
    assert counts[0] == counts[1]


# --- hostile input -------------------------------------------------------------------------------


def test_hostile_deliveries_never_answer_5xx(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    secret = integration.webhook_secret
    good, good_headers = webhook_request("pull_request", pull_request_event("opened", pr), secret=secret)
    bodies = [
        os.urandom(512),
        b"\x00" * 64,
        good.replace(b'"opened"', b'"op\\u0000ened"'),
        good.replace(b'"title":"', b'"title":"\\u0000'),
        b'{"action": "opened"' * 1000,
        b"\xef\xbb\xbf{}",
        b"[" * 200_000,
        b'{"action": {}}',
        b'{"action": []}',
        b'{"action": "opened", "n": 1' + b"0" * 5000 + b"}",
        good.replace(b'"login":"', b'"login":"' + b"x" * 5000),
        good.replace(b'"login":"', b'"login":"\\n'),
    ]
    for body in bodies:
        for event in ["pull_request", "pull_request_review", "ping", "\x00", "x" * 5000]:
            headers = {
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": webhook_signature(secret, body),
            }
            for content_type in ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]:
                response = post(client, url_of(integration), body, headers, content_type=content_type)
                assert response.status_code < 500, (body[:40], event[:20], content_type, response.status_code)
    for name, value in [
        ("X-Hub-Signature-256", "sha256=" + "\u00e9" * 64),
        ("X-Hub-Signature-256", "x" * 60_000),
        ("X-GitHub-Delivery", "x" * 60_000),
        ("X-GitHub-Delivery", "a\x01b"),
        ("X-GitHub-Delivery", ""),
        ("X-GitHub-Event", "pull_request\x00"),
    ]:
        response = post(client, url_of(integration), good, {**good_headers, name: value})
        assert response.status_code < 500, (name, value[:20], response.status_code)
    for endpoint in ["\x00", "1." + "f" * 5000, "9" * 40 + ".abc", "１.abc", "%00"]:
        url = "/webhooks/github/" + endpoint + "/"
        assert post(client, url, good, good_headers).status_code < 500, endpoint[:20]
    assert PullRequest.objects.count() <= 1


# --- two replays at once, a real HTTP delivery, the settings snippet ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_of_the_same_id_write_once(stub, integration):
    """Two connections store the same delivery at once: the unique index lets exactly one write."""
    pr = stub.add_pull_request(stub.repo)
    body, headers = webhook_request("pull_request", pull_request_event("opened", pr), secret=integration.webhook_secret)
    barrier = threading.Barrier(2)
    outcomes = []

    def deliver_once():
        try:
            barrier.wait(timeout=10)
            outcomes.append(handle_delivery(endpoint_id=webhook_id(integration), body=body, headers=headers))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted((result.stored, result.replay) for result in outcomes) == [(False, True), (True, False)]
    assert WebhookDelivery.objects.count() == 1 and PullRequest.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_stand_ins_send_webhook_over_http(live_server, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    url = live_server.url + url_of(integration)
    response = send_webhook(url, "pull_request", pull_request_event("opened", pr), secret=integration.webhook_secret)
    assert response.status_code == 200 and response.json()["stored"] is True
    bad = send_webhook(url, "pull_request", pull_request_event("opened", pr), secret="wrong")
    assert bad.status_code == 401
    assert send_webhook(url, "ping", {"zen": "Hi."}, secret=integration.webhook_secret).status_code == 204
    assert stored(integration, pr).state == "open"


def test_the_settings_snippet_shows_the_url_and_secret(rf, integration):
    setup = webhook_setup(integration.team)
    assert setup.path == url_of(integration) and setup.secret == integration.webhook_secret
    assert webhook_setup(TeamFactory()) is None
    page = Template(
        "{% load github_webhooks %}{% github_webhook_setup team as webhook %}"
        "{{ webhook.url }} {{ webhook.secret }} {{ webhook.content_type }} {{ webhook.events|join:', ' }}"
    ).render(Context({"team": integration.team, "request": rf.get("/")}))
    assert page == (
        f"http://testserver{url_of(integration)} {integration.webhook_secret} application/json "
        "Pull requests, Pull request reviews"
    )


def test_an_older_delivery_arriving_late_leaves_the_newer_row(client, stub, integration):
    pr = stub.add_pull_request(stub.repo, title="Before")
    opened = pull_request_event("opened", pr)
    stub.update_pull_request(stub.repo, pr.number, state="MERGED", title="After")
    closed = pull_request_event("closed", pr)
    assert deliver(client, integration, "pull_request", closed).json()["stored"] is True
    late = deliver(client, integration, "pull_request", opened)
    assert late.status_code == 200 and late.json()["stored"] is False and late.json()["replay"] is False
    row = stored(integration, pr)
    assert (row.state, row.title, row.github_updated_at) == ("merged", "After", pr.updated_at)
    assert WebhookDelivery.objects.count() == 2  # the late one is recorded: a replay of it is a replay


def test_a_repository_the_team_does_not_track_is_204_and_writes_nothing(client, stub, integration):
    pr = stub.add_pull_request(stub.repo)
    TrackedRepository.objects.filter(team=integration.team).update(is_tracked=False)
    before = written()
    response = deliver(client, integration, "pull_request", pull_request_event("opened", pr))
    assert response.status_code == 204 and written() == before
    review = stub.add_review(stub.repo, pr.number)
    response = deliver(client, integration, "pull_request_review", pull_request_review_event("submitted", pr, review))
    assert response.status_code == 204 and written() == before


def test_the_webhook_url_tag_from_an_id_takes_no_statement(rf, integration):
    template = Template("{% load github_webhooks %}{% github_webhook_url integration_id %}")
    with assert_max_queries(0):
        page = template.render(Context({"integration_id": integration.pk, "request": rf.get("/")}))
    assert page == f"http://testserver{url_of(integration)}"


def test_the_webhook_url_survives_a_secret_key_rotation_while_the_old_key_is_a_fallback(settings, integration):
    from apps.integrations.webhooks import integration_id_of

    endpoint = webhook_id(integration)  # the URL pasted into GitHub, signed with today's key
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert integration_id_of(endpoint) == integration.pk
    assert webhook_id(integration) != endpoint  # the settings page shows the new URL
    settings.SECRET_KEY_FALLBACKS = []  # the old key dropped: the old URL is no longer ours
    assert integration_id_of(endpoint) is None
