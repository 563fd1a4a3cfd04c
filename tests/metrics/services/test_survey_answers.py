"""Answering surveys: signed 30-day links, one answer per person (changeable while open), guess_correct in either
order, one statement per answer, and the home page's list of a user's open surveys (never another team's)."""

import datetime as dt
import time

import pytest
from django.core import signing
from django.db import connection
from django.utils import timezone

from apps.metrics.factories import PRSurveyFactory, PRSurveyReviewFactory, PullRequestFactory, TeamMemberFactory
from apps.metrics.models import PRSurvey, PRSurveyReview, TeamMember
from apps.metrics.services import survey_service as service
from apps.metrics.services.team_cache import team_data_version
from apps.perflab.testing import assert_max_queries, assert_num_queries
from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """Platform: Ada's PR, reviewed by Bob and Cy, its survey unanswered; Secret: another team's survey."""
    platform, secret = TeamFactory(slug="platform"), TeamFactory(slug="secret")
    ada, bob, cy = (TeamMemberFactory(team=platform, display_name=name) for name in ("Ada", "Bob", "Cy"))
    pr = PullRequestFactory(team=platform, author=ada, title="Faster builds", github_repo="acme/web")
    survey = PRSurveyFactory(pull_request=pr, author_ai_assisted=None, author_responded_at=None)
    bob_review, cy_review = (
        PRSurveyReviewFactory(
            survey=survey, reviewer=member, quality_rating=None, ai_guess=None, guess_correct=None, responded_at=None
        )
        for member in (bob, cy)
    )
    eve = TeamMemberFactory(team=secret, display_name="Eve")
    other_survey = PRSurveyFactory(pull_request=PullRequestFactory(team=secret, author=eve, title="Secret plan"),
                                   author_ai_assisted=None, author_responded_at=None)  # fmt: skip
    other_review = PRSurveyReviewFactory(
        survey=other_survey, quality_rating=None, ai_guess=None, guess_correct=None, responded_at=None
    )
    return {
        "platform": platform, "secret": secret, "ada": ada, "bob": bob, "cy": cy, "survey": survey,
        "bob_review": bob_review, "cy_review": cy_review, "other_survey": other_survey, "other_review": other_review,
    }  # fmt: skip


def answers():
    """Everything an answer can write, for before/after comparisons."""
    return (
        sorted(PRSurvey.objects.values_list("id", "author_ai_assisted", "author_responded_at")),
        sorted(PRSurveyReview.objects.values_list("id", "quality_rating", "ai_guess", "guess_correct", "responded_at")),
        sorted(TeamMember.objects.values_list("id", "user_id")),
    )


def review(pk):
    return PRSurveyReview.objects.get(pk=pk)


# --- links ----------------------------------------------------------------------------------------


def test_tokens_round_trip_for_the_author_and_each_reviewer(world):
    survey = world["survey"]
    link = service.read_survey_link(service.survey_link_token(survey))
    assert link.is_author and link.survey == survey and link.member == world["ada"] and link.review is None
    assert link.survey.pull_request.title == "Faster builds"  # joined: no further statement
    link = service.read_survey_link(service.survey_link_token(survey, world["bob_review"]))
    assert not link.is_author and link.review == world["bob_review"] and link.member == world["bob"]
    assert service.survey_link_token(survey) != service.survey_link_token(world["other_survey"])


def test_reading_a_link_is_one_statement_and_a_forged_one_none(world):
    token = service.survey_link_token(world["survey"], world["bob_review"])
    with assert_num_queries(1):
        service.read_survey_link(token)
    with assert_max_queries(0), pytest.raises(service.SurveyLinkInvalid):
        service.read_survey_link(token[:-2] + "xx")


def test_a_token_of_a_review_of_another_survey_cannot_be_made(world):
    with pytest.raises(ValueError):
        service.survey_link_token(world["survey"], world["other_review"])


