"""Production (DJANGO_DEBUG=false) serves its own static files: the dashboard's scripts, the admin's CSS, the favicon.

Settings are read once per process, so production runs in subprocesses: ``collectstatic`` into a
temporary STATIC_ROOT, then the real WSGI application (``tformance.wsgi.application``) on a
loopback port, against this run's test database and Redis. The test talks to it over real HTTP:
it logs in through the login form, reads the pages and fetches every static file they name
(the dashboard's Chart.js among them, built by ``make install`` into a git-ignored static folder).
"""

import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from http.client import HTTPConnection
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from tests.support import subprocess_database_url

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"
HASHED = re.compile(r"\.[0-9a-f]{12}\.(js|css|svg)$")  # ManifestStaticFilesStorage names
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

SERVE = """
import sys, threading
from wsgiref.simple_server import make_server
from tformance.wsgi import application
server = make_server("127.0.0.1", 0, application)
print(server.server_port, flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()  # serve until the test closes our stdin
"""


def _production_env(static_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tformance.settings",
        DJANGO_DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL=subprocess_database_url(),
        REDIS_URL=settings.REDIS_URL,
        # This run's cache prefix: the autouse fixture clears it, the dev server never sees it.
        CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback: no TLS proxy in front
        STATIC_ROOT=str(static_root),
    )
    return env


class _Assets(HTMLParser):
    """The ``<script src>`` and ``<link href>`` of a page, with the link's rel."""

    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.links.append((attrs.get("rel") or "", attrs["href"]))


class _Browser:
    """Plain HTTP to the subprocess: cookies kept by hand (production marks them Secure), no redirects followed."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        connection = HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        content = response.read()
        connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response, content

    def get(self, path: str, **headers):
        return self.request("GET", path, headers=headers)


def _static_assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    urls = parser.scripts + [href for _, href in parser.links]
    return [url for url in urls if urlsplit(url).path.startswith("/" + settings.STATIC_URL.lstrip("/"))]


def _check_asset(browser: _Browser, url: str, report: list[str]) -> bytes:
    response, content = browser.get(url)
    suffix = Path(urlsplit(url).path).suffix
    report.append(f"{response.status} {response.getheader('Content-Type')} {url}")
    assert response.status == 200, f"{url}: {response.status}"
    assert response.getheader("Content-Type", "").startswith(CONTENT_TYPES[suffix]), url
    assert content, url
    assert HASHED.search(url), f"{url} is not a hashed (manifest) name"
    return content


@pytest.fixture
def production_server(tmp_path, transactional_db):
    """``collectstatic`` then the WSGI app, both with DJANGO_DEBUG=false; yields (port, stderr file)."""
    chartjs = REPO / "apps/metrics/static/vendor/chartjs/chart.umd.min.js"
    assert chartjs.is_file(), f"{chartjs} is missing: `make install` builds it (npm ci, needs Node.js with npm)"
    env = _production_env(tmp_path / "static")
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collect.returncode == 0, collect.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists(), collect.stdout + collect.stderr

    stderr_path = tmp_path / "server.stderr"
    with stderr_path.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        line = server.stdout.readline()
        assert line.strip().isdigit(), f"the server did not start:\n{stderr_path.read_text()}"
        yield int(line), stderr_path
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_production_serves_every_asset_the_dashboard_and_the_admin_name(production_server):
    port, stderr_path = production_server
    user = UserFactory()
    # The tests' MD5 hasher is not among the subprocess's PASSWORD_HASHERS: store a default-hasher hash.
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    team = TeamFactory()
    MembershipFactory(user=user, team=team)
    browser = _Browser(port)
    report: list[str] = []
    try:
        # Log in through the form, as a browser does.
        response, content = browser.get("/accounts/login/")
        assert response.status == 200, content[:2000]
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content).group(1).decode()
        body = f"csrfmiddlewaretoken={quote(token)}&username={quote(user.username)}&password={quote(PASSWORD)}"
        response, content = browser.request("POST", "/accounts/login/", body=body)
        assert response.status == 302, content[:2000]
        assert "sessionid" in browser.cookies

        # The dashboard: every script and link under STATIC_URL answers, hashed and typed.
        response, content = browser.get(f"/t/{team.slug}/")
        assert response.status == 200, content[:2000]
        dashboard_assets = _static_assets(content.decode())
        for url in dashboard_assets:
            _check_asset(browser, url, report)
        names = {re.sub(r"\.[0-9a-f]{12}(?=\.)", "", urlsplit(url).path) for url in dashboard_assets}
        # Chart.js too: built into a git-ignored static folder by `make install`, collected and served like ours.
        expected = {
            "/static/metrics/charts.js",
            "/static/metrics/dashboard.js",
            "/static/vendor/chartjs/chart.umd.min.js",
        }
        assert expected <= names, dashboard_assets
        chartjs = next(url for url in dashboard_assets if "/vendor/chartjs/" in url)
        _, library = browser.get(chartjs)
        assert b"Chart.js v4." in library[:200], library[:200]  # the library itself (its banner), not a stub

        # Served compressed when the client accepts it (CompressedManifestStaticFilesStorage).
        charts = next(url for url in dashboard_assets if "/metrics/charts." in url)
        response, _ = browser.get(charts, **{"Accept-Encoding": "gzip"})
        assert response.status == 200
        assert response.getheader("Content-Encoding") == "gzip"

        # The favicon: linked from base.html, and /favicon.ico (asked for regardless) leads to it.
        icons = [href for rel, href in _link_rels(content.decode()) if "icon" in rel.split()]
        assert len(icons) == 1, icons
        response, _ = browser.get("/favicon.ico")
        assert response.status in (301, 302), response.status
        assert urlsplit(response.getheader("Location")).path == icons[0]

        # The admin login page and its stylesheets, with the files those stylesheets name.
        browser.cookies.clear()
        response, content = browser.get("/admin/login/")
        assert response.status == 200, content[:2000]
        admin_assets = _static_assets(content.decode())
        stylesheets = [url for url in admin_assets if url.endswith(".css")]
        assert stylesheets, admin_assets
        for url in admin_assets:
            css = _check_asset(browser, url, report)
            if url.endswith(".css"):
                for ref in re.findall(rb"url\(['\"]?([^'\")]+)['\"]?\)", css):
                    ref = ref.decode()
                    if not ref.startswith("data:"):
                        _check_asset(browser, urljoin(url, ref), report)
    except AssertionError:
        print("\n".join(report))
        print("--- server stderr ---\n" + stderr_path.read_text())
        raise
    print("\n".join(report))


def _link_rels(html: str) -> list[tuple[str, str]]:
    parser = _Assets()
    parser.feed(html)
    return parser.links
