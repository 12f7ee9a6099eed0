from datetime import timedelta

import pytest
from django.urls import reverse

from apps.sequences.models import Enrollment, Prospect, Sequence, SequenceStep
from apps.sequences.services import prospects_enroll, sequence_create
from apps.sequences.signals import enrollment_preflight
from apps.teams.bcc import has_greenhouse_maildrop
from tests.fixtures.messaging import three_step_sequence
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory
from tests.teams.factories import TeamFactory, recruiter

pytestmark = pytest.mark.django_db


@pytest.fixture
def maildrop_warning():
    """Stands in for the Greenhouse app's receiver: maildrop BCC + prospects not in Greenhouse."""
    not_in_greenhouse = set()

    def receiver(sender, sequence, prospects, **kwargs):
        if not has_greenhouse_maildrop(sequence.bcc_list):
            return []
        missing = [p.full_name for p in prospects if p.pk in not_in_greenhouse]
        if not missing:
            return []
        return [f"No Greenhouse candidate for {', '.join(missing)}: an empty profile is created."]

    enrollment_preflight.connect(receiver)
    yield not_in_greenhouse
    enrollment_preflight.disconnect(receiver)


def test_enrolling_with_warnings_needs_an_explicit_confirmation(client, world, maildrop_warning):
    sequence = three_step_sequence(team=world.team, owner=world.owner, bcc="maildrop@greenhouse.io")
    linus = ProspectFactory(team=world.team, first_name="Linus", last_name="Unknown")
    ProspectEmailFactory(prospect=linus)
    maildrop_warning.add(linus.pk)
    client.force_login(world.owner)
    url = reverse("sequences:sequence-enroll", args=[sequence.pk])

    response = client.post(url, {"prospects": [world.prospect.pk, linus.pk]})
    assert response.status_code == 200
    page = response.content.decode()
    assert "No Greenhouse candidate for Linus Unknown" in page
    assert "Enroll anyway" in page
    assert not Enrollment.objects.exists()
    confirmed_for = response.context["form"].initial["confirmed_for"]

    # Confirming a different selection shows the checks again instead of enrolling.
    response = client.post(url, {"prospects": [linus.pk], "confirmed_for": confirmed_for})
    assert response.status_code == 200
    assert not Enrollment.objects.exists()

    response = client.post(
        url, {"prospects": [world.prospect.pk, linus.pk], "confirmed_for": confirmed_for}
    )
    assert response.status_code == 302
    assert set(Enrollment.objects.values_list("prospect_id", flat=True)) == {
        world.prospect.pk,
        linus.pk,
    }
    assert set(Enrollment.objects.values_list("bcc", flat=True)) == {"maildrop@greenhouse.io"}


def test_enrolling_without_warnings_needs_no_confirmation(client, world, maildrop_warning):
    sequence = three_step_sequence(team=world.team, owner=world.owner, bcc="maildrop@greenhouse.io")
    client.force_login(world.owner)
    url = reverse("sequences:sequence-enroll", args=[sequence.pk])
    assert client.get(url).status_code == 200
    assert not Enrollment.objects.exists()  # GET changes nothing
    assert client.post(url, {"prospects": [world.prospect.pk]}).status_code == 302
    enrollment = Enrollment.objects.get()
    assert enrollment.enrolled_by == world.owner
    assert enrollment.next_step_position == 1


def test_the_enrolled_message_counts_in_proper_plurals(client, world):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    other = ProspectFactory(team=world.team, first_name="Second", last_name="Prospect")
    ProspectEmailFactory(prospect=other, email="second@example.com")
    client.force_login(world.owner)
    url = reverse("sequences:sequence-enroll", args=[sequence.pk])

    def flash(prospects):
        response = client.post(url, {"prospects": [p.pk for p in prospects]}, follow=True)
        return [str(m) for m in response.context["messages"]]

    assert flash([world.prospect]) == ["Enrolled 1 prospect with BCC none."]
    third = ProspectFactory(team=world.team, first_name="Third", last_name="Prospect")
    ProspectEmailFactory(prospect=third, email="third@example.com")
    assert flash([other, third]) == ["Enrolled 2 prospects with BCC none."]


def test_a_failing_preflight_receiver_becomes_a_warning(client, world):
    def broken(sender, **kwargs):
        raise RuntimeError("Greenhouse is down")

    enrollment_preflight.connect(broken)
    try:
        sequence = three_step_sequence(team=world.team, owner=world.owner)
        client.force_login(world.owner)
        url = reverse("sequences:sequence-enroll", args=[sequence.pk])
        response = client.post(url, {"prospects": [world.prospect.pk]})
    finally:
        enrollment_preflight.disconnect(broken)
    assert "could not run" in response.content.decode()
    assert not Enrollment.objects.exists()


