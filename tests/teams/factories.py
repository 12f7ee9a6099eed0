import factory
from django.contrib.auth import get_user_model

from apps.teams.models import Membership, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@team.example")
    password = factory.django.Password("pw-for-tests")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Membership.Role.RECRUITER


def recruiter(team=None, **kwargs):
    """A user who is a recruiter of `team` (a new team when None)."""
    membership = MembershipFactory(
        team=team or TeamFactory(), role=Membership.Role.RECRUITER, **kwargs
    )
    return membership.user


def team_admin(team=None, **kwargs):
    membership = MembershipFactory(team=team or TeamFactory(), role=Membership.Role.ADMIN, **kwargs)
    return membership.user
