import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.messaging.models import Message, Thread, UnmatchedInbound
from apps.messaging.outbound import sms_send
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.models import Enrollment
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import deliver_queued, process_inbox, three_step_sequence
from tests.messaging.factories import VirtualPhoneNumberFactory
from tests.sequences.factories import ProspectFactory, ProspectPhoneFactory
from tests.teams.factories import TeamFactory, recruiter

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_thread(world):
    sequence = three_step_sequence(team=world.team, owner=world.owner, bcc="maildrop@greenhouse.io")
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence_steps_dispatch(now=timezone.now())
    deliver_queued()
    return Thread.objects.get()


def test_the_thread_page_shows_messages_and_answers_by_email(client, world, email_thread):
    client.force_login(world.owner)
    url = reverse("messaging:thread-detail", args=[email_thread.pk])
    page = client.get(url).content.decode()
    assert "Hi Grace, chat? Rob" in page
    assert "maildrop@greenhouse.io" in page

    reply_url = reverse("messaging:thread-reply", args=[email_thread.pk])
    assert client.get(reply_url).status_code == 405
    assert client.post(reply_url, {"body": "Following up by hand."}).status_code == 302
    deliver_queued()
    answer = Message.objects.filter(thread=email_thread).order_by("id").last()
    assert answer.sender == world.owner
    assert answer.status == Message.Status.SENT
    assert answer.subject == "Re: Quick question, Grace"
    assert answer.bcc_addresses == ["maildrop@greenhouse.io"]
    assert answer.in_reply_to == Message.objects.filter(thread=email_thread).first().message_id


def test_the_prospect_page_lists_their_conversations_through_the_panel(client, world, email_thread):
    # The sequences app renders the page; the messaging app's panel adds the threads.
    client.force_login(world.owner)
    page = client.get(reverse("sequences:prospect-detail", args=[world.prospect.pk])).content
    thread_url = reverse("messaging:thread-detail", args=[email_thread.pk])
    assert b"<h2>Conversations</h2>" in page and thread_url.encode() in page
    other = ProspectFactory(team=world.team, first_name="Alan")
    page = client.get(reverse("sequences:prospect-detail", args=[other.pk])).content
    assert thread_url.encode() not in page and b"No conversations yet" in page


def test_an_empty_answer_is_refused(client, world, email_thread):
    client.force_login(world.owner)
    response = client.post(reverse("messaging:thread-reply", args=[email_thread.pk]), {"body": " "})
    assert response.status_code == 400
    assert Message.objects.count() == 1


def test_another_teams_thread_is_not_found(client, world, email_thread):
    client.force_login(recruiter(TeamFactory()))
    assert client.get(reverse("messaging:thread-detail", args=[email_thread.pk])).status_code == 404
    reply_url = reverse("messaging:thread-reply", args=[email_thread.pk])
    assert client.post(reply_url, {"body": "hi"}).status_code == 404
    assert Message.objects.count() == 1


def test_a_one_off_sms_from_the_recruiters_page(client, world):
    client.force_login(world.owner)
    url = reverse("messaging:sms-send", args=[world.prospect.pk])
    assert "+15005550006" in client.get(url).content.decode()
    response = client.post(url, {"to_number": "+14155550101", "body": "Free for a call?"})
    assert response.status_code == 302
    deliver_queued()
    sms = Message.objects.get()
    assert (sms.channel, sms.status, sms.from_address) == ("sms", "sent", "+15005550006")
    assert sms.provider_message_id.startswith("SMdev")
    outbox = (world_outbox_dir() / "sms.jsonl").read_text()
    record = json.loads(outbox.splitlines()[-1])
    assert record["to"] == "+14155550101"
    assert record["body"] == "Free for a call?"
    assert record["status_callback"] == "https://outreach.test/webhooks/twilio/status/"


def world_outbox_dir():
    from django.conf import settings

    return settings.DEV_OUTBOX_DIR


def test_a_recruiter_without_a_virtual_number_is_told_so(client, world):
    colleague = recruiter(world.team)
    client.force_login(colleague)
    url = reverse("messaging:sms-send", args=[world.prospect.pk])
    response = client.post(url, {"to_number": "+14155550101", "body": "Hi"})
    assert response.status_code == 400
    assert "no virtual phone number" in response.content.decode()
    assert not Message.objects.exists()


def test_only_the_numbers_owner_texts_from_an_sms_thread(client, world):
    message = sms_send(sender=world.owner, prospect=world.prospect, body="Hi")
    colleague = recruiter(world.team)
    VirtualPhoneNumberFactory(team=world.team, user=colleague, number="+15005559999")
    client.force_login(colleague)
    url = reverse("messaging:thread-reply", args=[message.thread_id])
    response = client.post(url, {"body": "Me too"})
    assert response.status_code == 400
    assert Message.objects.count() == 1


# --- Development tools --------------------------------------------------------------------------


def test_dev_pages_are_not_found_without_dev_tools(client, world, settings):
    settings.DEV_TOOLS = False
    client.force_login(world.owner)
    for name in ("messaging:dev-outbox", "messaging:dev-simulate"):
        assert client.get(reverse(name)).status_code == 404
    for name in ("messaging:dev-simulate-email", "messaging:dev-simulate-sms"):
        assert client.post(reverse(name), {}).status_code == 404


