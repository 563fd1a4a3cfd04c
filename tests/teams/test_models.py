"""Team and Membership: every database constraint rejects a bad row and writes nothing."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from apps.teams.factories import InviteFactory, MembershipFactory, TeamFactory, UserFactory
from apps.teams.models import Invite, Membership, Team
from tests.support import assert_rejected

# --- constraints ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_team_slug_is_unique():
    TeamFactory(slug="platform")
    assert_rejected(Team, "teams_team_slug_key", lambda: TeamFactory(slug="platform"))


@pytest.mark.django_db
def test_membership_is_unique_per_user_and_team():
    membership = MembershipFactory()
    assert_rejected(
        Membership,
        "membership_unique_user_team",
        lambda: Membership.objects.create(user=membership.user, team=membership.team, role="admin"),
    )


@pytest.mark.django_db
def test_one_user_may_belong_to_several_teams_and_one_team_to_several_users():
    user = UserFactory()
    team = TeamFactory()
    MembershipFactory(user=user, team=team)
    MembershipFactory(user=user)
    MembershipFactory(team=team)
    assert Membership.objects.filter(user=user).count() == 2
    assert Membership.objects.filter(team=team).count() == 2


@pytest.mark.django_db
def test_membership_role_must_be_a_known_choice():
    user, team = UserFactory(), TeamFactory()
    assert_rejected(
        Membership,
        "membership_role_valid",
        lambda: Membership.objects.create(user=user, team=team, role="owner"),
    )


@pytest.mark.django_db
def test_an_invite_expires_after_it_is_created():
    invite = InviteFactory()
    assert_rejected(
        Invite,
        "invite_expires_after_creation",
        lambda: Invite.objects.create(team=invite.team, created_at=invite.created_at, expires_at=invite.created_at),
    )


@pytest.mark.django_db
def test_an_invite_has_no_user_without_a_time_of_use():
    invite = InviteFactory()
    now = timezone.now()
    assert_rejected(
        Invite,
        "invite_used_by_needs_used_at",
        lambda: Invite.objects.create(
            team=invite.team, created_at=now, expires_at=now + dt.timedelta(days=7), used_by=invite.created_by
        ),
    )


@pytest.mark.django_db
def test_a_used_invite_outlives_the_account_that_used_it():
    user = UserFactory()
    invite = InviteFactory(used_at=timezone.now(), used_by=user)
    user.delete()
    invite.refresh_from_db()
    assert invite.used_by is None and invite.used_at is not None  # still used: the link stays spent


@pytest.mark.django_db
def test_every_constraint_of_the_app_is_tested_here():
    """A new constraint on Team, Membership or Invite needs a test in this module."""
    tested = {
        "membership_unique_user_team",
        "membership_role_valid",
        "invite_expires_after_creation",
        "invite_used_by_needs_used_at",
    }
    declared = {c.name for model in (Team, Membership, Invite) for c in model._meta.constraints}
    assert declared == tested


# --- __str__ -------------------------------------------------------------------------------

DEFAULT_STR = re.compile(r"\w+ object \(\d+\)")


@pytest.mark.django_db
def test_team_str_is_its_name():
    team = TeamFactory(name="Platform")
    assert str(team) == "Platform"


@pytest.mark.django_db
def test_membership_str_names_user_team_and_role():
    membership = MembershipFactory(
        user=UserFactory(username="ada"), team=TeamFactory(name="Platform"), role="admin"
    )
    text = str(membership)
    assert not DEFAULT_STR.fullmatch(text)
    assert "ada" in text
    assert "Platform" in text
    assert "admin" in text


@pytest.mark.django_db
def test_invite_str_names_team_and_state():
    invite = InviteFactory(team=TeamFactory(name="Platform"))
    assert str(invite).startswith("Invite to Platform (until ")
    invite.used_at = timezone.now()
    assert str(invite) == "Invite to Platform (used)"
