"""Login throttling (django-axes, database handler): 5 failures lock an account, and separately an address.

Locked out, the login page answers 429 in the app's layout and the password is not checked (no user is even
read); a success before the limit clears the count; the admin (or ``axes_reset``) unlocks. Behind the proxy the
address is the right-most X-Forwarded-For entry, and only then is the header read at all.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.teams.factories import UserFactory

PASSWORD = "correct-horse-battery"  # UserFactory's
LOCKED = "Too many failed logins"
REPO = Path(__file__).resolve().parents[2]


def _log_in(client, username, password, **meta):
    return client.post(reverse("login"), {"username": username, "password": password}, **meta)


def _fail(client, username, times, **meta):
    return [_log_in(client, username, "wrong-password", **meta).status_code for _ in range(times)]


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


def test_the_fifth_failure_locks_and_the_right_password_is_then_refused_unchecked(client, alice):
    assert _fail(client, "alice", 4) == [200] * 4  # the login form again, with its error
    fifth = _log_in(client, "alice", "wrong-password")
    assert fifth.status_code == 429

    with CaptureQueriesContext(connection) as queries:
        sixth = _log_in(client, "alice", PASSWORD)
    assert sixth.status_code == 429
    page = sixth.content.decode()
    assert LOCKED in page and "after 5 failures" in page and "<strong>alice</strong>" in page
    assert "The password was not checked" in page
    assert 'href="/static/teams/base.css"' in page  # the app's layout
    assert not _logged_in(client)
    # the password was never checked: the user was not even read
    assert not [q["sql"] for q in queries.captured_queries if '"auth_user"' in q["sql"]]


def test_a_success_before_the_limit_clears_the_count(client, alice):
    assert _fail(client, "alice", 4) == [200] * 4
    assert _log_in(client, "alice", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    assert _fail(client, "alice", 4) == [200] * 4  # 4 again, not 8: the success reset the count
    assert _log_in(client, "alice", PASSWORD).status_code == 302
    assert _logged_in(client)


def test_one_address_is_limited_across_usernames(client, alice, bob):
    carol = UserFactory(username="carol")
    assert _fail(client, "alice", 3) + _fail(client, "bob", 1) == [200] * 4
    assert _fail(client, "bob", 1) == [429]  # the address's fifth failure

    assert _log_in(client, carol.username, PASSWORD).status_code == 429  # anyone, from this address
    elsewhere = _log_in(client, "alice", PASSWORD, REMOTE_ADDR="10.0.0.9")  # alice's own count is 3
    assert elsewhere.status_code == 302


def test_one_account_is_limited_across_addresses(client, alice, bob):
    codes = [_log_in(client, "alice", "nope", REMOTE_ADDR=f"10.0.1.{n}").status_code for n in range(1, 6)]
    assert codes == [200, 200, 200, 200, 429]
    assert _log_in(client, "alice", PASSWORD, REMOTE_ADDR="10.0.1.99").status_code == 429
    assert _log_in(client, "bob", PASSWORD, REMOTE_ADDR="10.0.1.99").status_code == 302


def test_the_admin_unlocks_by_deleting_the_access_attempt(client, alice):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert _fail(client, "alice", 5)[-1] == 429
    attempt = AccessAttempt.objects.get(username="alice")
    assert attempt.failures_since_start == 5

    staff = client.__class__()
    staff.force_login(admin)
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert "alice" in staff.get(changelist).content.decode()
    confirm = {"action": "delete_selected", "_selected_action": [attempt.pk]}
    assert staff.post(changelist, confirm).status_code == 200  # the confirmation page
    assert staff.post(changelist, {**confirm, "post": "yes"}).status_code == 302
    assert not AccessAttempt.objects.exists()

    assert _log_in(client, "alice", PASSWORD).status_code == 302


def test_axes_reset_unlocks_from_the_command_line(client, alice):
    assert _fail(client, "alice", 5)[-1] == 429
    call_command("axes_reset_username", "alice")
    assert not AccessAttempt.objects.filter(username="alice").exists()
    assert _log_in(client, "alice", PASSWORD).status_code == 302


def test_without_the_proxy_flag_a_forwarded_address_is_ignored(client, alice):
    spoofed = [_log_in(client, "x", "nope", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(1, 6)]
    assert spoofed == [200, 200, 200, 200, 429]  # one address (REMOTE_ADDR) whatever the header says
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


@pytest.fixture(scope="module")
def proxy_ip_settings():
    """The client-address settings that production computes with DJANGO_BEHIND_PROXY=true (read in a subprocess)."""
    names = ["AXES_IPWARE_META_PRECEDENCE_ORDER", "AXES_IPWARE_PROXY_COUNT", "IPWARE_STRICT"]
    show = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tformance.settings", "DJANGO_BEHIND_PROXY": "true"}
    env.setdefault("DATABASE_URL", "postgresql://postgres@db.example:5432/unused")
    env.setdefault("REDIS_URL", "redis://cache.example:6379/0")
    result = subprocess.run(
        [sys.executable, "-c", show], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_behind_the_proxy_the_address_is_the_one_the_proxy_appended(client, alice, settings, proxy_ip_settings):
    for name, value in proxy_ip_settings.items():
        setattr(settings, name, tuple(value) if isinstance(value, list) else value)
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every connection comes from the proxy

    # one client, changing the entries it sends itself: still one address
    codes = [
        _log_in(client, "x", "nope", HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, 203.0.113.7", **proxy).status_code
        for n in range(1, 6)
    ]
    assert codes == [200, 200, 200, 200, 429]
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    # another client behind the same proxy is not locked with it
    other = _log_in(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy)
    assert other.status_code == 302