def test_the_dev_outbox_shows_sent_email_with_headers_and_bcc(client, world, settings, tmp_path):
    settings.DEV_TOOLS = True
    settings.EMAIL_BACKEND = "apps.messaging.backends.DevOutboxEmailBackend"
    settings.GREENHOUSE_SANDBOX_URL = "http://127.0.0.1:9"  # nothing listens: must not matter
    sequence = three_step_sequence(team=world.team, owner=world.owner, bcc="maildrop@greenhouse.io")
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence_steps_dispatch(now=timezone.now())
    deliver_queued()
    sent = Message.objects.get()
    assert sent.status == Message.Status.SENT
    assert sent.provider_message_id.startswith("dev-")
    sms_send(sender=world.owner, prospect=world.prospect, body="Texting too")
    deliver_queued()

    client.force_login(world.owner)
    page = client.get(reverse("messaging:dev-outbox")).content.decode()
    assert "Bcc:</strong> maildrop@greenhouse.io" in page
    assert f"&lt;{sent.message_id}&gt;" in page
    assert "Reply-To:</strong> reply." in page
    assert "Quick question, Grace" in page
    assert "Texting too" in page


def test_the_simulator_delivers_an_email_reply_through_the_inbound_path(client, world, settings):
    settings.DEV_TOOLS = True
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence_steps_dispatch(now=timezone.now())
    deliver_queued()
    thread = Thread.objects.get()
    client.force_login(world.owner)
    url = reverse("messaging:dev-simulate-email")
    for match_by in ("token", "headers", "nothing"):
        data = {"thread": thread.pk, "body": f"Reply by {match_by}", "match_by": match_by}
        assert client.post(url, data).status_code == 302
    process_inbox()  # what the inbox processor task does next
    replies = Message.objects.filter(direction="inbound")
    assert sorted(r.body_text for r in replies) == ["Reply by headers", "Reply by token"]
    assert all(r.from_address == "grace@example.com" for r in replies)
    assert UnmatchedInbound.objects.get().body_text == "Reply by nothing"
    assert Enrollment.objects.get().status == Enrollment.Status.REPLIED


def test_the_simulator_posts_a_signed_sms_to_the_twilio_webhook(client, world, settings):
    settings.DEV_TOOLS = True
    client.force_login(world.owner)
    url = reverse("messaging:dev-simulate-sms")
    data = {"from_phone": world.phone.pk, "to_number": "+15005550006", "body": "STOP"}
    assert client.post(url, data).status_code == 302
    process_inbox()  # what the inbox processor task does next
    inbound = Message.objects.get()
    assert inbound.body_text == "STOP"
    assert inbound.thread.prospect == world.prospect
    world.phone.refresh_from_db()
    assert world.phone.opted_out_at is not None


def test_the_simulator_reports_a_webhook_refusal(client, world, settings):
    settings.DEV_TOOLS = True
    settings.TWILIO_AUTH_TOKEN = ""  # no token: the webhook refuses, as in production
    client.force_login(world.owner)
    data = {"from_phone": world.phone.pk, "to_number": "+15005550006", "body": "Hi"}
    response = client.post(reverse("messaging:dev-simulate-sms"), data, follow=True)
    assert "The webhook answered 403" in response.content.decode()
    assert not Message.objects.exists()


class _MaildropSandbox(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.received.append((self.path, self.headers["Content-Type"], self.rfile.read(length)))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_maildrop_bcc_copies_reach_the_harvest_sandbox(world, settings):
    settings.EMAIL_BACKEND = "apps.harvest_sandbox.backends.MaildropSandboxEmailBackend"
    server = HTTPServer(("127.0.0.1", 0), _MaildropSandbox)
    _MaildropSandbox.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.GREENHOUSE_SANDBOX_URL = f"http://127.0.0.1:{server.server_port}"
        plain = ProspectFactory(team=world.team, first_name="Alan")
        ProspectPhoneFactory(prospect=plain)
        for bcc, prospect in [("maildrop@ivy.greenhouse.io", world.prospect), ("", plain)]:
            sequence = three_step_sequence(
                team=world.team, owner=world.owner, bcc=bcc, name=f"BCC {bcc}"
            )
            prospects_enroll(sequence=sequence, prospects=[prospect], enrolled_by=world.owner)
        from tests.sequences.factories import ProspectEmailFactory

        ProspectEmailFactory(prospect=plain)
        sequence_steps_dispatch(now=timezone.now())
        deliver_queued()
    finally:
        server.shutdown()
        server.server_close()
    assert len(_MaildropSandbox.received) == 1
    path, content_type, raw = _MaildropSandbox.received[0]
    assert path == "/_sandbox/maildrop"
    assert content_type == "message/rfc822"
    assert b"To: grace@example.com" in raw
    assert b"Bcc: maildrop@ivy.greenhouse.io" in raw
    assert Message.objects.filter(status=Message.Status.SENT).count() == 2