def _tampered(token: str) -> str:
    value, _, signature = token.rpartition(":")
    return f"{value}:{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def _forgeries(world):
    token = service.survey_link_token(world["survey"])
    payload, timestamp, _signature = token.split(":")
    return {
        "tampered signature": _tampered(token),
        "tampered id": signing.b64_encode(b'{"t":%d,"s":%d}' % (world["secret"].id, world["other_survey"].id)).decode()
        + f":{timestamp}:{token.rsplit(':', 1)[1]}",
        "another salt": signing.TimestampSigner(salt="tformance.teams.invite").sign_object(
            {"t": world["platform"].id, "s": world["survey"].id}
        ),
        "no salt": signing.dumps({"t": world["platform"].id, "s": world["survey"].id}),
        "garbage": "not-a-token",
        "empty": "",
        "colons": ":::",
        "unicode": "ünïcødé:✓:\u202e",
        "very long": "x" * 20_000 + token,
        "nul": token + "\x00",
        "a list signed": signing.TimestampSigner(salt=service.LINK_SALT).sign_object([1, 2]),
        "a bool id signed": signing.TimestampSigner(salt=service.LINK_SALT).sign_object({"t": True, "s": True}),
        "a string id signed": signing.TimestampSigner(salt=service.LINK_SALT).sign_object({"t": "1", "s": "1"}),
        "a huge id signed": signing.TimestampSigner(salt=service.LINK_SALT).sign_object({"t": 2**70, "s": 1}),
        "an extra key signed": signing.TimestampSigner(salt=service.LINK_SALT).sign_object({"t": 1, "s": 1, "x": 1}),
        "no timestamp": signing.Signer(salt=service.LINK_SALT).sign_object({"t": 1, "s": 1}),
    }


def test_forged_and_garbled_links_are_refused(world):
    for name, token in _forgeries(world).items():
        with pytest.raises(service.SurveyLinkInvalid) as refused:
            service.read_survey_link(token)
        assert refused.value.status == 400, name
        assert "not valid" in refused.value.reason, name


def test_foreign_ids_signed_together_are_not_found(world):
    """Ids that were never signed together (a review of another team's survey, a survey of another team) name no
    row of the signed team: refused as not found."""
    cases = [
        (world["platform"].id, world["other_survey"].id, None),  # another team's survey under my team
        (world["platform"].id, world["survey"].id, world["other_review"].id),  # a review of another survey
        (world["secret"].id, world["survey"].id, None),  # my survey under another team
        (world["secret"].id, world["other_survey"].id, world["bob_review"].id),
        (world["platform"].id, 10**12, None),  # no such survey
    ]
    for team_id, survey_id, review_id in cases:
        with pytest.raises(service.SurveyNotFound) as refused:
            service.read_survey_link(service._link_token(team_id, survey_id, review_id))
        assert refused.value.status == 404


def test_a_link_expires_after_30_days(world, monkeypatch):
    made = time.time() - service.SURVEY_LINK_VALIDITY.total_seconds() - 60
    monkeypatch.setattr(signing.time, "time", lambda: made)
    token = service.survey_link_token(world["survey"])
    monkeypatch.undo()
    with pytest.raises(service.SurveyLinkExpired) as refused:
        service.read_survey_link(token)
    assert refused.value.status == 410 and "expired" in refused.value.reason
    # a day younger, it works
    monkeypatch.setattr(signing.time, "time", lambda: made + 86_400)
    token = service.survey_link_token(world["survey"])
    monkeypatch.undo()
    assert service.read_survey_link(token).survey == world["survey"]


