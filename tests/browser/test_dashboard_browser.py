"""The dashboard in a real browser: Debian's headless Chromium, driven by Selenium, against the live server.

Logs in through the login form, opens the dashboard, waits until Chart.js has drawn the three
canvases (their pixels are read back; each chart holds its JSON endpoint's figures, its legend and
axes with units), hovers a point of every chart until Chart.js shows its tooltip, checks the cards
and the breakdown, narrows the window to a phone's width (nothing overflows, the charts redraw),
checks that nothing was loaded from outside the app, that a range without data says so, and
downloads the CSV through the export link. With JavaScript off, each chart is a table.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (Debian: ``apt-get install chromium
chromium-driver``); without them the test skips. Selenium never downloads a driver: both paths are
given. Set ``DASHBOARD_SCREENSHOT=/tmp/dashboard.png`` to keep screenshots (desktop, and ``-phone``).
"""

import datetime as dt
import os
from pathlib import Path

import pytest
import requests
from django.contrib.staticfiles import finders
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

CHARTJS = "vendor/chartjs/chart.umd.min.js"  # built by `make install` from package-lock.json

# canvas id -> (JSON endpoint, Chart.js type, legend, value axis title, what every value tick ends with)
CHARTS = {
    "chart-cycle-time": (
        "metrics:chart_cycle_time", "line", ["Median cycle time", "Avg cycle time"], "Median cycle time (hours)", " h",
    ),
    "chart-ai-share": ("metrics:chart_ai_share", "line", ["AI-assisted"], "AI-assisted (%)", "%"),
    "chart-pr-sizes": ("metrics:chart_pr_sizes", "bar", ["PRs merged"], "PRs merged", ""),
    "chart-copilot-users": ("metrics:chart_copilot_users", "line", ["Copilot users"], "Copilot users", ""),
    "chart-copilot-acceptance": (
        "metrics:chart_copilot_acceptance", "line", ["Acceptance rate"], "Acceptance rate (%)", "%",
    ),
}
# what a tooltip's value ends with, and the words of the line under it
TOOLTIPS = {
    "chart-cycle-time": (" h", "merged"),
    "chart-ai-share": ("%", "answered"),
    "chart-copilot-users": ("", "accepted"),
    "chart-copilot-acceptance": ("%", "shown"),
}

CANVAS_PIXELS_JS = """
return Array.from(document.querySelectorAll('canvas[data-chart]')).map((canvas) => {
  const chart = window.Chart && window.Chart.getChart(canvas);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
  const blank = document.createElement('canvas');
  blank.width = canvas.width;
  blank.height = canvas.height;
  return {
    id: canvas.id,
    state: canvas.dataset.state,
    has_chart: Boolean(chart),
    animating: Boolean(chart && window.Chart.animator.running(chart)),
    painted: painted,
    differs_from_blank: canvas.toDataURL() !== blank.toDataURL(),
    backing_width: canvas.width,
    css_width: canvas.clientWidth,
    ratio: window.devicePixelRatio,
  };
});
"""


# What the Chart.js instance on a canvas holds.
CHART_JS = """
const chart = Chart.getChart(arguments[0]);
return {
  type: chart.config.type,
  labels: chart.data.labels,
  data: chart.data.datasets.map((dataset) => dataset.data),
  legend: chart.legend.legendItems.map((item) => item.text),
  x_title: chart.options.scales.x.title.text,
  y_title: chart.options.scales.y.title.text,
  y_ticks: chart.scales.y.ticks.map((tick) => String(tick.label)),
  y_max: chart.scales.y.max,
};
"""

# The last point of the first dataset with a value above 0, in CSS pixels from the canvas's top left corner.
POINT_JS = """
const chart = Chart.getChart(arguments[0]);
arguments[0].scrollIntoView({block: 'center'});
const values = chart.data.datasets[0].data;
let index = values.length - 1;
while (index >= 0 && !(typeof values[index] === 'number' && values[index] > 0)) index -= 1;
const element = chart.getDatasetMeta(0).data[index];
const rect = arguments[0].getBoundingClientRect();
const y = chart.config.type === 'bar' ? (element.y + element.base) / 2 : element.y;
return {index: index, x: element.x, y: y, width: rect.width, height: rect.height};
"""

# Chart.js's tooltip once it is shown (null before): its lines and the point it is for.
TOOLTIP_JS = """
const chart = Chart.getChart(arguments[0]);
const tooltip = chart.tooltip;
if (!tooltip || !(tooltip.opacity > 0) || !chart.getActiveElements().length || !tooltip.dataPoints.length) return null;
return {
  title: tooltip.title,
  body: tooltip.body.flatMap((part) => part.lines),
  after: tooltip.afterBody,
  index: tooltip.dataPoints[0].dataIndex,
};
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
    """Every canvas once Chart.js has drawn it and finished animating (else False)."""
    charts = driver.execute_script(CANVAS_PIXELS_JS)
    settled = all(c["state"] == "drawn" and c["has_chart"] and not c["animating"] for c in charts)
    return charts if len(charts) == len(CHARTS) and settled else False


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
    """The console's errors since the last call (reading the log empties it; every entry is kept for the CSP check)."""
    entries = driver.get_log("browser")
    driver.console_entries = [*getattr(driver, "console_entries", []), *entries]
    return [
        entry["message"]
        for entry in entries
        if entry["level"] == "SEVERE"  # a missing favicon too: the site has one
    ]


