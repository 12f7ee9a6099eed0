"""The bot email, the pause link and its views, resuming, and the team's switches."""

from datetime import timedelta

import pytest
from django.core import mail, signing
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.bot_notice import bot_notice_send
from apps.greenhouse.models import (
    BotNotice,
    GreenhouseIntegration,
    ProspectSyncPause,
    SyncPauseEvent,
    SyncRecord,
)
from apps.greenhouse.pausing import PAUSE_SALT, pause_url
from apps.greenhouse.policy import Reason
from apps.greenhouse.switches import (
    team_note_visibility_set,
    team_sync_enable_by_support,
    team_sync_turn_off,
    team_sync_turn_on,
)
from apps.messaging.models import Channel, Thread
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import enroll_and_dispatch_all_steps, write_all
from tests.teams.factories import recruiter

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status


@pytest.fixture
def email_thread(synced, harvest_sandbox):
    enroll_and_dispatch_all_steps(synced, [synced.grace])
    deliver_queued()
    write_all()
    return Thread.objects.get(prospect=synced.grace, channel=Channel.EMAIL)


# --- The bot email -----------------------------------------------------------------------------


def test_one_bot_email_per_thread_to_the_recruiter_only_threaded_with_a_pause_link(
    synced, email_thread, anymail_outbox
):
    mail.outbox.clear()  # the sequence's own emails
    assert BotNotice.objects.filter(thread=email_thread).count() == 1

    assert bot_notice_send(thread_id=email_thread.pk) == "sent"
    assert bot_notice_send(thread_id=email_thread.pk) == "skipped"

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["rob@acme.example"] and email.cc == [] and email.bcc == []
    assert email.subject == f"Re: {email_thread.subject}"
    ids = [m.message_id for m in email_thread.messages.order_by("id")]
    assert email.extra_headers["In-Reply-To"] == f"<{ids[-1]}>"
    assert email.extra_headers["References"] == " ".join(f"<{i}>" for i in ids)
    notice = BotNotice.objects.get(thread=email_thread)
    assert email.extra_headers["Message-ID"] == f"<{notice.rfc_message_id}>"
    assert notice.status == BotNotice.Status.SENT and notice.recipient == "rob@acme.example"
    # The public-notes warning is said once, in both parts.
    assert "in both directions, as public notes.\n" in email.body
    assert email.body.count("visible to everyone with access to this candidate") == 1
    assert email.body.count("interviewers") == 1
    assert email.alternatives[0][0].count("visible to everyone with access") == 1
    assert "https://outreach.test/greenhouse/pause/" in email.body
    html = email.alternatives[0][0]
    assert "/greenhouse/pause/" in html


def test_the_bot_email_names_the_teams_visibility(synced, email_thread, anymail_outbox):
    team_note_visibility_set(team=synced.team, visibility="admin_only", by=synced.ada)
    mail.outbox.clear()
    bot_notice_send(thread_id=email_thread.pk)
    assert "admin-only notes, visible to Job Admins and Site Admins" in mail.outbox[0].body
    assert "usually including" not in mail.outbox[0].body


def test_an_sms_conversation_gets_its_own_notice(synced, harvest_sandbox, anymail_outbox):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    write_all()
    thread = Thread.objects.get(channel=Channel.SMS)
    mail.outbox.clear()
    bot_notice_send(thread_id=thread.pk)
    assert [e.subject for e in mail.outbox] == ["Greenhouse sync: SMS with Grace Hopper"]
    assert "In-Reply-To" not in mail.outbox[0].extra_headers


def test_a_batch_queues_its_threads_notices_together_and_one_already_made_stays_one(
    synced, django_capture_on_commit_callbacks
):
    """The fast path's `bot_notices_queue`: one INSERT for the batch's new threads; a thread
    given its notice meanwhile (another worker's careful path) keeps that one, and the others
    still get theirs, each queued once."""
    from unittest import mock

    from apps.greenhouse.bot_notice import bot_notice_queue, bot_notices_queue

    for prospect in (synced.grace, synced.alan, synced.katherine):
        sms_send(sender=synced.rob, prospect=prospect, body="Hi")
    threads = list(Thread.objects.order_by("pk"))
    bot_notice_queue(thread=threads[0])
    made = BotNotice.objects.get(thread=threads[0])

    with mock.patch("apps.greenhouse.tasks.bot_notice_send_task.apply_async") as apply_async:
        with django_capture_on_commit_callbacks(execute=True):
            bot_notices_queue(thread_ids=[t.pk for t in threads[1:]])
        assert sorted(c.kwargs["args"][0] for c in apply_async.call_args_list) == [
            t.pk for t in threads[1:]
        ]
        apply_async.reset_mock()
        with django_capture_on_commit_callbacks(execute=True):
            bot_notices_queue(thread_ids=[t.pk for t in threads])  # all made already
        assert apply_async.call_args_list == []

    assert BotNotice.objects.count() == 3
    assert BotNotice.objects.get(thread=threads[0]).rfc_message_id == made.rfc_message_id


