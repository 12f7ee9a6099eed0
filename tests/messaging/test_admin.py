"""Support staff's side: unmatched inbound messages, and enrolling a prospect from the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.messaging.models import UnmatchedInbound
from apps.sequences.models import Enrollment
from tests.fixtures.messaging import three_step_sequence
from tests.fixtures.staff import log_in_staff
from tests.messaging.factories import UnmatchedInboundFactory
from tests.sequences.factories import ProspectFactory
from tests.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("support", "support@example.com", "pw")
    return log_in_staff(client, user)


def test_support_sees_and_resolves_unmatched_messages(staff_client):
    kept = UnmatchedInboundFactory()
    url = reverse("admin:messaging_unmatchedinbound_changelist")
    assert "stranger@example.org" in staff_client.get(url).content.decode()
    change = reverse("admin:messaging_unmatchedinbound_change", args=[kept.pk])
    assert staff_client.get(change).status_code == 200
    response = staff_client.post(url, {"action": "mark_resolved", "_selected_action": [kept.pk]})
    assert response.status_code == 302
    kept.refresh_from_db()
    assert kept.resolved_at is not None
    assert UnmatchedInbound.objects.count() == 1


def test_enrolling_from_the_admin_keeps_the_sequence_bcc(staff_client, world):
    sequence = three_step_sequence(team=world.team, owner=world.owner, bcc="maildrop@greenhouse.io")
    url = reverse("admin:sequences_enrollment_add")
    assert staff_client.get(url).status_code == 200
    data = {"sequence": sequence.pk, "prospect": world.prospect.pk, "status": "active"}
    assert staff_client.post(url, data).status_code == 302
    enrollment = Enrollment.objects.get()
    assert enrollment.bcc == "maildrop@greenhouse.io"
    assert enrollment.next_step_position == 1
    assert enrollment.next_step_due_at is not None


def test_the_admin_refuses_a_prospect_of_another_team(staff_client, world):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    outsider = ProspectFactory(team=TeamFactory())
    data = {"sequence": sequence.pk, "prospect": outsider.pk, "status": "active"}
    response = staff_client.post(reverse("admin:sequences_enrollment_add"), data)
    assert response.status_code == 200
    assert "different teams" in response.content.decode()
    assert not Enrollment.objects.exists()