def test_a_closed_survey_refuses_its_link_and_its_answers(world):
    survey = world["survey"]
    token = service.survey_link_token(survey, world["bob_review"])
    PRSurvey.objects.filter(pk=survey.pk).update(created_at=timezone.now() - service.SURVEY_OPEN_FOR)
    survey.refresh_from_db()
    with pytest.raises(service.SurveyClosed) as refused:
        service.read_survey_link(token)
    assert refused.value.status == 410 and "closed" in refused.value.reason
    before, version = answers(), team_data_version(survey.team_id)
    with pytest.raises(service.SurveyClosed):
        service.answer_as_author(survey, ai_assisted=True)
    with pytest.raises(service.SurveyClosed):
        service.answer_as_reviewer(world["bob_review"], quality=3, ai_guess=True)
    assert answers() == before and team_data_version(survey.team_id) == version


def test_open_until_created_at_plus_the_window(world):
    survey = world["survey"]
    assert service.survey_closes_at(survey) == survey.created_at + dt.timedelta(days=30)
    just_before = survey.created_at + service.SURVEY_OPEN_FOR - dt.timedelta(seconds=1)
    service.answer_as_author(survey, ai_assisted=False, now=just_before)
    with pytest.raises(service.SurveyClosed):
        service.answer_as_author(survey, ai_assisted=True, now=just_before + dt.timedelta(seconds=1))
    survey.refresh_from_db()
    assert survey.author_ai_assisted is False


# --- answers --------------------------------------------------------------------------------------


def test_author_then_reviewers_gives_guess_correct(world):
    service.answer_as_author(world["survey"], ai_assisted=True)
    assert review(world["bob_review"].pk).guess_correct is None  # not guessed yet
    service.answer_as_reviewer(world["bob_review"], quality=3, ai_guess=True)
    service.answer_as_reviewer(world["cy_review"], quality=1, ai_guess=False)
    bob, cy = review(world["bob_review"].pk), review(world["cy_review"].pk)
    assert (bob.quality_rating, bob.ai_guess, bob.guess_correct) == (3, True, True)
    assert (cy.quality_rating, cy.ai_guess, cy.guess_correct) == (1, False, False)
    assert bob.responded_at is not None


def test_reviewers_then_author_gives_guess_correct(world):
    service.answer_as_reviewer(world["bob_review"], quality=2, ai_guess=True)
    assert review(world["bob_review"].pk).guess_correct is None  # the author has not answered
    recomputed = service.answer_as_author(world["survey"], ai_assisted=False)
    assert recomputed == 2  # both reviews: Cy's stays null, not guessed
    assert review(world["bob_review"].pk).guess_correct is False
    assert review(world["cy_review"].pk).guess_correct is None
    survey = PRSurvey.objects.get(pk=world["survey"].pk)
    assert survey.author_ai_assisted is False and survey.author_responded_at is not None


def test_changing_an_answer_recomputes_and_never_duplicates(world):
    service.answer_as_reviewer(world["bob_review"], quality=2, ai_guess=True)
    service.answer_as_author(world["survey"], ai_assisted=True)
    assert review(world["bob_review"].pk).guess_correct is True
    service.answer_as_author(world["survey"], ai_assisted=False)  # the author changes their mind
    assert review(world["bob_review"].pk).guess_correct is False
    service.answer_as_reviewer(world["bob_review"], quality=1, ai_guess=False)  # so does Bob
    bob = review(world["bob_review"].pk)
    assert (bob.quality_rating, bob.ai_guess, bob.guess_correct) == (1, False, True)
    assert PRSurveyReview.objects.filter(survey=world["survey"]).count() == 2
    assert PRSurvey.objects.filter(pull_request=world["survey"].pull_request).count() == 1


def test_answers_touch_nothing_of_another_survey(world):
    others = lambda: (  # noqa: E731
        PRSurvey.objects.filter(pk=world["other_survey"].pk).values_list("author_ai_assisted", flat=True).get(),
        review(world["other_review"].pk).responded_at,
    )
    before = others()
    service.answer_as_author(world["survey"], ai_assisted=True)
    service.answer_as_reviewer(world["bob_review"], quality=3, ai_guess=True)
    assert others() == before == (None, None)


