"""Survey pages: /surveys/<token>/ answers without login (author: AI-assisted?; reviewer: quality 1-3 and a guess),
pre-filled, changeable; forged, expired, foreign and closed links refused with a clear page and nothing written;
"this is me" for a signed-in member of the team only; hostile tokens and values answer 4xx, never 5xx."""

import re
import time

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.metrics.factories import PRSurveyFactory, PRSurveyReviewFactory, PullRequestFactory, TeamMemberFactory
from apps.metrics.models import PRSurvey, PRSurveyReview, TeamMember
from apps.metrics.services import survey_service as service
from apps.perflab.testing import assert_num_queries
from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from tests.test_hostile_input import HOSTILE_VALUES

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    platform, secret = TeamFactory(name="Platform", slug="platform"), TeamFactory(name="Secret", slug="secret")
    ada = TeamMemberFactory(team=platform, display_name="Ada")
    bob = TeamMemberFactory(team=platform, display_name="Bob")
    pr = PullRequestFactory(team=platform, author=ada, title="Faster builds", github_repo="acme/web")
    survey = PRSurveyFactory(pull_request=pr, author_ai_assisted=None, author_responded_at=None)
    bob_review = PRSurveyReviewFactory(
        survey=survey, reviewer=bob, quality_rating=None, ai_guess=None, guess_correct=None, responded_at=None
    )
    other = PRSurveyFactory(
        pull_request=PullRequestFactory(team=secret, title="Secret plan", github_repo="secret/vault"),
        author_ai_assisted=None, author_responded_at=None,
    )  # fmt: skip
    other_review = PRSurveyReviewFactory(survey=other, quality_rating=None, ai_guess=None, responded_at=None)
    return {
        "platform": platform, "secret": secret, "ada": ada, "bob": bob, "survey": survey, "bob_review": bob_review,
        "other": other, "other_review": other_review,
    }  # fmt: skip


def author_url(world):
    return reverse("surveys:answer", args=[service.survey_link_token(world["survey"])])


def reviewer_url(world):
    return reverse("surveys:answer", args=[service.survey_link_token(world["survey"], world["bob_review"])])


def rows():
    return (
        sorted(PRSurvey.objects.values_list("id", "author_ai_assisted", "author_responded_at")),
        sorted(PRSurveyReview.objects.values_list("id", "quality_rating", "ai_guess", "guess_correct", "responded_at")),
        sorted(TeamMember.objects.values_list("id", "user_id")),
    )


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def post_with_csrf(client: Client, url: str, data: dict):
    page = client.get(url)
    return client.post(url, {**data, "csrfmiddlewaretoken": page.context["csrf_token"]})


# --- answering without login ----------------------------------------------------------------------


def test_the_author_page_shows_the_pr_and_needs_no_login(client, world):
    response = client.get(author_url(world))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Faster builds" in body and "acme/web" in body and "merged" in body and "Ada" in body
    assert 'name="ai_assisted"' in body and 'name="quality"' not in body
    assert "Secret plan" not in body


def test_the_reviewer_page_shows_rating_labels_and_a_guess(client, world):
    body = client.get(reviewer_url(world)).content.decode()
    assert 'name="quality"' in body and 'name="ai_guess"' in body and 'name="ai_assisted"' not in body
    assert "Needs work" in body and "Great" in body and "Bob" in body


def test_author_answers_then_reviewer_and_the_pages_are_prefilled(world):
    client = csrf_client()
    response = post_with_csrf(client, author_url(world), {"ai_assisted": "yes"})
    assert response.status_code == 302 and response["Location"] == author_url(world)
    page = client.get(author_url(world)).content.decode()
    assert "your answer is saved" in page and re.search(r'value="yes"[^>]*checked', page)
    assert not re.search(r'value="no"[^>]*checked', page)
    response = post_with_csrf(client, reviewer_url(world), {"quality": "3", "ai_guess": "no"})
    assert response.status_code == 302
    review = PRSurveyReview.objects.get(pk=world["bob_review"].pk)
    assert (review.quality_rating, review.ai_guess, review.guess_correct) == (3, False, False)
    page = client.get(reviewer_url(world)).content.decode()
    assert "Change my answer" in page and re.search(r'value="3"[^>]*checked', page)
    assert re.search(r'name="ai_guess" value="no"[^>]*checked', page)


