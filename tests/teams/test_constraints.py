import pytest
from django.db import IntegrityError

from apps.teams.models import Membership
from tests.teams.factories import MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db


def test_a_user_belongs_to_one_team():
    membership = MembershipFactory()
    with pytest.raises(IntegrityError):
        Membership.objects.create(user=membership.user, team=TeamFactory())


def test_team_slugs_are_unique():
    TeamFactory(slug="acme")
    with pytest.raises(IntegrityError):
        TeamFactory._meta.model.objects.create(name="Other", slug="acme")
