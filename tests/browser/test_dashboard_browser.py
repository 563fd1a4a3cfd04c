"""The dashboard in a real browser: Debian's headless Chromium, driven by Selenium, against the live server.

Logs in through the login form, opens the dashboard, waits until the three canvases are drawn
(their pixels are read back), checks the cards and the breakdown, narrows the window to a phone's
width (nothing overflows, the charts redraw), and downloads the CSV through the export link.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (Debian: ``apt-get install chromium
chromium-driver``); without them the test skips. Selenium never downloads a driver: both paths are
given. Set ``DASHBOARD_SCREENSHOT=/tmp/dashboard.png`` to keep screenshots (desktop, and ``-phone``).
"""

import datetime as dt
import os
from pathlib import Path

import pytest
import requests
from django.urls import reverse

from apps.metrics.views.params import today_utc
from apps.perflab.datagen import DatasetSpec, generate
from apps.teams.factories import MembershipFactory, UserFactory
from apps.teams.models import Team

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
PASSWORD = "correct-horse-battery"  # UserFactory's
WAIT_SECONDS = 30

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
        reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver):"
        " apt-get install -y chromium chromium-driver",
    ),
]

CANVAS_PIXELS_JS = """
return Array.from(document.querySelectorAll('canvas[data-chart]')).map((canvas) => {
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
  const blank = document.createElement('canvas');
  blank.width = canvas.width;
  blank.height = canvas.height;
  return {
    id: canvas.id,
    state: canvas.dataset.state,
    painted: painted,
    differs_from_blank: canvas.toDataURL() !== blank.toDataURL(),
    backing_width: canvas.width,
    css_width: canvas.clientWidth,
    ratio: window.devicePixelRatio,
  };
});
"""


def _chromium(tmp_path, *, javascript: bool = True):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    return driver


@pytest.fixture
def browser(tmp_path):
    driver = _chromium(tmp_path)
    yield driver
    driver.quit()


@pytest.fixture
def browser_without_javascript(tmp_path):
    driver = _chromium(tmp_path, javascript=False)
    yield driver
    driver.quit()


@pytest.fixture
def dashboard_team(transactional_db):
    """A 12-member team with 90 days of history ending today (the dashboard's default range is the last 30)."""
    spec = DatasetSpec(
        members_per_team=12, prs_per_member=12, days=90, seed=8, end_date=today_utc(), team_slug_prefix="browser"
    )
    team = Team.objects.get(id=generate(spec, progress=False).team_ids[0])
    user = UserFactory(username="carol")
    MembershipFactory(user=user, team=team)
    return team


def _wait(driver, condition, message):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(condition, message)


def _charts_drawn(driver):
    charts = driver.execute_script(CANVAS_PIXELS_JS)
    return charts if len(charts) == 3 and all(c["state"] == "drawn" for c in charts) else False


def _screenshot(driver, suffix=""):
    target = os.environ.get("DASHBOARD_SCREENSHOT")
    if not target:
        return
    path = Path(target)
    path = path.with_name(f"{path.stem}{suffix}{path.suffix}")
    width = driver.execute_script("return window.innerWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, height + 100)  # the whole page in one picture
    settled = "return Array.from(document.querySelectorAll('canvas[data-chart]')).map((c) => c.dataset.state)"
    _wait(driver, lambda d: set(d.execute_script(settled)) <= {"drawn", "empty"}, "charts redrawn for the screenshot")
    driver.save_screenshot(str(path))


def _javascript_errors(driver):
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"  # a missing favicon too: the site has one
    ]


