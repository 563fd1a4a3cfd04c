"""Invite links: an admin makes one on the settings page; it signs up or joins one person, once, for 7 days.

Used, expired, forged and tampered links are refused with their reason (400 or 410) and write nothing;
of two simultaneous uses exactly one succeeds.
"""

import datetime as dt
import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.teams import invites
from apps.teams.factories import InviteFactory, MembershipFactory, TeamFactory, UserFactory
from apps.teams.models import Invite, Membership

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a-long-unusual-passphrase-42"


@pytest.fixture
def platform():
    return TeamFactory(name="Platform", slug="platform")


@pytest.fixture
def ada(platform):
    return MembershipFactory(user=UserFactory(username="ada"), team=platform, role=Membership.Role.ADMIN).user


@pytest.fixture
def invite(platform, ada):
    return InviteFactory(team=platform, created_by=ada)


def _link(invite_or_id) -> str:
    invite_id = getattr(invite_or_id, "pk", invite_or_id)
    return reverse("teams:invite", args=[invites.invite_token(invite_id)])


def _sign_up(client, url, username="grace", password=PASSWORD, password2=None):
    return client.post(url, {"username": username, "password1": password, "password2": password2 or password})


def _rows():
    """What an invite's use writes: users, memberships, used invites."""
    return (User.objects.count(), Membership.objects.count(), Invite.objects.filter(used_at__isnull=False).count())


# --- making one ------------------------------------------------------------------------------


def test_an_admin_creates_an_invite_and_sees_its_link(client, platform, ada):
    client.force_login(ada)
    response = client.post(reverse("teams:create_invite", args=["platform"]), {"email": "grace@example.com"})
    assert response.status_code == 302 and response["Location"].endswith("#invites")
    invite = Invite.objects.get()
    assert (invite.team, invite.created_by, invite.email, invite.used_at) == (platform, ada, "grace@example.com", None)
    assert invite.expires_at - invite.created_at == dt.timedelta(days=7)
    page = client.get(response["Location"]).content.decode()
    assert "http://testserver" + _link(invite) in page
    assert "works once, for 7 days" in page


@pytest.mark.parametrize("email", ["not an email", "a@b", "x" * 250 + "@example.com"])
def test_a_bad_email_is_a_400_and_no_invite(client, platform, ada, email):
    client.force_login(ada)
    response = client.post(reverse("teams:create_invite", args=["platform"]), {"email": email})
    assert response.status_code == 400 and 'role="alert"' in response.content.decode()
    assert not Invite.objects.exists()


def test_used_and_expired_invites_are_not_listed(client, platform, ada):
    used = InviteFactory(team=platform, created_by=ada, used_at=timezone.now())
    past = timezone.now() - dt.timedelta(days=8)
    expired = InviteFactory(team=platform, created_by=ada, created_at=past, expires_at=past + Invite.VALIDITY)
    open_one = InviteFactory(team=platform, created_by=ada)
    client.force_login(ada)
    page = client.get(reverse("teams:settings", args=["platform"])).content.decode()
    assert _link(open_one) in page and _link(used) not in page and _link(expired) not in page


def test_the_link_is_signed_with_a_salt_of_its_own(invite):
    from django.core import signing

    token = invites.invite_token(invite.pk)
    assert invites.resolve_invite(token) == invite
    # the same payload signed by anything else of the site (default salt) is not an invite
    with pytest.raises(invites.InviteRefused):
        invites.resolve_invite(signing.Signer().sign_object({"invite": invite.pk}))


# --- anonymous: sign up and join -------------------------------------------------------------


def test_anonymous_sees_a_sign_up_form(client, invite):
    response = client.get(_link(invite))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Join Platform" in body and 'name="password2"' in body


def test_signing_up_creates_the_account_logs_in_and_joins(client, invite, platform):
    response = _sign_up(client, _link(invite))
    assert response.status_code == 302 and response["Location"] == reverse("metrics:dashboard", args=["platform"])
    grace = User.objects.get(username="grace")
    assert grace.check_password(PASSWORD)
    assert Membership.objects.get(user=grace).team == platform
    assert Membership.objects.get(user=grace).role == Membership.Role.MEMBER
    invite.refresh_from_db()
    assert invite.used_by == grace and invite.used_at is not None
    assert client.get(response["Location"]).status_code == 200  # logged in, and a member


@pytest.mark.parametrize(
    "username, password, password2, complaint",
    [
        ("grace", "short", None, "too short"),
        ("grace", "password123", None, "too common"),
        ("grace", "83749102837465", None, "entirely numeric"),
        ("grace", PASSWORD, PASSWORD + "x", "didn’t match"),
        ("", PASSWORD, None, "required"),
        ("ada", PASSWORD, None, "already exists"),
        ("gr ace", PASSWORD, None, "Enter a valid username"),
    ],
)
def test_a_refused_sign_up_is_a_400_and_writes_nothing(client, invite, username, password, password2, complaint):
    before = _rows()
    response = _sign_up(client, _link(invite), username, password, password2)
    assert response.status_code == 400
    body = response.content.decode()
    assert complaint in body, body
    assert _rows() == before
    assert "_auth_user_id" not in client.session


def test_the_sign_up_form_keeps_the_username_and_never_the_password(client, invite):
    body = _sign_up(client, _link(invite), "grace", "short").content.decode()
    assert 'value="grace"' in body and "short" not in body.split("too short")[0].split('name="password1"')[1]


