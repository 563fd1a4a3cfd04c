"""The Content Security Policy in a real browser: the pages the dashboard test does not open satisfy it too.

The member page, the PR list, the team settings page, a 404, the admin (where a lockout is lifted) and the
lockout page itself, each loaded in headless Chromium with the policy on; Chromium reports a violation on its
console ("Refused to apply inline style ... Content Security Policy"), and none may appear.
"""

import pytest
from django.urls import reverse

from apps.metrics.models import TeamMember
from apps.teams.models import Membership
from tests.browser import test_dashboard_browser as dashboard_browser
from tests.browser.test_dashboard_browser import _csp_violations, _log_in, _wait

pytestmark = dashboard_browser.pytestmark  # browser; skipped without Debian's chromium and chromedriver
browser = dashboard_browser.browser
dashboard_team = dashboard_browser.dashboard_team


@pytest.mark.django_db(transaction=True)
def test_the_other_pages_satisfy_the_policy(live_server, browser, dashboard_team):
    from selenium.webdriver.common.by import By

    team = dashboard_team
    membership = Membership.objects.get(team=team, user__username="carol")
    membership.role = Membership.Role.ADMIN  # for the settings page
    membership.save()
    membership.user.is_staff = membership.user.is_superuser = True  # for the admin
    membership.user.save()
    member = TeamMember.objects.filter(team=team).order_by("id").first()

    _log_in(browser, live_server, reverse("metrics:dashboard", args=[team.slug]))
    pages = {
        reverse("metrics:member", args=[team.slug, member.id]): member.display_name,
        reverse("metrics:pr_list", args=[team.slug]): "pull request",
        reverse("teams:settings", args=[team.slug]): "settings",
        "/t/no-such-team/": "Page not found",
        reverse("admin:index"): "Site administration",
        reverse("admin:axes_accessattempt_changelist"): "access attempt",
    }
    for path, text in pages.items():
        browser.get(f"{live_server.url}{path}")
        _wait(browser, lambda d, text=text: text.lower() in d.find_element(By.TAG_NAME, "body").text.lower(), path)
        assert _csp_violations(browser) == [], path

    # the lockout page (axes), after five wrong passwords in this browser
    browser.delete_all_cookies()
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    for attempt in range(5):
        browser.get(f"{live_server.url}{reverse('login')}")
        browser.find_element(By.ID, "id_username").send_keys("carol")
        browser.find_element(By.ID, "id_password").send_keys("not-the-password")
        # wait for the answer to each POST (the old page marked, as _submit does): navigating to the login page
        # again before it came back cancelled the submission, and only four failures reached axes (a CI failure)
        browser.execute_script("window.tformanceOldPage = true;")
        browser.find_element(By.CSS_SELECTOR, "form input[type=submit]").click()
        WebDriverWait(browser, dashboard_browser.WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return !window.tformanceOldPage && document.readyState === 'complete';"),
            f"the answer to wrong password {attempt + 1}",
        )
    _wait(browser, lambda d: d.find_elements(By.ID, "lockout-message"), "the lockout page")
    assert _csp_violations(browser) == []