def test_no_bot_email_for_a_thread_with_nothing_written(synced, harvest_sandbox):
    enroll_and_dispatch_all_steps(synced, [synced.linus])  # not in Greenhouse: skipped
    deliver_queued()
    write_all()
    assert not BotNotice.objects.exists()


# --- Pausing -----------------------------------------------------------------------------------


def link_path(prospect, recipient):
    return pause_url(prospect=prospect, recipient=recipient).removeprefix("https://outreach.test")


def test_get_shows_a_confirmation_and_changes_nothing(synced, client):
    response = client.get(link_path(synced.grace, synced.rob))
    assert response.status_code == 200
    assert b"Pause sync for Grace Hopper" in response.content and b"Acme Talent" in response.content
    assert not ProspectSyncPause.objects.exists() and not SyncPauseEvent.objects.exists()


def test_post_pauses_that_candidate_only_and_records_who_when_how(synced, harvest_sandbox):
    path = link_path(synced.grace, synced.rob)
    browser = Client(enforce_csrf_checks=True, HTTP_USER_AGENT="Mail/1.0")
    page = browser.get(path)
    response = browser.post(path, {"csrfmiddlewaretoken": page.cookies["csrftoken"].value})

    assert response.status_code == 200 and b"Sync paused for Grace Hopper" in response.content
    state = ProspectSyncPause.objects.get()
    assert state.prospect == synced.grace and state.paused and state.paused_via == "email_link"
    event = SyncPauseEvent.objects.get()
    assert (event.action, event.link_recipient, event.user_agent) == (
        "pause",
        synced.rob,
        "Mail/1.0",
    )
    assert (
        browser.post(path, {"csrfmiddlewaretoken": page.cookies["csrftoken"].value}).status_code
        == 200
    )
    assert SyncPauseEvent.objects.count() == 1  # idempotent

    for prospect in (synced.grace, synced.alan):
        sms_send(sender=synced.rob, prospect=prospect, body="After the pause")
    deliver_queued()
    grace, alan = (SyncRecord.objects.get(prospect=p) for p in (synced.grace, synced.alan))
    assert (grace.status, grace.reason) == (Status.SKIPPED, Reason.CANDIDATE_PAUSED)
    assert alan.status == Status.PENDING


def test_a_post_without_the_forms_csrf_token_is_refused(synced):
    response = Client(enforce_csrf_checks=True).post(link_path(synced.grace, synced.rob))
    assert response.status_code == 403
    assert not ProspectSyncPause.objects.exists()


@pytest.mark.parametrize(
    "token",
    ["garbage", "eyJwIjoxfQ:1v:bad"],
)
def test_a_bad_link_says_so_and_changes_nothing(synced, client, token):
    for response in (
        client.get(f"/greenhouse/pause/{token}/"),
        client.post(f"/greenhouse/pause/{token}/"),
    ):
        assert response.status_code == 400
        assert b"This link is not valid" in response.content
    assert not ProspectSyncPause.objects.exists()


def test_an_expired_link_says_so(synced, client, settings):
    settings.GREENHOUSE_PAUSE_LINK_MAX_AGE_DAYS = 1
    value = {"p": synced.grace.pk, "v": 0, "u": None}
    signer = signing.TimestampSigner(salt=PAUSE_SALT)
    three_days_ago = int(timezone.now().timestamp()) - 3 * 86400
    signer.timestamp = lambda: signing.b62_encode(three_days_ago)
    expired = signer.sign_object(value, compress=False)
    response = client.get(f"/greenhouse/pause/{expired}/")
    assert response.status_code == 400 and b"expired" in response.content


def test_after_a_resume_old_links_no_longer_pause(synced, client):
    old_path = link_path(synced.grace, synced.rob)
    client.post(old_path)
    client.force_login(synced.rob)
    response = client.post(reverse("greenhouse:prospect-resume", args=[synced.grace.pk]))
    assert response.status_code == 302
    state = ProspectSyncPause.objects.get()
    assert not state.paused and state.resume_version == 1 and state.resumed_by == synced.rob
    client.logout()

    assert client.get(old_path).status_code == 410
    response = client.post(old_path)
    assert response.status_code == 410 and b"no longer pauses" in response.content
    assert not ProspectSyncPause.objects.get().paused
    assert client.post(link_path(synced.grace, synced.rob)).status_code == 200  # a new link does
    assert ProspectSyncPause.objects.get().paused