def test_sign_up_is_csrf_protected(invite):
    client = Client(enforce_csrf_checks=True)
    before = _rows()
    assert _sign_up(client, _link(invite)).status_code == 403
    assert _rows() == before
    client.get(_link(invite))  # the form sets the CSRF cookie
    response = client.post(
        _link(invite),
        {
            "username": "grace",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302


# --- signed in: join ---------------------------------------------------------------------------


def test_a_signed_in_user_confirms_then_joins(client, invite, platform):
    grace = UserFactory(username="grace")
    client.force_login(grace)
    page = client.get(_link(invite))
    assert page.status_code == 200 and "Join Platform" in page.content.decode()
    assert not Membership.objects.filter(user=grace).exists()  # a GET writes nothing
    response = client.post(_link(invite))
    assert response.status_code == 302 and response["Location"] == reverse("metrics:dashboard", args=["platform"])
    assert Membership.objects.get(user=grace).role == Membership.Role.MEMBER
    assert Invite.objects.get().used_by == grace


def test_a_member_already_does_not_use_the_invite(client, invite, ada):
    client.force_login(ada)
    assert "already belong to Platform" in client.get(_link(invite)).content.decode()
    response = client.post(_link(invite))
    assert response.status_code == 302
    invite.refresh_from_db()
    assert invite.used_at is None and Membership.objects.filter(user=ada).count() == 1


def test_joining_is_csrf_protected(invite):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="grace"))
    before = _rows()
    assert client.post(_link(invite)).status_code == 403
    assert _rows() == before


def test_the_invite_urls_need_no_login(invite):
    """LoginRequiredMiddleware is on: the invite view is marked login_not_required, and nothing else is."""
    assert Client().get(_link(invite)).status_code == 200
    assert Client().get(reverse("teams:create")).status_code == 302


# --- refused links ---------------------------------------------------------------------------


def _expired(invite):
    past = timezone.now() - dt.timedelta(days=8)
    Invite.objects.filter(pk=invite.pk).update(created_at=past, expires_at=past + Invite.VALIDITY)


def _used(invite):
    Invite.objects.filter(pk=invite.pk).update(used_at=timezone.now(), used_by=UserFactory(username="someone"))


def _tampered(token: str) -> str:
    payload, signature = token.rsplit(":", 1)
    return f"{payload}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"


def _forged_id(token: str, other_id: int) -> str:
    """Another invite's id in the payload, with the signature of this one."""
    from django.core.signing import b64_encode

    _payload, signature = token.rsplit(":", 1)
    payload = b64_encode(json.dumps({"invite": other_id}, separators=(",", ":")).encode()).decode()
    return f"{payload}:{signature}"


@pytest.mark.parametrize(
    "spoil, status, reason",
    [
        (_used, 410, "already been used"),
        (_expired, 410, "expired on"),
        ("tampered", 400, "not valid"),
        ("forged", 400, "not valid"),
        ("garbage", 400, "not valid"),
        ("deleted", 410, "no longer exists"),
    ],
    ids=["used", "expired", "tampered", "forged", "garbage", "deleted"],
)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_a_spoiled_link_is_refused_with_its_reason_and_writes_nothing(client, invite, spoil, status, reason, signed_in):
    token = invites.invite_token(invite.pk)
    if spoil == "tampered":
        token = _tampered(token)
    elif spoil == "forged":
        token = _forged_id(token, InviteFactory(team=invite.team).pk)  # a real, open invite
    elif spoil == "garbage":
        token = "x" * 3000 + ":é"
    elif spoil == "deleted":
        Invite.objects.filter(pk=invite.pk).delete()
    else:
        spoil(invite)
    if signed_in:
        client.force_login(UserFactory(username="grace"))
    url = reverse("teams:invite", args=[token])
    before = _rows()
    for response in (client.get(url), _sign_up(client, url, "newcomer")):
        assert response.status_code == status
        body = response.content.decode()
        assert reason in body and "This invite link cannot be used" in body
    assert _rows() == before
    assert not User.objects.filter(username="newcomer").exists()


def test_a_link_works_once(client, invite):
    assert _sign_up(client, _link(invite)).status_code == 302
    other = Client()
    before = _rows()
    response = _sign_up(other, _link(invite), "mallory")
    assert response.status_code == 410 and "already been used" in response.content.decode()
    assert _rows() == before


def test_a_link_that_expired_after_its_form_was_shown_writes_nothing(client, invite):
    """Refused by the lookup, and by the claiming UPDATE's own condition too (the race between them)."""
    url = _link(invite)
    assert client.get(url).status_code == 200
    _expired(invite)
    with pytest.raises(invites.InviteRefused, match="expired"):
        invites._claim(invite.pk, UserFactory(username="late"))  # the claim's UPDATE alone refuses it
    before = _rows()
    response = _sign_up(client, url)
    assert response.status_code == 410 and "expired on" in response.content.decode()
    assert _rows() == before


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_uses_one_wins():
    """Two connections claim the same invite at once: PostgreSQL lets exactly one UPDATE through."""
    team = TeamFactory()
    invite = InviteFactory(team=team)
    token = invites.invite_token(invite.pk)
    barrier = threading.Barrier(2)
    outcomes = {}

    def use(username):
        try:
            barrier.wait(timeout=10)
            invites.sign_up_with_invite(token=token, username=username, password=PASSWORD)
            outcomes[username] = "joined"
        except invites.InviteRefused as refused:
            outcomes[username] = refused.status
        finally:
            connection.close()

    threads = [threading.Thread(target=use, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values(), key=str) == [410, "joined"], outcomes
    winner = next(name for name, outcome in outcomes.items() if outcome == "joined")
    assert list(User.objects.filter(username__in=["first", "second"]).values_list("username", flat=True)) == [winner]
    assert list(Membership.objects.filter(team=team, role="member").values_list("user__username", flat=True)) == [
        winner
    ]