def test_our_own_checks_warn_about_prospects_who_cannot_be_reached(client, world):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    nobody = ProspectFactory(team=world.team, first_name="No", last_name="Email")
    client.force_login(world.owner)
    url = reverse("sequences:sequence-enroll", args=[sequence.pk])
    response = client.post(url, {"prospects": [nobody.pk]})
    assert "No email address" in response.content.decode()
    assert "No Email" in response.content.decode()


def test_prospects_of_another_team_cannot_be_enrolled(client, world):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    outsider = ProspectFactory(team=TeamFactory())
    client.force_login(world.owner)
    url = reverse("sequences:sequence-enroll", args=[sequence.pk])
    response = client.post(url, {"prospects": [outsider.pk]})
    assert response.status_code == 400
    assert not Enrollment.objects.exists()


def test_another_teams_objects_are_not_found(client, world):
    other_team = TeamFactory()
    other_owner = recruiter(other_team)
    other_sequence = sequence_create(team=other_team, owner=other_owner, name="Theirs")
    other_prospect = ProspectFactory(team=other_team)
    client.force_login(world.owner)
    for name, pk in [
        ("sequences:sequence-detail", other_sequence.pk),
        ("sequences:sequence-enroll", other_sequence.pk),
        ("sequences:prospect-detail", other_prospect.pk),
    ]:
        assert client.get(reverse(name, args=[pk])).status_code == 404
    for name in ("sequences:sequence-edit", "sequences:step-add"):
        response = client.post(reverse(name, args=[other_sequence.pk]), {"name": "Mine now"})
        assert response.status_code == 404
    other_sequence.refresh_from_db()
    assert other_sequence.name == "Theirs"


def test_pages_need_a_login(client, world):
    response = client.get(reverse("sequences:sequence-list"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_a_recruiter_creates_a_sequence_with_steps_from_the_pages(client, world):
    world.team.default_bcc = "maildrop@greenhouse.io"
    world.team.save()
    client.force_login(world.owner)
    response = client.post(reverse("sequences:sequence-list"), {"name": "Autumn"})
    sequence = Sequence.objects.get(name="Autumn")
    assert response.status_code == 302
    assert sequence.bcc == "maildrop@greenhouse.io"
    assert sequence.owner == world.owner

    add = reverse("sequences:step-add", args=[sequence.pk])
    step = {
        "channel": "email",
        "delay_amount": "0",
        "delay_unit": "days",
        "subject_template": "Hi {{ first_name }}",
        "body_template": "Hello {{ first_name }}",
    }
    assert client.post(add, step).status_code == 302
    second = {**step, "delay_amount": "2", "subject_template": "", "body_template": "Bump"}
    assert client.post(add, second).status_code == 302
    steps = list(sequence.steps.order_by("position"))
    assert [s.position for s in steps] == [1, 2]
    assert steps[1].delay == timedelta(days=2)

    bad = {**step, "body_template": "Hi {{ salary }}"}
    response = client.post(add, bad)
    assert response.status_code == 400
    assert "Unknown placeholder {{ salary }}" in response.content.decode()
    assert SequenceStep.objects.filter(sequence=sequence).count() == 2


def test_a_sequence_is_edited_by_its_owner_or_an_admin_only(client, world):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    colleague = recruiter(world.team)
    client.force_login(colleague)
    url = reverse("sequences:sequence-edit", args=[sequence.pk])
    response = client.post(url, {"name": "Renamed", "bcc": ""})
    assert response.status_code == 403
    sequence.refresh_from_db()
    assert sequence.name == "Backend engineers"


def test_stopping_an_enrollment(client, world):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    (enrollment,) = prospects_enroll(
        sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner
    ).enrolled
    client.force_login(world.owner)
    url = reverse("sequences:enrollment-stop", args=[enrollment.pk])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.STOPPED
    assert enrollment.next_step_due_at is None


def test_adding_a_prospect(client, world):
    client.force_login(world.owner)
    url = reverse("sequences:prospect-list")
    data = {"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com"}
    response = client.post(url, {**data, "phone": "+44 20 7946 0958"})
    assert response.status_code == 302
    ada = Prospect.objects.get(first_name="Ada")
    assert ada.team == world.team
    assert list(ada.emails.values_list("email", flat=True)) == ["ada@example.com"]
    assert list(ada.phones.values_list("number", flat=True)) == ["+442079460958"]

    response = client.post(url, {**data, "first_name": "Other", "phone": "12"})
    assert response.status_code == 200
    assert "international format" in response.content.decode()
    assert not Prospect.objects.filter(first_name="Other").exists()
