"""The development pages as a developer meets them (issue 14 item 14): the simulator's selects
with one choice start with it selected, a missing choice is a clear error and sends nothing,
the SMS comes from a prospect picked by name, each delivery links to its conversation, and the
dev outbox shows the HTML part in a sandboxed frame of its own (the pause link clickable)."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.bot_notice import bot_notice_send
from apps.greenhouse.models import BotNotice
from apps.messaging.models import Message, Thread
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import deliver_queued, three_step_sequence
from tests.sequences.factories import ProspectFactory, ProspectPhoneFactory
from tests.teams.factories import TeamFactory, recruiter

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev(world, settings, client):
    settings.DEV_TOOLS = True
    settings.EMAIL_BACKEND = "apps.messaging.backends.DevOutboxEmailBackend"
    client.force_login(world.owner)
    return world


def emailed(world) -> Thread:
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence_steps_dispatch(now=timezone.now())
    deliver_queued()
    return Thread.objects.get(prospect=world.prospect, channel="email")


def bot_email(world) -> None:
    thread = emailed(world)
    BotNotice.objects.create(thread=thread, rfc_message_id="bot-1@outreach.test")
    assert bot_notice_send(thread_id=thread.pk) == "sent"


def select(html: str, name: str) -> str:
    return re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)


def test_one_item_selects_start_with_their_only_choice_selected(client, dev):
    thread = emailed(dev)
    html = client.get(reverse("messaging:dev-simulate")).content.decode()
    assert select(html, "thread").count("<option") == 1
    assert f'<option value="{thread.pk}" selected>' in select(html, "thread")
    phone = select(html, "from_phone")
    assert phone.count("<option") == 1
    assert f'<option value="{dev.phone.pk}" selected>Grace Hopper · +14155550101</option>' in phone
    assert '<option value="+15005550006" selected>' in select(html, "to_number")


def test_with_several_choices_the_select_asks_and_a_forgotten_one_is_a_clear_error(client, dev):
    alan = ProspectFactory(team=dev.team, first_name="Alan", last_name="Turing")
    ProspectPhoneFactory(prospect=alan, number="+14155550102")
    ProspectPhoneFactory(prospect=ProspectFactory(team=TeamFactory()), number="+14155550199")
    html = client.get(reverse("messaging:dev-simulate")).content.decode()
    phone = select(html, "from_phone")
    assert '<option value="" selected>---------</option>' in phone
    assert "Alan Turing · +14155550102" in phone and "Grace Hopper · +14155550101" in phone
    assert "+14155550199" not in phone  # another team's prospect

    data = {"to_number": "+15005550006", "body": "Hi"}
    response = client.post(reverse("messaging:dev-simulate-sms"), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was delivered: correct the SMS form below." in page
    assert "Choose the prospect who texts." in page
    assert not Message.objects.exists()

    response = client.post(reverse("messaging:dev-simulate-email"), {"body": "Hi"})
    assert response.status_code == 400
    assert "Choose the email thread the prospect replies to." in response.content.decode()
    assert not Message.objects.exists()


def test_an_sms_from_a_picked_prospect_links_to_its_conversation(client, dev):
    data = {"from_phone": dev.phone.pk, "to_number": "+15005550006", "body": "Call me"}
    response = client.post(reverse("messaging:dev-simulate-sms"), data, follow=True)
    inbound = Message.objects.get()
    assert inbound.thread.prospect == dev.prospect and inbound.from_address == "+14155550101"
    url = reverse("messaging:thread-detail", args=[inbound.thread_id])
    assert f'delivered. <a href="{url}">Open the conversation</a>' in response.content.decode()


def test_an_email_reply_links_to_its_conversation_or_says_it_matched_none(client, dev):
    thread = emailed(dev)
    url = reverse("messaging:dev-simulate-email")
    data = {"thread": thread.pk, "body": "Sounds good", "match_by": "token"}
    page = client.post(url, data, follow=True).content.decode()
    link = reverse("messaging:thread-detail", args=[thread.pk])
    assert f'<a href="{link}">Open the conversation</a>' in page

    data["match_by"] = "nothing"
    page = client.post(url, data, follow=True).content.decode()
    assert "delivered, but it matched no conversation" in page


def test_the_outbox_shows_the_html_part_in_a_sandboxed_frame(client, dev):
    bot_email(dev)

    page = client.get(reverse("messaging:dev-outbox")).content.decode()
    frames = re.findall(r'<iframe class="html-part" sandbox="([^"]*)" src="([^"]+)"', page)
    assert frames, page
    assert {sandbox for sandbox, _ in frames} == {"allow-popups allow-popups-to-escape-sandbox"}
    bodies = {src: client.get(src) for _, src in frames}
    bot = next(r for r in bodies.values() if b"Pause sync for Grace Hopper" in r.content)
    html = bot.content.decode()
    assert html.startswith('<base target="_blank">')
    assert re.search(r'<a href="https?://[^"]+/greenhouse/pause/[^"]+">Pause sync', html)
    policy = bot["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'self'" in policy
    assert "sandbox allow-popups allow-popups-to-escape-sandbox" in policy
    assert bot["X-Frame-Options"] == "SAMEORIGIN"
    # The outbox page itself keeps the app's policy: nothing inline, never framed.
    outbox = client.get(reverse("messaging:dev-outbox"))
    assert "frame-ancestors 'none'" in outbox["Content-Security-Policy"]
    assert outbox["X-Frame-Options"] == "DENY"


def test_the_html_part_is_the_viewers_teams_only(client, dev):
    bot_email(dev)
    page = client.get(reverse("messaging:dev-outbox")).content.decode()
    src = re.search(r'<iframe class="html-part" [^>]*src="([^"]+)"', page)
    assert src is not None
    assert client.get(src.group(1)).status_code == 200
    client.logout()
    anonymous = client.get(src.group(1))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    other = recruiter(TeamFactory())
    client.force_login(other)
    assert client.get(src.group(1)).status_code == 404
    staff = recruiter(TeamFactory())
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    client.force_login(staff)  # support staff see every team's outbox
    assert client.get(src.group(1)).status_code == 200
    for bad in ("../db.sqlite3", "nothing.eml", "x.txt"):
        url = reverse("messaging:dev-outbox-html", args=["placeholder"]).replace("placeholder", bad)
        assert client.get(url).status_code == 404