def test_resume_is_for_members_of_the_prospects_team(synced, client):
    client.post(link_path(synced.grace, synced.rob))
    outsider = recruiter()  # another team
    client.force_login(outsider)
    url = reverse("greenhouse:prospect-resume", args=[synced.grace.pk])
    assert client.post(url).status_code == 404
    assert (
        client.get(reverse("greenhouse:prospect-sync", args=[synced.grace.pk])).status_code == 404
    )
    assert client.get(url).status_code == 405  # no GET changes state
    client.force_login(synced.ada)  # team admins can resume too
    assert client.post(url).status_code == 302
    assert not ProspectSyncPause.objects.get().paused


def test_pausing_from_the_app(synced, client):
    client.force_login(synced.rob)
    client.post(reverse("greenhouse:prospect-pause", args=[synced.grace.pk]))
    state = ProspectSyncPause.objects.get()
    assert state.paused and state.paused_via == "app" and state.paused_by == synced.rob
    page = client.get(reverse("greenhouse:prospect-sync", args=[synced.grace.pk]))
    assert b"Paused" in page.content and b"Resume sync" in page.content


# --- Team switches -----------------------------------------------------------------------------


def test_the_settings_page_is_for_team_admins(synced, client):
    client.force_login(synced.rob)
    assert client.get(reverse("greenhouse:settings")).status_code == 403
    client.force_login(synced.ada)
    page = client.get(reverse("greenhouse:settings"))
    assert page.status_code == 200
    assert b"visible to everyone with access to that candidate" in page.content


def test_turning_sync_off_skips_what_waits_and_stops_writes(synced, client, harvest_sandbox):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    client.force_login(synced.ada)
    response = client.post(
        reverse("greenhouse:settings"), {"note_visibility": "public", "confirm": "1"}
    )
    assert response.status_code == 302
    record = SyncRecord.objects.get()
    assert (record.status, record.reason) == (Status.SKIPPED, Reason.SYNC_TURNED_OFF)
    sms_send(sender=synced.rob, prospect=synced.grace, body="Later")
    deliver_queued()
    assert SyncRecord.objects.filter(reason=Reason.SYNC_TURNED_OFF).count() == 2
    assert write_all() == []

    data = {"sync_on": "on", "note_visibility": "private", "confirm": "1"}  # previewed first
    client.post(reverse("greenhouse:settings"), data)
    integration = GreenhouseIntegration.objects.get()
    assert integration.sync_on and integration.note_visibility == "private"
    assert integration.sync_on_since > record.message.created_at  # no backfill of old messages


def test_messages_from_before_sync_was_turned_on_are_skipped(synced, harvest_sandbox):
    team_sync_turn_off(team=synced.team, by=synced.ada)
    sms_send(sender=synced.rob, prospect=synced.grace, body="Before")
    team_sync_turn_on(team=synced.team, by=synced.ada)
    deliver_queued()  # sent (and recorded) after sync was turned on
    record = SyncRecord.objects.get()
    assert (record.status, record.reason) == (Status.SKIPPED, Reason.BEFORE_SYNC_ON)


def test_a_team_support_has_not_enabled_cannot_turn_sync_on(synced, harvest_sandbox):
    GreenhouseIntegration.objects.update(sync_enabled_by_support=False, sync_on=False)
    with pytest.raises(ValidationError, match="Support has not enabled"):
        team_sync_turn_on(team=synced.team, by=synced.ada)
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    assert SyncRecord.objects.get().reason == Reason.TEAM_NOT_ENABLED


def test_support_enables_sync_only_with_working_credentials(synced, harvest_sandbox):
    integration = GreenhouseIntegration.objects.get()
    GreenhouseIntegration.objects.update(sync_enabled_by_support=False)
    integration.refresh_from_db()
    harvest_sandbox.revoke_credential(harvest_sandbox.client_id)
    with pytest.raises(ValidationError, match=r"connection test failed\. Bad credentials"):
        team_sync_enable_by_support(integration=integration, by=synced.ada)
    assert not GreenhouseIntegration.objects.get().sync_enabled_by_support

    harvest_sandbox.add_credential(
        client_id=harvest_sandbox.client_id, client_secret=harvest_sandbox.client_secret
    )
    team_sync_enable_by_support(integration=integration, by=synced.ada)
    integration.refresh_from_db()
    assert integration.sync_enabled_by_support and integration.sync_enabled_by == synced.ada
    assert integration.sync_enabled_at > timezone.now() - timedelta(minutes=1)


def test_visibility_must_be_one_of_harvests(synced):
    with pytest.raises(ValidationError):
        team_note_visibility_set(team=synced.team, visibility="publicly_visible", by=synced.ada)