def _csp_violations(driver):
    """Every console message of this browser so far that reports a Content Security Policy violation."""
    _javascript_errors(driver)
    return [
        entry["message"]
        for entry in driver.console_entries
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def _until(driver, condition, message):
    """``_wait``, retrying when the driver itself errs mid-check (a redraw or a navigation racing the script)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(condition, message)


def _hover_a_point(driver, canvas_id):
    """Move the mouse onto the last non-zero point (a line's dot, the middle of a bar) of a chart's first dataset.

    The point comes from Chart.js (``getDatasetMeta(0).data[i]``, in CSS pixels from the canvas's corner);
    Selenium's offsets are from the element's centre. Returns (index, tooltip) once Chart.js shows the tooltip
    for that point; until then each poll moves the mouse again (a pixel aside every other time, so that the
    browser sends a new mousemove), in case a redraw or a scroll moved the point under it.
    """
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.ID, canvas_id)
    attempts = []

    def shown(d):
        point = d.execute_script(POINT_JS, canvas)
        assert point["index"] >= 0, point
        nudge = len(attempts) % 2
        attempts.append(point)
        x, y = round(point["x"] - point["width"] / 2) + nudge, round(point["y"] - point["height"] / 2)
        ActionChains(d).move_to_element_with_offset(canvas, x, y).perform()
        tooltip = d.execute_script(TOOLTIP_JS, canvas)
        return (point["index"], tooltip) if tooltip and tooltip["index"] == point["index"] else False

    return _until(driver, shown, f"a tooltip on {canvas_id}")


@pytest.mark.django_db(transaction=True)
def test_dashboard_in_chromium(live_server, browser, dashboard_team):
    from selenium.webdriver.common.by import By

    assert finders.find(CHARTJS), f"{CHARTJS} is missing: `make install` builds it (npm ci, needs Node.js with npm)"
    team = dashboard_team
    dashboard_path = reverse("metrics:dashboard", args=[team.slug])

    # log in through the form; the login page sends us on to the dashboard
    browser.get(f"{live_server.url}{reverse('login')}?next={dashboard_path}")
    browser.find_element(By.ID, "id_username").send_keys("carol")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form input[type=submit]").click()
    _wait(browser, lambda d: d.current_url.split("?")[0].endswith(dashboard_path), "the dashboard after login")
    assert team.name in browser.find_element(By.TAG_NAME, "h1").text

    # the five charts are fetched and drawn by Chart.js: their pixels are painted
    charts = _until(browser, _charts_drawn, "every chart drawn")
    assert [c["id"] for c in charts] == list(CHARTS)
    for chart in charts:
        assert chart["painted"] > 2000, chart
        assert chart["differs_from_blank"], chart
        assert abs(chart["backing_width"] - chart["css_width"] * chart["ratio"]) <= 1, chart  # devicePixelRatio-aware
    assert all(s.text == "" for s in browser.find_elements(By.CSS_SELECTOR, ".chart-status"))  # no error shown
    assert browser.execute_script("return window.Chart.version").startswith("4.")

    # each chart holds its endpoint's figures, with the library's legend and unit-bearing axes
    cookies = {cookie["name"]: cookie["value"] for cookie in browser.get_cookies()}
    start, end = today_utc() - dt.timedelta(days=29), today_utc()
    for canvas_id, (url_name, kind, legend, y_title, tick_suffix) in CHARTS.items():
        figures = requests.get(
            f"{live_server.url}{reverse(url_name, args=[team.slug])}?start={start}&end={end}",
            cookies=cookies,
            timeout=WAIT_SECONDS,
        ).json()
        chart = browser.execute_script(CHART_JS, browser.find_element(By.ID, canvas_id))
        assert chart["type"] == kind, chart
        assert chart["labels"] == figures["labels"], canvas_id
        assert chart["data"] == [serie["values"] for serie in figures["series"]], canvas_id
        assert chart["legend"] == legend, chart
        assert chart["y_title"] == y_title and chart["x_title"], chart
        assert chart["y_ticks"] and all(tick.endswith(tick_suffix) for tick in chart["y_ticks"]), chart
    assert browser.execute_script(CHART_JS, browser.find_element(By.ID, "chart-ai-share"))["y_max"] == 100

    # the cards, Copilot adoption, AI impact and the breakdown
    cards = browser.find_elements(By.CSS_SELECTOR, "#key-metrics .kpi")
    assert len(cards) == 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "#copilot-cards .kpi")) == 4
    users = browser.find_element(By.CSS_SELECTOR, '#copilot-cards .kpi[data-metric="active_users"] .kpi-value').text
    assert users.split(" of ")[0].isdigit() and int(users.split(" of ")[0]) > 0, users
    assert len(browser.find_elements(By.CSS_SELECTOR, "#ai-impact tbody tr")) == 3
    assert browser.find_elements(By.CSS_SELECTOR, "#definitions dt")
    prs_merged = browser.find_element(By.CSS_SELECTOR, '.kpi[data-metric="prs_merged"] .kpi-value').text
    assert int(prs_merged) > 0
    rows = browser.find_elements(By.CSS_SELECTOR, "#team-breakdown tbody tr")
    assert len(rows) >= 10  # active members plus anyone who merged
    assert rows[0].find_element(By.CSS_SELECTOR, ".avatar").text.strip()
    _screenshot(browser)

    # hovering a point of each chart shows Chart.js's tooltip for that point, with the unit
    for canvas_id in CHARTS:
        index, tooltip = _hover_a_point(browser, canvas_id)
        assert tooltip["index"] == index, tooltip
        body = " ".join(tooltip["body"])
        if canvas_id == "chart-pr-sizes":
            assert "(" in tooltip["title"][0] and body.startswith("PRs merged: "), tooltip  # "S (10-49 lines)"
        else:
            suffix, after = TOOLTIPS[canvas_id]
            assert tooltip["title"][0].startswith("Week of "), tooltip
            assert body.endswith(suffix) and body[-len(suffix) - 1 if suffix else -1].isdigit(), tooltip
            assert tooltip["after"] and after in tooltip["after"][0], tooltip
    _until(browser, _charts_drawn, "the charts settled after hovering")  # hovering broke nothing

    # a phone's width: nothing sticks out sideways, the charts redraw narrower
    browser.set_window_size(390, 900)
    _wait(browser, lambda d: d.execute_script("return window.innerWidth") <= 400, "a narrow window")
    narrow = _until(
        browser,
        lambda d: (
            (c := _charts_drawn(d))
            and all(ch["css_width"] < 400 and abs(ch["backing_width"] - ch["css_width"] * ch["ratio"]) <= 1 for ch in c)
            and c
        ),
        "charts redrawn at phone width",
    )
    for chart in narrow:
        assert chart["painted"] > 1000, chart
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone's screen"
    _screenshot(browser, "-phone")

    # nothing came from outside the app (no CDN): every resource the page loaded is the live server's
    resources = browser.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert any("/static/vendor/chartjs/chart.umd.min.js" in url for url in resources), resources
    assert all(url.startswith(live_server.url) for url in resources), resources

    # a range without data: every chart says so instead of drawing axes
    browser.get(f"{live_server.url}{dashboard_path}?start=2020-01-01&end=2020-01-31")
    empty = _until(
        browser,
        lambda d: (c := d.execute_script(CANVAS_PIXELS_JS)) and all(chart["state"] == "empty" for chart in c) and c,
        "the empty state on every chart",
    )
    assert len(empty) == len(CHARTS) and not any(chart["has_chart"] for chart in empty)
    statuses = [s.text for s in browser.find_elements(By.CSS_SELECTOR, ".chart-status")]
    assert statuses == ["No data in this range"] * len(CHARTS), statuses
    assert browser.find_element(By.CSS_SELECTOR, '.kpi[data-metric="prs_merged"] .kpi-value').text == "0"
    _screenshot(browser, "-empty")

    assert _javascript_errors(browser) == []
    assert _csp_violations(browser) == []  # the policy is on (every mode): charts, cards and styles all satisfy it
    browser.get(f"{live_server.url}{dashboard_path}")

    # the CSV export: the link keeps the range (PRs merged in it); the download uses the browser's session
    link = browser.find_element(By.ID, "export-link").get_attribute("href")
    expected = f"{reverse('metrics:pr_list_export', args=[team.slug])}?dates=merged&start={start}&end={end}"
    assert link == f"{live_server.url}{expected}"
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
    assert len(frames) == len(CHARTS)  # the <noscript> content is live markup when scripts are off
    cookies = {cookie["name"]: cookie["value"] for cookie in browser.get_cookies()}
    for frame, (url_name, *_) in zip(frames, CHARTS.values(), strict=True):
        figures = requests.get(
            f"{live_server.url}{reverse(url_name, args=[team.slug])}", cookies=cookies, timeout=WAIT_SECONDS
        ).json()
        browser.switch_to.frame(frame)
        rows = browser.find_elements(By.CSS_SELECTOR, "table.chart-table tbody tr")
        labels = [row.find_element(By.TAG_NAME, "th").text for row in rows]
        first_values = [row.find_elements(By.TAG_NAME, "td")[0].text for row in rows]
        browser.switch_to.default_content()
        assert labels == figures["labels"]
        assert first_values == ["–" if v is None else str(v) for v in figures["series"][0]["values"]]
        assert frame.size["height"] > 100  # shown in the chart's box, not collapsed