@pytest.mark.django_db(transaction=True)
def test_dashboard_in_chromium(live_server, browser, dashboard_team):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    team = dashboard_team
    dashboard_path = reverse("metrics:dashboard", args=[team.slug])

    # log in through the form; the login page sends us on to the dashboard
    browser.get(f"{live_server.url}{reverse('login')}?next={dashboard_path}")
    browser.find_element(By.ID, "id_username").send_keys("carol")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form input[type=submit]").click()
    _wait(browser, lambda d: d.current_url.split("?")[0].endswith(dashboard_path), "the dashboard after login")
    assert team.name in browser.find_element(By.TAG_NAME, "h1").text

    # the three charts are fetched and drawn: their pixels are painted
    charts = _wait(browser, _charts_drawn, "all three charts drawn")
    assert [c["id"] for c in charts] == ["chart-cycle-time", "chart-ai-share", "chart-pr-sizes"]
    for chart in charts:
        assert chart["painted"] > 2000, chart
        assert chart["differs_from_blank"], chart
        assert chart["backing_width"] == round(chart["css_width"] * chart["ratio"]), chart  # devicePixelRatio-aware
    assert all(s.text == "" for s in browser.find_elements(By.CSS_SELECTOR, ".chart-status"))  # no error shown

    # the cards and the breakdown
    cards = browser.find_elements(By.CSS_SELECTOR, "#key-metrics .kpi")
    assert len(cards) == 5
    prs_merged = browser.find_element(By.CSS_SELECTOR, '.kpi[data-metric="prs_merged"] .kpi-value').text
    assert int(prs_merged) > 0
    rows = browser.find_elements(By.CSS_SELECTOR, "#team-breakdown tbody tr")
    assert len(rows) >= 10  # active members plus anyone who merged
    assert rows[0].find_element(By.CSS_SELECTOR, ".avatar").text.strip()
    _screenshot(browser)

    # hovering a chart shows a tooltip (a redraw) and breaks nothing
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "chart-cycle-time")).perform()
    assert _charts_drawn(browser)

    # a phone's width: nothing sticks out sideways, the charts redraw narrower
    browser.set_window_size(390, 900)
    _wait(browser, lambda d: d.execute_script("return window.innerWidth") <= 400, "a narrow window")
    narrow = _wait(
        browser,
        lambda d: (c := _charts_drawn(d)) and all(chart["css_width"] < 400 for chart in c) and c,
        "charts redrawn at phone width",
    )
    for chart in narrow:
        assert chart["painted"] > 1000 and chart["backing_width"] == round(chart["css_width"] * chart["ratio"])
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone's screen"
    _screenshot(browser, "-phone")

    # a range without data: every chart says so instead of drawing axes
    browser.get(f"{live_server.url}{dashboard_path}?start=2020-01-01&end=2020-01-31")
    empty = _wait(
        browser,
        lambda d: (c := d.execute_script(CANVAS_PIXELS_JS)) and all(chart["state"] == "empty" for chart in c) and c,
        "the empty state on all three charts",
    )
    assert len(empty) == 3 and all(chart["painted"] > 0 for chart in empty)  # the message is drawn
    assert browser.find_element(By.CSS_SELECTOR, '.kpi[data-metric="prs_merged"] .kpi-value').text == "0"
    _screenshot(browser, "-empty")

    assert _javascript_errors(browser) == []
    browser.get(f"{live_server.url}{dashboard_path}")

    # the CSV export: the link keeps the range (PRs merged in it); the download uses the browser's session
    link = browser.find_element(By.ID, "export-link").get_attribute("href")
    start = today_utc() - dt.timedelta(days=29)
    expected = f"{reverse('metrics:pr_list_export', args=[team.slug])}?dates=merged&start={start}&end={today_utc()}"
    assert link == f"{live_server.url}{expected}"
    cookies = {cookie["name"]: cookie["value"] for cookie in browser.get_cookies()}
    response = requests.get(link, cookies=cookies, timeout=WAIT_SECONDS, allow_redirects=False)
    if response.status_code != 501:  # 501: the export view is not written yet; then only the link is checked
        assert response.status_code == 200, response.text[:500]
        assert response.headers["Content-Type"].startswith("text/csv")
        lines = response.content.decode("utf-8").splitlines()
        assert len(lines) > 1  # a header and the range's PRs


def _log_in(browser, live_server, next_path):
    from selenium.webdriver.common.by import By

    browser.get(f"{live_server.url}{reverse('login')}?next={next_path}")
    browser.find_element(By.ID, "id_username").send_keys("carol")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form input[type=submit]").click()
    _wait(browser, lambda d: d.current_url.split("?")[0].endswith(next_path), "the page after login")


@pytest.mark.django_db(transaction=True)
def test_without_javascript_each_chart_is_a_table(live_server, browser_without_javascript, dashboard_team):
    """JavaScript off: no "Loading…" forever; each chart's figures as a table, the same as its JSON."""
    from selenium.webdriver.common.by import By

    browser = browser_without_javascript
    team = dashboard_team
    dashboard_path = reverse("metrics:dashboard", args=[team.slug])
    _log_in(browser, live_server, dashboard_path)
    assert "Loading" not in browser.find_element(By.TAG_NAME, "body").text
    frames = browser.find_elements(By.CSS_SELECTOR, "iframe.chart-fallback")
    assert len(frames) == 3  # the <noscript> content is live markup when scripts are off
    cookies = {cookie["name"]: cookie["value"] for cookie in browser.get_cookies()}
    for frame, chart in zip(frames, ("chart_cycle_time", "chart_ai_share", "chart_pr_sizes"), strict=True):
        figures = requests.get(
            f"{live_server.url}{reverse(f'metrics:{chart}', args=[team.slug])}", cookies=cookies, timeout=WAIT_SECONDS
        ).json()
        browser.switch_to.frame(frame)
        rows = browser.find_elements(By.CSS_SELECTOR, "table.chart-table tbody tr")
        labels = [row.find_element(By.TAG_NAME, "th").text for row in rows]
        first_values = [row.find_elements(By.TAG_NAME, "td")[0].text for row in rows]
        browser.switch_to.default_content()
        assert labels == figures["labels"]
        assert first_values == ["–" if v is None else str(v) for v in figures["series"][0]["values"]]
        assert frame.size["height"] > 100  # shown in the chart's box, not collapsed