@pytest.mark.parametrize("quality", [0, 4, -1, True, "2", 2.0, None])
def test_a_bad_rating_is_refused_before_any_statement(world, quality):
    before = answers()
    with assert_max_queries(0), pytest.raises((ValueError, TypeError)):
        service.answer_as_reviewer(world["bob_review"], quality=quality, ai_guess=True)
    with assert_max_queries(0), pytest.raises(TypeError):
        service.answer_as_author(world["survey"], ai_assisted="yes")
    assert answers() == before


@pytest.mark.parametrize("reviews", [2, 30])
def test_each_answer_is_one_statement_whatever_the_reviews(world, reviews):
    for _ in range(reviews - 2):
        PRSurveyReviewFactory(survey=world["survey"], ai_guess=True, quality_rating=2, guess_correct=None)
    with assert_num_queries(1):
        assert service.answer_as_author(world["survey"], ai_assisted=True) == reviews
    with assert_num_queries(1):
        service.answer_as_reviewer(world["bob_review"], quality=2, ai_guess=False)
    assert PRSurveyReview.objects.filter(survey=world["survey"], ai_guess=True, guess_correct=True).count() == (
        reviews - 2
    )


def test_answers_bump_the_team_cache_version_on_commit(world, django_capture_on_commit_callbacks):
    team_id = world["platform"].id
    before = team_data_version(team_id)
    with django_capture_on_commit_callbacks(execute=True):
        service.answer_as_author(world["survey"], ai_assisted=True)
    with django_capture_on_commit_callbacks(execute=True):
        service.answer_as_reviewer(world["bob_review"], quality=2, ai_guess=True)
    assert team_data_version(team_id) == before + 2


def test_the_reviewer_statement_reads_the_authors_answer_under_a_share_lock(world):
    """The race-free part: the reviewer's subquery takes FOR SHARE on the survey row (so it waits for an
    author's uncommitted answer and then reads it)."""
    assert "FOR SHARE" in service._ANSWER_AS_REVIEWER
    with connection.cursor() as cursor:  # and PostgreSQL accepts the locking clause where it is
        cursor.execute("EXPLAIN " + service._ANSWER_AS_REVIEWER, {
            "quality": 2, "guess": True, "now": timezone.now(), "review": world["bob_review"].pk,
            "opened_after": timezone.now(),
        })  # fmt: skip
        assert "LockRows" in "\n".join(row[0] for row in cursor.fetchall())


# --- linking a user, and the home page's list ----------------------------------------------------


def test_link_member_to_user_needs_the_team_and_a_free_member(world):
    grace, mallory = UserFactory(username="grace"), UserFactory(username="mallory")
    MembershipFactory(user=grace, team=world["platform"])
    MembershipFactory(user=mallory, team=world["secret"])
    link = service.read_survey_link(service.survey_link_token(world["survey"], world["bob_review"]))
    before = answers()
    with pytest.raises(service.MemberLinkRefused) as refused:
        service.link_member_to_user(link=link, user=mallory)  # not in Platform
    assert refused.value.status == 403 and answers() == before
    assert service.link_member_to_user(link=link, user=grace).user_id == grace.id
    assert TeamMember.objects.get(pk=world["bob"].pk).user_id == grace.id
    service.link_member_to_user(link=link, user=grace)  # again: nothing changes, no error
    ivy = UserFactory(username="ivy")
    MembershipFactory(user=ivy, team=world["platform"])
    before = answers()
    with pytest.raises(service.MemberLinkRefused) as refused:
        service.link_member_to_user(link=link, user=ivy)  # Bob is grace's
    assert refused.value.status == 409 and answers() == before
    author_link = service.read_survey_link(service.survey_link_token(world["survey"]))
    with pytest.raises(service.MemberLinkRefused) as refused:
        service.link_member_to_user(link=author_link, user=grace)  # grace is Bob in this team already
    assert refused.value.status == 409 and answers() == before