def test_a_second_post_changes_the_answer_and_never_duplicates(client, world):
    client.post(reviewer_url(world), {"quality": "2", "ai_guess": "yes"})
    client.post(author_url(world), {"ai_assisted": "no"})
    client.post(reviewer_url(world), {"quality": "1", "ai_guess": "no"})
    review = PRSurveyReview.objects.get(pk=world["bob_review"].pk)
    assert (review.quality_rating, review.ai_guess, review.guess_correct) == (1, False, True)
    assert PRSurveyReview.objects.filter(survey=world["survey"]).count() == 1
    assert PRSurvey.objects.filter(pk=world["survey"].pk).values_list("author_ai_assisted", flat=True).get() is False


def test_a_post_without_the_csrf_token_is_refused(world):
    before = rows()
    response = csrf_client().post(author_url(world), {"ai_assisted": "yes"})
    assert response.status_code == 403 and rows() == before


def test_answering_takes_few_statements(client, world):
    url = reviewer_url(world)
    client.get(url)
    with assert_num_queries(2):  # the link, the answer
        assert client.post(url, {"quality": "2", "ai_guess": "yes"}).status_code == 302
    with assert_num_queries(1):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("field", ["ai_assisted", "quality", "ai_guess"])
def test_hostile_post_values_answer_400_with_the_reason_and_write_nothing(client, world, field):
    url = author_url(world) if field == "ai_assisted" else reviewer_url(world)
    valid = {"ai_assisted": "yes"} if field == "ai_assisted" else {"quality": "2", "ai_guess": "yes"}
    before = rows()
    for value in [*HOSTILE_VALUES, "4", "true", "YES", "1 ", "０", ["yes", "no"], ["1", "3"]]:
        response = client.post(url, {**valid, field: value})
        assert response.status_code == 400, (field, value, response.status_code)
        body = response.content.decode()
        assert "form-error" in body or "NUL" in body, (field, value)
    response = client.post(url, {k: v for k, v in valid.items() if k != field})  # missing
    assert response.status_code == 400 and ("Answer yes or no" in response.content.decode()
                                            or "Choose a rating" in response.content.decode())  # fmt: skip
    assert rows() == before


# --- refused links ----------------------------------------------------------------------------------


def _refused_tokens(world):
    token = service.survey_link_token(world["survey"])
    value, _, signature = token.rpartition(":")
    return {
        "tampered": (f"{value}:{'A' if signature[0] != 'A' else 'B'}{signature[1:]}", 400),
        "another salt": (signing.TimestampSigner(salt="other").sign_object({"t": 1, "s": 1}), 400),
        "garbage": ("garbage", 400),
        "unicode": ("ünïcødé✓\u202e", 400),
        "very long": ("x" * 5000, 400),
        "foreign review": (
            service._link_token(world["platform"].id, world["survey"].id, world["other_review"].id), 404
        ),
        "foreign survey": (service._link_token(world["platform"].id, world["other"].id, None), 404),
    }


@pytest.mark.parametrize("method", ["get", "post"])
def test_forged_and_foreign_links_are_refused_with_a_clear_page(client, world, method):
    before = rows()
    for name, (token, status) in _refused_tokens(world).items():
        url = reverse("surveys:answer", args=[token])
        response = getattr(client, method)(url, {"ai_assisted": "yes", "quality": "3", "ai_guess": "yes"})
        assert response.status_code == status, name
        body = response.content.decode()
        assert "This survey link cannot be used" in body and "Nothing was saved" in body, name
        assert "Secret plan" not in body
    assert rows() == before


def test_an_expired_link_is_refused_with_410(client, world, monkeypatch):
    made = time.time() - service.SURVEY_LINK_VALIDITY.total_seconds() - 1
    monkeypatch.setattr(signing.time, "time", lambda: made)
    url = author_url(world)
    monkeypatch.undo()
    before = rows()
    response = client.post(url, {"ai_assisted": "yes"})
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert rows() == before


def test_a_closed_survey_is_refused_with_410(client, world):
    url = reviewer_url(world)
    PRSurvey.objects.filter(pk=world["survey"].pk).update(created_at=timezone.now() - service.SURVEY_OPEN_FOR)
    before = rows()
    for response in (client.get(url), client.post(url, {"quality": "3", "ai_guess": "yes"})):
        assert response.status_code == 410 and "closed" in response.content.decode()
    assert rows() == before


def test_hostile_tokens_never_answer_5xx_and_write_nothing(client, world):
    """The hostile-input test discovers team URLs; these take a token: every hostile value as the token, on both
    URLs and both methods."""
    before = rows()
    tokens = [value for value in HOSTILE_VALUES if value.strip() and "/" not in value]
    tokens += ["a:b", "a:b:c", "::", ".eJw:1:x", "%FF", "\ud7ff", service.survey_link_token(world["survey"]) + "é"]
    requests = 0
    for token in tokens:
        for name in ("surveys:answer", "surveys:link_me"):
            url = reverse(name, args=[token])
            for method in ("get", "post"):
                response = getattr(client, method)(url, {"ai_assisted": "yes"})
                assert response.status_code < 500, (token, name, method, response.status_code)
                if response.status_code not in (302, 405):
                    assert len(response.content.strip()) > 0
                requests += 1
    assert rows() == before
    assert requests >= 80


