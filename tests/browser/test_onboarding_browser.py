"""Onboarding in a real browser: sign in, create a team against the loopback GitHub stand-in, sync, see the dashboard.

Issue 12's path, end to end, in headless Chromium against the live server: the login form, "Create a
team" on the home page, a wrong token refused on the form (no team created), the right one ("acme",
"demo_token") landing on the team's settings, "List from GitHub", one repository ticked and saved,
"Sync now", then the dashboard: PRs merged > 0 and the breakdown listing the synced logins.

The stand-in (``GitHubStub``) serves on a free loopback port in this process, and the live server runs
in this process too, so ``settings.GITHUB_API_URL`` reaches the app. There is no worker: Celery runs
tasks eagerly (``app.conf.task_always_eager``, restored afterwards), so "Sync now" syncs in the request.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``; without them the test skips (see
``test_dashboard_browser``).
"""

import datetime as dt

import pytest
from django.urls import reverse

from apps.metrics.models import PullRequest
from apps.teams.factories import UserFactory
from apps.teams.models import Team
from tests.browser import test_dashboard_browser as dashboard_browser
from tests.browser.test_dashboard_browser import PASSWORD, _javascript_errors, _wait

ORGANIZATION = "acme"
TOKEN = "demo_token"  # what `make demo` and github_standin serve

pytestmark = dashboard_browser.pytestmark  # browser; skipped without Debian's chromium and chromedriver
browser = dashboard_browser.browser  # the headless Chromium fixture


@pytest.fixture
def github(start_github):
    """The stand-in organisation "acme" (token "demo_token"), its history ending now; the app points at it."""
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return start_github(TOKEN, ORGANIZATION, members=8, repositories=2, prs_per_repository=40, end=end, days=90)


def _fill(browser, element_id, value):
    from selenium.webdriver.common.by import By

    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def _submit(browser, label):
    """Click the submit button labelled ``label`` and wait until the next page has loaded.

    The old page is marked with a window property that the next page does not have. Polling an element of
    the old page for staleness instead raced the navigation: chromedriver answered "unhandled inspector
    error" when the check landed while the old document was being torn down (a CI failure), so errors
    from the driver during the wait are retried, not raised.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    buttons = [b for b in browser.find_elements(By.CSS_SELECTOR, "button[type=submit]") if b.text.strip() == label]
    assert buttons, f"no {label!r} button on {browser.current_url}"
    browser.execute_script("window.tformanceOldPage = true;")
    buttons[0].click()
    WebDriverWait(browser, dashboard_browser.WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.tformanceOldPage && document.readyState === 'complete';"),
        f"the page after {label!r}",
    )


@pytest.mark.django_db(transaction=True)
def test_create_a_team_connect_the_stand_in_sync_and_see_the_dashboard(live_server, browser, github, eager_celery):
    from selenium.webdriver.common.by import By

    UserFactory(username="dana")
    home = reverse("teams:home")

    # sign in through the login form; the home page offers "Create a team"
    browser.get(f"{live_server.url}{reverse('login')}?next={home}")
    _fill(browser, "id_username", "dana")
    _fill(browser, "id_password", PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form input[type=submit]").click()
    _wait(browser, lambda d: d.current_url.split("?")[0] == f"{live_server.url}{home}", "the home page after login")
    browser.find_element(By.LINK_TEXT, "Create a team").click()
    _wait(browser, lambda d: d.current_url.endswith(reverse("teams:create")), "the create-a-team form")

    # a wrong token: refused on the form, nothing created
    _fill(browser, "id_name", "Acme Platform")
    _fill(browser, "id_organization", ORGANIZATION)
    _fill(browser, "id_token", "ghp_not_the_token")  # well-formed: GitHub (the stand-in) refuses it
    _submit(browser, "Create the team")
    errors = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"), "the refusal on the form")
    assert any(e.text.strip() for e in errors), [e.text for e in errors]
    assert github.requests, "the token was checked with the stand-in"
    assert browser.current_url.endswith(reverse("teams:create"))
    assert not Team.objects.exists()
    # the refusal's page is a 4xx by design: Chromium logs that load, and nothing else may be logged
    logged = _javascript_errors(browser)
    assert all("/teams/new/ - Failed to load resource" in message for message in logged), logged

    # the right one: the team is created and we land on its settings
    _fill(browser, "id_name", "Acme Platform")
    _fill(browser, "id_organization", ORGANIZATION)
    _fill(browser, "id_token", TOKEN)
    _submit(browser, "Create the team")
    _wait(browser, lambda d: "/settings/" in d.current_url, "the team's settings after creating it")
    team = Team.objects.get()
    assert browser.current_url.split("#")[0].split("?")[0].endswith(reverse("teams:settings", args=[team.slug]))

    # "List from GitHub", tick one repository, save
    _submit(browser, "List from GitHub")
    checkboxes = _wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=checkbox][name=track]"), "the repositories"
    )
    assert len(checkboxes) == 2
    for box in checkboxes:  # exactly the first one tracked (the first sync may not have ticked any)
        if box.is_selected() != (box == checkboxes[0]):
            box.click()
    tracked_name = checkboxes[0].get_attribute("value")
    _submit(browser, "Save the tracked repositories")
    _wait(browser, lambda d: "tracked of those listed" in d.find_element(By.TAG_NAME, "body").text, "saved")

    # "Sync now": eager, so the sync is done when the page comes back
    _submit(browser, "Sync now")
    _wait(browser, lambda d: "Sync queued" in d.find_element(By.TAG_NAME, "body").text, "the sync's message")
    assert PullRequest.objects.filter(team=team).count() > 0, tracked_name

    # the dashboard fills with the synced data
    dashboard_path = reverse("metrics:dashboard", args=[team.slug])
    browser.get(f"{live_server.url}{dashboard_path}")
    assert team.name in browser.find_element(By.TAG_NAME, "h1").text
    prs_merged = browser.find_element(By.CSS_SELECTOR, '.kpi[data-metric="prs_merged"] .kpi-value').text
    assert int(prs_merged) > 0
    shown = {e.text.lstrip("@") for e in browser.find_elements(By.CSS_SELECTOR, "#team-breakdown .login")}
    members = {person.login for person in github.organization.members}
    assert shown & members, (shown, members)
    assert _javascript_errors(browser) == []
