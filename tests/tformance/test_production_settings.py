"""Production settings that hold: check --deploy is clean, weak keys are refused, no embedded server, HTTPS behind
a proxy from the environment, the Content Security Policy, and the 404/500 pages in the app's layout."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.urls import path, reverse

import tformance.urls
from apps.teams.factories import MembershipFactory, UserFactory
from tests.support import subprocess_database_url

REPO = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3y-" + "Zq8#vL2@pW9!rT5&xN1*" * 3  # 64 characters, 22 distinct
# The production environment the README documents (a proxy terminating HTTPS in front of gunicorn).
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "tformance.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://tformance.example.com",
    "DJANGO_BEHIND_PROXY": "true",
}
OURS = {
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DJANGO_DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DJANGO_BEHIND_PROXY",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
}


def _run(code: str, **env_vars) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    env.update(DJANGO_SETTINGS_MODULE="tformance.settings", **env_vars)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _production(**overrides) -> dict:
    return {
        **PRODUCTION_ENV,
        "DATABASE_URL": "postgresql://postgres@db.example:5432/tformance",
        "REDIS_URL": "redis://cache.example:6379/0",
        **overrides,
    }


def test_check_deploy_is_clean_with_the_documented_production_environment(db):
    code = (
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('check', '--deploy', '--fail-level', 'WARNING')"
    )
    from django.conf import settings

    # settings.REDIS_URL, not the environment's: under `make test` no REDIS_URL is set (the embedded Redis)
    result = _run(code, **_production(DATABASE_URL=subprocess_database_url(), REDIS_URL=settings.REDIS_URL))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr, (result.stdout, result.stderr)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("s3cr3t", "it has 6 characters, fewer than 50"),
        ("ab" * 40, "it has 2 distinct characters, fewer than 5"),
        ("django-insecure-" + "Zq8#vL2@pW9!rT5&xN1*" * 3, "it starts with 'django-insecure-'"),
    ],
)
def test_production_refuses_a_weak_secret_key_naming_why(key, reason):
    result = _run("import django; django.setup()", **_production(SECRET_KEY=key))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"with a weak SECRET_KEY: {reason}" in result.stderr, result.stderr


def test_production_settings_from_the_environment():
    show = (
        "import json, sys, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
        "'proxy': s.SECURE_PROXY_SSL_HEADER, 'origins': s.CSRF_TRUSTED_ORIGINS, 'redirect': s.SECURE_SSL_REDIRECT,"
        "'hsts': [s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD],"
        "'embedded_imported': 'tformance.embedded' in sys.modules, 'debug': s.DEBUG}))"
    )
    defaults = _run(show, **_production())
    assert defaults.returncode == 0, defaults.stderr
    assert json.loads(defaults.stdout) == {
        "proxy": ["HTTP_X_FORWARDED_PROTO", "https"],
        "origins": ["https://tformance.example.com"],
        "redirect": True,
        "hsts": [31_536_000, True, True],
        "embedded_imported": False,  # production never even imports the embedded servers
        "debug": False,
    }
    changed = _run(
        show,
        **_production(
            DJANGO_BEHIND_PROXY="false",
            SECURE_SSL_REDIRECT="false",
            SECURE_HSTS_SECONDS="0",
            CSRF_TRUSTED_ORIGINS="https://a.example,https://b.example",
        ),
    )
    assert changed.returncode == 0, changed.stderr
    figures = json.loads(changed.stdout)
    assert (figures["proxy"], figures["redirect"], figures["hsts"][0]) == (None, False, 0)
    assert figures["origins"] == ["https://a.example", "https://b.example"]


def test_embedded_servers_refuse_to_start_in_production(monkeypatch, tmp_path):
    from tformance import embedded

    monkeypatch.setenv("DJANGO_DEBUG", "false")
    for start in (embedded.ensure_postgres, embedded.ensure_redis, embedded.redis_url, embedded.postgres_url):
        with pytest.raises(ImproperlyConfigured, match="for development only, and DJANGO_DEBUG is false"):
            start(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing was created, let alone started


# --- error pages and the Content Security Policy, with DEBUG off (as under pytest) ----------------------------


@login_not_required
def _raises(request):
    raise RuntimeError("boom")


urlpatterns = [path("boom/", _raises), *tformance.urls.urlpatterns]


@override_settings(ROOT_URLCONF=__name__)
def test_the_500_page_is_in_the_layout_and_needs_no_database():
    """No ``db`` fixture: a query anywhere in the request, the 500 page's included, would raise here."""
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    assert 'href="/static/teams/base.css"' in page and 'class="brand"' in page
    assert "boom" not in page and "Traceback" not in page
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_the_404_page_is_in_the_layout(client, db):
    member = UserFactory(username="ada")
    client.force_login(member)
    response = client.get("/t/no-such-team/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page and "<code>/t/no-such-team/</code>" in page
    assert 'href="/static/teams/base.css"' in page and "ada" in page  # the layout, with the user's header


def test_every_inline_style_carries_the_nonce_of_the_policy(client, db):
    membership = MembershipFactory(user=UserFactory(username="ada"))
    client.force_login(membership.user)
    response = client.get(reverse("metrics:dashboard", args=[membership.team.slug]))
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    nonce = re.search(r"'nonce-([^']+)'", policy["style-src"]).group(1)
    assert policy["script-src"] == f"'self' 'nonce-{nonce}'"
    assert policy["style-src-attr"] == "'unsafe-inline'" and policy["object-src"] == "'none'"
    tags = re.findall(r"<(?:style|script)\b[^>]*>", response.content.decode())
    inline = [tag for tag in tags if "src=" not in tag]
    assert inline and all(f'nonce="{nonce}"' in tag for tag in inline), tags

    login = Client().get(reverse("login"))  # a page without inline blocks: a policy without a nonce
    assert "nonce" not in login["Content-Security-Policy"]
    assert "<style" not in login.content.decode()
