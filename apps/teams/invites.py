"""Invite links: signed, expiring after ``Invite.VALIDITY``, usable once.

A link carries an ``Invite`` row's id, signed with ``django.core.signing`` under a salt of its own
(so no other signed value of the site can pass for an invite). The signature proves the link was
made here and not altered; the row decides the rest: expiry is its ``expires_at`` and single use
is one ``UPDATE ... SET used_at = now WHERE id = ... AND used_at IS NULL AND expires_at > now``,
so of two simultaneous uses one updates the row and the other updates nothing and is refused
(PostgreSQL re-checks the condition on the row the first one committed). Every write of a use,
the account of a sign-up included, is in the transaction of that UPDATE: a refused use writes nothing.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.teams.models import Invite, Membership, Team

SALT = "tformance.teams.invite"


class InviteRefused(Exception):
    """This link cannot be used: ``reason`` says why, ``status`` is the page's HTTP status (400 or 410)."""

    def __init__(self, reason: str, *, status: int):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class AlreadyMember(Exception):
    """The signed-in user already belongs to the invite's team: the invite stays unused."""

    def __init__(self, team: Team):
        super().__init__(f"already a member of {team}")
        self.team = team


class UsernameTaken(Exception):
    """Someone took this username between the form's check and the insert."""


def invite_token(invite_id: int) -> str:
    """The signed part of an invite's link (the same for the same invite: it can be shown again)."""
    return signing.Signer(salt=SALT).sign_object({"invite": invite_id})


def _invite_id(token: str) -> int:
    try:
        payload = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeError) as exc:
        raise InviteRefused("This invite link is not valid: it is incomplete or has been altered.", status=400) from exc
    invite_id = payload.get("invite") if isinstance(payload, dict) else None
    if not isinstance(invite_id, int) or isinstance(invite_id, bool):
        raise InviteRefused("This invite link is not valid: it is incomplete or has been altered.", status=400)
    return invite_id


def _refusal(invite: Invite | None, now: dt.datetime) -> InviteRefused | None:
    if invite is None:
        return InviteRefused("This invite no longer exists (its team may have been deleted).", status=410)
    if invite.used_at is not None:
        return InviteRefused("This invite link has already been used. Ask a team admin for a new one.", status=410)
    if invite.expires_at <= now:
        day = f"{invite.expires_at:%Y-%m-%d %H:%M} UTC"
        return InviteRefused(f"This invite link expired on {day}. Ask a team admin for a new one.", status=410)
    return None


def resolve_invite(token: str) -> Invite:
    """The usable invite this link names, its team joined; ``InviteRefused`` otherwise. One statement at most."""
    invite = Invite.objects.select_related("team").filter(pk=_invite_id(token)).first()
    refusal = _refusal(invite, timezone.now())
    if refusal:
        raise refusal
    return invite


def create_invite(*, team: Team, created_by, email: str = "") -> Invite:
    """A new invite to ``team``, valid for ``Invite.VALIDITY`` from now."""
    now = timezone.now()
    with transaction.atomic():
        return Invite.objects.create(
            team=team, created_by=created_by, email=email, created_at=now, expires_at=now + Invite.VALIDITY
        )


def _claim(invite_id: int, user) -> Invite:
    """Mark the invite used by ``user``, unless it was used (or expired) meanwhile: then ``InviteRefused``.

    Must run inside the caller's transaction, so that a refusal rolls back what the caller wrote.
    """
    now = timezone.now()
    claimed = Invite.objects.filter(pk=invite_id, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now, used_by=user
    )
    if claimed != 1:
        invite = Invite.objects.filter(pk=invite_id).first()
        raise _refusal(invite, now) or InviteRefused("This invite link has already been used.", status=410)
    return Invite.objects.select_related("team").get(pk=invite_id)


def join_with_invite(*, token: str, user, resolved: Invite | None = None) -> Team:
    """The signed-in ``user`` joins the invite's team as a member, using the invite up.

    ``AlreadyMember`` (and the invite stays unused) when they belong to the team already. ``resolved``: the
    ``resolve_invite(token)`` the caller already has (the view), so the invite is not read twice; the claim
    checks again, in its ``UPDATE``, that it is still unused and unexpired.
    """
    invite = resolved if resolved is not None else resolve_invite(token)
    try:
        with transaction.atomic():
            claimed = _claim(invite.pk, user)
            Membership.objects.create(user=user, team=claimed.team, role=Membership.Role.MEMBER)
    except IntegrityError as exc:  # (user, team) is unique: the claim is rolled back with it
        raise AlreadyMember(invite.team) from exc
    return claimed.team


def sign_up_with_invite(*, token: str, username: str, password: str, resolved: Invite | None = None):
    """A new account (``password`` already validated by the caller) that joins the invite's team.

    Account, use of the invite and membership are one transaction: refused, none of them exists.
    Returns the user. ``resolved``: as for ``join_with_invite``.
    """
    invite = resolved if resolved is not None else resolve_invite(token)
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=username, password=password)
            claimed = _claim(invite.pk, user)
            Membership.objects.create(user=user, team=claimed.team, role=Membership.Role.MEMBER)
    except IntegrityError as exc:  # only the username can clash: the user and the membership are new
        raise UsernameTaken(username) from exc
    return user
