"""`membership_for(user)`: the one lookup of a user's team and role, used by the view decorators
and, through the hook the teams app registers, by core's nav and home page."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from apps.core.extensions import Nav, membership_of
from apps.teams.access import membership_for
from tests.teams.factories import UserFactory, recruiter, team_admin

pytestmark = pytest.mark.django_db


def test_membership_for_a_member_comes_with_the_team():
    user = recruiter()
    membership = membership_for(user)
    assert membership.user == user and membership.team.name  # team loaded with it
    assert membership_for(UserFactory()) is None
    assert membership_for(AnonymousUser()) is None
    assert membership_for(None) is None


def test_core_asks_the_teams_app_through_the_registered_lookup(django_assert_num_queries):
    admin = team_admin()
    request = RequestFactory().get("/")
    request.user = admin
    with django_assert_num_queries(1):  # looked up once per request
        assert membership_of(request).user_id == admin.pk
        assert membership_of(request).is_admin
    assert Nav(request)._allowed("admin")

    request = RequestFactory().get("/")
    request.user = recruiter()
    assert not Nav(request)._allowed("admin") and Nav(request)._allowed("member")