# --- "this is me" ------------------------------------------------------------------------------------


def test_a_member_of_the_team_is_offered_this_is_me_and_it_links(client, world):
    grace = UserFactory(username="grace")
    MembershipFactory(user=grace, team=world["platform"])
    client.force_login(grace)
    url = reviewer_url(world)
    body = client.get(url).content.decode()
    assert "This is me: show my surveys on my home page" in body
    token = service.survey_link_token(world["survey"], world["bob_review"])
    response = client.post(reverse("surveys:link_me", args=[token]))
    assert response.status_code == 302 and response["Location"] == reverse("teams:home")
    assert TeamMember.objects.get(pk=world["bob"].pk).user == grace
    assert "This is me" not in client.get(url).content.decode()  # done: not offered again


def test_this_is_me_is_not_offered_to_or_taken_from_someone_outside_the_team(client, world):
    mallory = UserFactory(username="mallory")
    MembershipFactory(user=mallory, team=world["secret"])
    client.force_login(mallory)
    assert "This is me" not in client.get(author_url(world)).content.decode()
    before = rows()
    response = client.post(reverse("surveys:link_me", args=[service.survey_link_token(world["survey"])]))
    assert response.status_code == 403 and "not a member" in response.content.decode()
    assert rows() == before


def test_this_is_me_refuses_a_member_linked_to_someone_else(client, world):
    grace, ivy = UserFactory(), UserFactory()
    for user in (grace, ivy):
        MembershipFactory(user=user, team=world["platform"])
    TeamMember.objects.filter(pk=world["ada"].pk).update(user=grace)
    client.force_login(ivy)
    assert "This is me" not in client.get(author_url(world)).content.decode()
    before = rows()
    response = client.post(reverse("surveys:link_me", args=[service.survey_link_token(world["survey"])]))
    assert response.status_code == 409 and rows() == before


def test_this_is_me_needs_a_login(client, world):
    url = reverse("surveys:link_me", args=[service.survey_link_token(world["survey"])])
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert "This is me" not in client.get(author_url(world)).content.decode()  # anonymous: not offered


# --- the home page's "Your open surveys" --------------------------------------------------------


def test_the_home_page_lists_my_open_surveys_and_never_another_teams(client, world):
    grace = UserFactory(username="grace")
    MembershipFactory(user=grace, team=world["platform"])
    TeamMember.objects.filter(pk=world["ada"].pk).update(user=grace)
    # linked to a member of Secret too (a reviewer of its survey), but not a member of Secret: never shown
    TeamMember.objects.filter(pk=world["other_review"].reviewer_id).update(user=grace)
    client.force_login(grace)
    body = client.get("/").content.decode()
    assert "Your open surveys" in body and "Faster builds" in body and "acme/web" in body
    assert "Secret plan" not in body and "secret/vault" not in body
    assert reverse("surveys:answer", args=[service.survey_link_token(world["survey"])]) in body
    # answered: gone from the list
    client.post(author_url(world), {"ai_assisted": "yes"})
    assert "Your open surveys" not in client.get("/").content.decode()


def test_the_home_page_without_linked_members_shows_no_survey_list(client, world):
    ivy = UserFactory()
    MembershipFactory(user=ivy, team=world["platform"])
    client.force_login(ivy)
    body = client.get("/").content.decode()
    assert "Your open surveys" not in body and "Faster builds" not in body


@pytest.mark.parametrize("surveys", [1, 20])
def test_the_home_page_statements_do_not_grow_with_open_surveys(client, world, surveys):
    grace = UserFactory()
    MembershipFactory(user=grace, team=world["platform"])
    TeamMember.objects.filter(pk=world["bob"].pk).update(user=grace)
    for _ in range(surveys):
        pr = PullRequestFactory(team=world["platform"], author=world["bob"])
        PRSurveyFactory(pull_request=pr, author_ai_assisted=None, author_responded_at=None)
    client.force_login(grace)
    # session, user, the teams (one), the open surveys (one): the list adds one statement, whatever its length
    with assert_num_queries(4):
        body = client.get("/").content.decode()
    assert body.count('href="/surveys/') == surveys + 1  # Bob's PRs, and Ada's PR he reviewed
