import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.teams.models import Invite, Membership, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct-horse-battery")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Membership.Role.MEMBER


class InviteFactory(factory.django.DjangoModelFactory):
    """An open invite, created now by one of the team's admins."""

    class Meta:
        model = Invite

    team = factory.SubFactory(TeamFactory)
    created_by = factory.LazyAttribute(lambda o: MembershipFactory(team=o.team, role=Membership.Role.ADMIN).user)
    created_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.created_at + Invite.VALIDITY)
    email = ""
