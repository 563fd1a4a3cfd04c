"""Survey links in a real browser: a merged PR's survey answered by its author and its reviewer; the cards change.

Issue 13's "done when", end to end, in headless Chromium against the live server: a team with one merged PR
(two days ago, inside the dashboard's default last 30 days) by Ada, reviewed by Bob; ``create_surveys(team)``
makes the author's survey and Bob's survey review, ``survey_link_token`` their links. A signed-in member sees
the "AI-assisted PRs" and "Review quality" cards without data ("—"); then, in the same browser with every
cookie deleted (no login, as someone following the link from a notification), Ada answers "Yes" and Bob rates
3 and guesses; each page confirms. Back on the dashboard the cards say 100.00% and 3.00 / 3: each answer bumped
the team's data version, so the figures cached by the first visit are not served again. The database holds the
answers, with Bob's ``guess_correct`` computed from Ada's. A link with one character changed is refused (400,
"Nothing was saved."), and so is an answer posted to it: nothing is written, the version does not move.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``; without them the test skips (see
``test_dashboard_browser``).
"""

import pytest
from django.urls import reverse

from apps.metrics.factories import PRReviewFactory, PullRequestFactory, TeamMemberFactory
from apps.metrics.models import PRSurvey, PRSurveyReview
from apps.metrics.services.survey_service import create_surveys, survey_link_token
from apps.metrics.services.team_cache import team_data_version
from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from tests.browser import test_dashboard_browser as dashboard_browser
from tests.browser.test_dashboard_browser import _csp_violations, _javascript_errors, _log_in, _wait
from tests.browser.test_onboarding_browser import _submit

pytestmark = dashboard_browser.pytestmark  # browser; skipped without Debian's chromium and chromedriver
browser = dashboard_browser.browser  # the headless Chromium fixture

SURVEY_CARDS = ("ai_assisted_pct", "avg_quality_rating")
SAVED = "Thank you: your answer is saved."
INVALID = "This survey link is not valid: it is incomplete or has been altered."
STATUS_JS = "return performance.getEntriesByType('navigation')[0].responseStatus;"


@pytest.fixture
def surveyed(transactional_db):
    """A team whose one merged PR (Ada's, reviewed by Bob) has its surveys; carol is a member who may see it."""
    team = TeamFactory(name="Survey Squad", slug="survey-squad")
    ada = TeamMemberFactory(team=team, display_name="Ada Author", github_username="ada")
    bob = TeamMemberFactory(team=team, display_name="Bob Reviewer", github_username="bob")
    pr = PullRequestFactory(team=team, author=ada, title="Cache the dashboard cards", github_repo="acme/web")
    PRReviewFactory(pull_request=pr, reviewer=bob)
    created = create_surveys(team)
    assert (created.surveys, created.survey_reviews) == (1, 1)
    MembershipFactory(user=UserFactory(username="carol"), team=team)  # _log_in signs in as carol
    survey = PRSurvey.objects.get(pull_request=pr)
    review = PRSurveyReview.objects.get(survey=survey, reviewer=bob)
    return {"team": team, "pr": pr, "survey": survey, "review": review}


def _cards(browser):
    from selenium.webdriver.common.by import By

    return {
        key: browser.find_element(By.CSS_SELECTOR, f'.kpi[data-metric="{key}"] .kpi-value').text
        for key in ("prs_merged", *SURVEY_CARDS)
    }


def _choose(browser, name, value):
    from selenium.webdriver.common.by import By

    radio = browser.find_element(By.CSS_SELECTOR, f'input[type=radio][name="{name}"][value="{value}"]')
    radio.click()
    assert radio.is_selected()


def _checked(browser, name):
    from selenium.webdriver.common.by import By

    return [r.get_attribute("value") for r in browser.find_elements(By.CSS_SELECTOR, f'input[name="{name}"]:checked')]


def _confirmation(browser):
    from selenium.webdriver.common.by import By

    return _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".messages[role=status]"), "the confirmation")[
        0
    ].text


def _tampered(token: str) -> str:
    """The token with one character of its signed value changed (the signature no longer holds)."""
    i = len(token.split(":")[0]) // 2
    return token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1 :]


def _rows():
    return (
        list(PRSurvey.objects.values_list("id", "author_ai_assisted", "author_responded_at")),
        list(PRSurveyReview.objects.values_list("id", "quality_rating", "ai_guess", "guess_correct", "responded_at")),
    )


