"""The development outbox shows a team member their own team's email and SMS only (the outbox
holds pause links and other teams' conversations); support staff see every team's. Mail goes
through the real dev outbox backends; the page is read over the test client."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.bot_notice import bot_notice_send
from apps.greenhouse.models import BotNotice
from apps.messaging.backends import dev_email_outbox_dir
from apps.messaging.models import Thread
from apps.messaging.outbound import sms_send
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import deliver_queued, three_step_sequence
from tests.messaging.factories import VirtualPhoneNumberFactory
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory, ProspectPhoneFactory
from tests.teams.factories import TeamFactory, UserFactory, recruiter

pytestmark = pytest.mark.django_db


def outreach(team, *, name, number, phone):
    """A recruiter of `team` who sends step 1 of a sequence and an SMS to prospect `name`."""
    owner = recruiter(team, user__email=f"{name.lower()}-owner@{team.slug}.example")
    VirtualPhoneNumberFactory(team=team, user=owner, number=number)
    prospect = ProspectFactory(team=team, first_name=name, owner=owner)
    ProspectEmailFactory(prospect=prospect, email=f"{name.lower()}@example.com")
    ProspectPhoneFactory(prospect=prospect, number=phone)
    sequence = three_step_sequence(team=team, owner=owner, name=f"Sequence of {name}")
    prospects_enroll(sequence=sequence, prospects=[prospect], enrolled_by=owner)
    sequence_steps_dispatch(now=timezone.now())
    sms_send(sender=owner, prospect=prospect, body=f"Text for {name}")
    deliver_queued()
    # The Greenhouse bot email with its pause link, to the recruiter.
    thread = Thread.objects.get(prospect=prospect, channel="email")
    BotNotice.objects.create(thread=thread, rfc_message_id=f"bot-{name}@outreach.test")
    assert bot_notice_send(thread_id=thread.pk) == "sent"
    return owner


@pytest.fixture
def two_teams(anymail_outbox, settings):
    settings.DEV_TOOLS = True
    settings.EMAIL_BACKEND = "apps.messaging.backends.DevOutboxEmailBackend"
    ours, theirs = TeamFactory(), TeamFactory()
    return {
        "ours": outreach(ours, name="Grace", number="+15005550006", phone="+14155550101"),
        "theirs": outreach(theirs, name="Linus", number="+15005550007", phone="+14155550102"),
    }


def outbox_page(client, user):
    client.force_login(user)
    response = client.get(reverse("messaging:dev-outbox"))
    assert response.status_code == 200
    return response.content.decode()


def test_a_member_sees_their_teams_mail_and_sms_only(client, two_teams):
    page = outbox_page(client, two_teams["ours"])
    assert "Quick question, Grace" in page
    assert "Text for Grace" in page
    assert page.count("/greenhouse/pause/") == 1 and "grace-owner@" in page  # bot email
    assert "for your team" in page
    assert "Linus" not in page
    assert "linus-owner@" not in page


def test_the_other_team_sees_theirs_only(client, two_teams):
    page = outbox_page(client, two_teams["theirs"])
    assert "Quick question, Linus" in page and "Text for Linus" in page
    assert "Grace" not in page and "grace-owner@" not in page


def test_support_staff_see_every_teams_mail(client, two_teams):
    staff = UserFactory(username="support", is_staff=True)
    page = outbox_page(client, staff)
    for name in ("Grace", "Linus"):
        assert f"Quick question, {name}" in page and f"Text for {name}" in page
    assert "for every team (support staff)" in page


def test_mail_without_a_team_is_for_staff_only(client, two_teams):
    # An email sent by some other code path without the team metadata (or an older outbox file).
    (dev_email_outbox_dir() / "29990101T000000000000-dev-0123abcd.eml").write_bytes(
        b"Subject: Untagged mail\r\nFrom: someone@example.com\r\n\r\nBody of untagged\r\n"
    )
    assert "Untagged mail" not in outbox_page(client, two_teams["ours"])
    assert "Untagged mail" in outbox_page(client, UserFactory(username="support", is_staff=True))


def test_a_user_of_no_team_who_is_not_staff_is_refused(client, two_teams):
    client.force_login(get_user_model().objects.create_user("drifter"))
    response = client.get(reverse("messaging:dev-outbox"))
    assert response.status_code == 403
    assert "Grace" not in response.content.decode()
