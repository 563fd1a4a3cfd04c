"""Team and Membership: every database constraint rejects a bad row and writes nothing."""

import re

import pytest

from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from apps.teams.models import Membership, Team
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
def test_every_constraint_of_the_app_is_tested_here():
    """A new constraint on Team or Membership needs a test in this module."""
    tested = {"membership_unique_user_team", "membership_role_valid"}
    declared = {c.name for model in (Team, Membership) for c in model._meta.constraints}
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