@pytest.mark.django_db(transaction=True)
def test_answer_the_surveys_as_author_and_reviewer_and_the_cards_change(live_server, browser, surveyed):
    from selenium.webdriver.common.by import By

    team, survey, review = surveyed["team"], surveyed["survey"], surveyed["review"]
    dashboard_path = reverse("metrics:dashboard", args=[team.slug])
    author_url = f"{live_server.url}{reverse('surveys:answer', args=[survey_link_token(survey)])}"
    reviewer_url = f"{live_server.url}{reverse('surveys:answer', args=[survey_link_token(survey, review)])}"

    # a member's dashboard: the PR is counted, its surveys are not answered yet (and the figures are now cached)
    _log_in(browser, live_server, dashboard_path)
    assert team.name in browser.find_element(By.TAG_NAME, "h1").text
    assert _cards(browser) == {"prs_merged": "1", "ai_assisted_pct": "—", "avg_quality_rating": "—"}
    version = team_data_version(team.id)

    # the author's link, with no session at all
    browser.delete_all_cookies()
    assert browser.get_cookies() == []
    browser.get(author_url)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Cache the dashboard cards" in body and "acme/web" in body, body
    assert "You are answering as Ada Author" in body, body
    assert not browser.find_elements(By.CSS_SELECTOR, 'input[name="quality"]')  # the author is not asked to rate
    assert _checked(browser, "ai_assisted") == []
    _choose(browser, "ai_assisted", "yes")
    _submit(browser, "Save my answer")
    assert _confirmation(browser).startswith(SAVED)
    assert browser.current_url == author_url  # back on the link, pre-filled with the answer
    assert _checked(browser, "ai_assisted") == ["yes"]
    assert [b.text for b in browser.find_elements(By.CSS_SELECTOR, "button[type=submit]")] == ["Change my answer"]
    assert not browser.find_elements(By.XPATH, "//button[contains(., 'This is me')]")  # nobody is signed in
    survey.refresh_from_db()
    assert survey.author_ai_assisted is True and survey.author_responded_at is not None
    assert team_data_version(team.id) == version + 1

    # the reviewer's link: a rating of 3 and a guess ("no": wrong, since Ada said yes)
    browser.get(reviewer_url)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "You are answering as Bob Reviewer" in body, body
    assert not browser.find_elements(By.CSS_SELECTOR, 'input[name="ai_assisted"]')
    _choose(browser, "quality", "3")
    _choose(browser, "ai_guess", "no")
    _submit(browser, "Save my answer")
    assert _confirmation(browser).startswith(SAVED)
    assert browser.current_url == reviewer_url
    assert (_checked(browser, "quality"), _checked(browser, "ai_guess")) == (["3"], ["no"])
    review.refresh_from_db()
    assert (review.quality_rating, review.ai_guess, review.guess_correct) == (3, False, False)
    assert review.responded_at is not None
    assert team_data_version(team.id) == version + 2
    answered = _rows()

    # a tampered link: refused with the reason, no form; an answer posted to it is refused too, nothing written
    tampered_token = _tampered(survey_link_token(survey))
    tampered_url = f"{live_server.url}{reverse('surveys:answer', args=[tampered_token])}"
    browser.get(tampered_url)
    assert browser.execute_script(STATUS_JS) == 400
    assert browser.find_element(By.TAG_NAME, "h1").text == "This survey link cannot be used"
    assert browser.find_element(By.CSS_SELECTOR, "[role=alert]").text == INVALID
    assert "Nothing was saved." in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.CSS_SELECTOR, "form[method=post]")
    browser.get(author_url)  # the genuine form (and its CSRF token), sent to the tampered link with "No"
    form = browser.find_element(By.CSS_SELECTOR, "form[method=post]")
    browser.execute_script("arguments[0].action = arguments[1];", form, tampered_url)
    _choose(browser, "ai_assisted", "no")
    _submit(browser, "Change my answer")
    assert browser.current_url == tampered_url
    assert browser.execute_script(STATUS_JS) == 400
    assert browser.find_element(By.CSS_SELECTOR, "[role=alert]").text == INVALID
    assert _rows() == answered
    assert team_data_version(team.id) == version + 2

    # the member's dashboard again: the cards show the answers (100% AI-assisted; the one rating, 3 of 3)
    _log_in(browser, live_server, dashboard_path)
    assert _cards(browser) == {"prs_merged": "1", "ai_assisted_pct": "100.00%", "avg_quality_rating": "3.00 / 3"}

    # the two refusals' 400s are the only messages Chromium logged
    logged = _javascript_errors(browser)
    assert all("/surveys/" in m and "status of 400" in m for m in logged), logged
    assert _csp_violations(browser) == []  # the survey pages satisfy the Content Security Policy