def test_open_surveys_lists_only_the_users_open_unanswered_ones(world):
    grace = UserFactory(username="grace")
    MembershipFactory(user=grace, team=world["platform"])
    TeamMember.objects.filter(pk=world["ada"].pk).update(user=grace)
    # another team's member linked to grace, but grace is not in that team: never shown
    TeamMember.objects.filter(pk=world["other_survey"].author_id).update(user=grace)
    # grace reviews another of Platform's PRs as well (a second member? no: one per team) -> a PR by Bob
    pr = PullRequestFactory(team=world["platform"], author=world["bob"], title="Bob's PR")
    bobs = PRSurveyFactory(pull_request=pr, author_ai_assisted=None, author_responded_at=None)
    PRSurveyReviewFactory(survey=bobs, reviewer=world["ada"], quality_rating=None, ai_guess=None, responded_at=None)
    with assert_num_queries(1):
        rows = service.open_surveys_for_user(grace)
    assert [(row["role"], row["title"]) for row in rows] == [("author", "Faster builds"), ("reviewer", "Bob's PR")]
    assert all(row["team_id"] == world["platform"].id for row in rows)
    # each row's token opens the right survey for the right person
    assert service.read_survey_link(rows[0]["token"]).member == world["ada"]
    assert service.read_survey_link(rows[1]["token"]).review.survey == bobs
    assert rows[0]["github_repo"] == "acme/web" and rows[0]["merged_at"] is not None
    # answered or closed: gone
    service.answer_as_author(world["survey"], ai_assisted=True)
    PRSurvey.objects.filter(pk=bobs.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    assert service.open_surveys_for_user(grace) == []


def test_open_surveys_of_a_user_with_no_member_or_anonymous(world):
    from django.contrib.auth.models import AnonymousUser

    with assert_max_queries(0):
        assert service.open_surveys_for_user(AnonymousUser()) == []
    assert service.open_surveys_for_user(UserFactory()) == []


def test_a_user_is_linked_to_one_member_per_team(world):
    from django.db import IntegrityError, transaction

    grace = UserFactory()
    TeamMember.objects.filter(pk=world["ada"].pk).update(user=grace)
    with pytest.raises(IntegrityError), transaction.atomic():
        TeamMember.objects.filter(pk=world["bob"].pk).update(user=grace)
    TeamMember.objects.filter(pk=world["other_review"].reviewer_id).update(user=grace)  # another team: fine


# --- simultaneous answers --------------------------------------------------------------------------


def _simultaneously(first, second):
    """``first`` answers in a transaction it holds open until ``second`` (another connection) is waiting on it."""
    import threading

    from django.db import transaction

    started, errors = threading.Event(), []

    def run_first():
        try:
            with transaction.atomic():
                first()
                started.set()
                time.sleep(0.5)  # the second answer now waits on this transaction's row locks
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            started.set()
        finally:
            connection.close()

    def run_second():
        try:
            started.wait(timeout=10)
            second()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("author_first", [True, False])
def test_simultaneous_author_and_reviewer_answers_give_the_right_guess_correct(author_first):
    """Under READ COMMITTED, whichever answer commits second still sees the first: the reviewer's FOR SHARE waits
    for the author's uncommitted answer; an author who comes second re-evaluates the review row the reviewer wrote."""
    pr = PullRequestFactory(team=TeamFactory())
    survey = PRSurveyFactory(pull_request=pr, author_ai_assisted=None, author_responded_at=None)
    bob = PRSurveyReviewFactory(
        survey=survey, quality_rating=None, ai_guess=None, guess_correct=None, responded_at=None
    )

    def author():
        service.answer_as_author(survey, ai_assisted=True)

    def reviewer():
        service.answer_as_reviewer(bob, quality=2, ai_guess=True)

    _simultaneously(*((author, reviewer) if author_first else (reviewer, author)))
    assert review(bob.pk).guess_correct is True
