"""Sync plus a Maildrop BCC on the same sequence: the team's choice (skip the sync note, the
default, or write both) is honoured when notes are written, and every page where a Maildrop BCC
is set or used warns while the sync is on, with the privacy consequence stated.

The sandbox is a real Harvest v3 server over HTTP (its Maildrop imitation logs BCC'd copies).
"""

from html import unescape

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.models import GreenhouseIntegration, MaildropOverlap, SyncRecord
from apps.greenhouse.policy import EXPLANATIONS, Reason
from apps.greenhouse.switches import team_maildrop_overlap_set, team_sync_turn_off
from apps.messaging.models import Channel, Message, Thread
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.services import prospects_enroll
from apps.teams.bcc import GREENHOUSE_MAILDROP
from tests.fixtures.messaging import deliver_queued, three_step_sequence
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import (
    email_reply,
    enroll_and_dispatch_all_steps,
    our_notes,
    write_all,
)

Status = SyncRecord.Status
GRACE, ALAN = "grace.hopper@example.com", "alan.turing@example.com"
PUBLIC_REGARDLESS = "whatever visibility your team chose"
NOT_PRIVATE = "does not make Maildrop's copy private"


def choose(world, choice):
    team_maildrop_overlap_set(team=world.team, choice=choice, by=world.ada)
    world.integration.refresh_from_db()


def maildrop_sequence(world, **kwargs):
    return three_step_sequence(team=world.team, owner=world.rob, bcc=GREENHOUSE_MAILDROP, **kwargs)


# --- The choice, honoured at write time (in-process) ---------------------------------------------


@pytest.mark.django_db
def test_by_default_emails_bccd_to_maildrop_get_no_sync_note_but_replies_do(
    synced, harvest_sandbox
):
    assert synced.integration.maildrop_overlap == MaildropOverlap.SKIP_SYNC_NOTE
    enroll_and_dispatch_all_steps(synced, [synced.grace], sequence=maildrop_sequence(synced))
    deliver_queued()
    thread = Thread.objects.get(prospect=synced.grace, channel=Channel.EMAIL)
    reply = email_reply(thread, text="Interested!")

    write_all()

    outbound = SyncRecord.objects.filter(thread=thread, direction=Message.Direction.OUTBOUND)
    assert [(r.status, r.reason) for r in outbound] == [(Status.SKIPPED, Reason.MAILDROP_BCC)] * 3
    reply.refresh_from_db()
    assert reply.sync_record.status == Status.WRITTEN  # Maildrop never sees the reply
    assert [n["id"] for n in our_notes(harvest_sandbox, GRACE)] == [reply.sync_record.note_id]


@pytest.mark.django_db
def test_write_both_writes_the_sync_note_of_emails_bccd_to_maildrop(synced, harvest_sandbox):
    choose(synced, MaildropOverlap.WRITE_BOTH)
    enroll_and_dispatch_all_steps(synced, [synced.grace], sequence=maildrop_sequence(synced))
    deliver_queued()

    assert write_all().count("written") == 3
    assert len(our_notes(harvest_sandbox, GRACE)) == 3


@pytest.mark.django_db
def test_a_choice_made_while_records_wait_applies_to_them(synced, harvest_sandbox):
    choose(synced, MaildropOverlap.WRITE_BOTH)
    enroll_and_dispatch_all_steps(synced, [synced.grace], sequence=maildrop_sequence(synced))
    enroll_and_dispatch_all_steps(synced, [synced.alan])  # no BCC
    deliver_queued()
    assert SyncRecord.objects.filter(status=Status.PENDING).count() == 6

    choose(synced, MaildropOverlap.SKIP_SYNC_NOTE)
    write_all()

    grace = SyncRecord.objects.filter(prospect=synced.grace)
    assert {(r.status, r.reason) for r in grace} == {(Status.SKIPPED, Reason.MAILDROP_BCC)}
    alan = SyncRecord.objects.filter(prospect=synced.alan)
    assert {r.status for r in alan} == {Status.WRITTEN}  # emails without the BCC: untouched
    assert our_notes(harvest_sandbox, GRACE) == []


@pytest.mark.django_db
def test_an_unknown_choice_is_refused_and_changes_nothing(synced):
    with pytest.raises(ValidationError):
        team_maildrop_overlap_set(team=synced.team, choice="both", by=synced.ada)
    synced.integration.refresh_from_db()
    assert synced.integration.maildrop_overlap == MaildropOverlap.SKIP_SYNC_NOTE


# --- The sync settings page -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_team_admin_chooses_on_the_sync_settings_with_the_consequence_stated(
    client, synced, harvest_sandbox
):
    sequence = maildrop_sequence(synced, name="Maildrop sequence")
    client.force_login(synced.ada)
    url = reverse("greenhouse:settings")
    page = unescape(client.get(url).content.decode())
    assert "Skip the sync note for emails BCC'd to Maildrop" in page
    assert PUBLIC_REGARDLESS in page and NOT_PRIVATE in page
    assert "Maildrop sequence" in page
    assert reverse("sequences:sequence-detail", args=[sequence.pk]) in page

    data = {"sync_on": "on", "note_visibility": "private", "maildrop_overlap": "write_both"}
    response = client.post(url, {**data, "confirm": "1"})  # the visibility is previewed first
    assert response.status_code == 302
    integration = GreenhouseIntegration.objects.get(pk=synced.integration.pk)
    assert integration.maildrop_overlap == MaildropOverlap.WRITE_BOTH
    assert integration.sync_changed_by == synced.ada

    response = client.post(url, {**data, "maildrop_overlap": "everything"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    integration.refresh_from_db()
    assert integration.maildrop_overlap == MaildropOverlap.WRITE_BOTH


@pytest.mark.django_db
def test_a_recruiter_cannot_change_the_choice(client, synced):
    client.force_login(synced.rob)
    data = {"sync_on": "on", "note_visibility": "public", "maildrop_overlap": "write_both"}
    assert client.post(reverse("greenhouse:settings"), data).status_code == 403
    synced.integration.refresh_from_db()
    assert synced.integration.maildrop_overlap == MaildropOverlap.SKIP_SYNC_NOTE


def test_the_maildrop_reason_is_explained_in_plain_words():
    assert "Maildrop" in EXPLANATIONS[Reason.MAILDROP_BCC]


# --- Warnings where the BCC is set or used ------------------------------------------------------


def overlap_warning(html: str) -> str:
    html = unescape(html)
    start = html.find("data-maildrop-overlap")
    return html[start : html.find("</div>", start)] if start >= 0 else ""


@pytest.mark.django_db
def test_the_team_default_bcc_page_warns_while_sync_is_on(client, synced):
    client.force_login(synced.ada)
    url = reverse("teams:settings")
    client.post(url, {"choice": GREENHOUSE_MAILDROP, "confirm": "1"})
    synced.team.refresh_from_db()
    assert synced.team.default_bcc == GREENHOUSE_MAILDROP

    warning = overlap_warning(client.get(url).content.decode())
    assert "New sequences will BCC Greenhouse Maildrop while the activity sync is on" in warning
    assert PUBLIC_REGARDLESS in warning and NOT_PRIVATE in warning
    assert reverse("greenhouse:settings") in warning

    team_sync_turn_off(team=synced.team, by=synced.ada)
    assert overlap_warning(client.get(url).content.decode()) == ""


@pytest.mark.django_db
def test_the_team_default_bcc_page_says_what_a_maildrop_choice_would_do(client, synced):
    client.force_login(synced.ada)
    warning = overlap_warning(client.get(reverse("teams:settings")).content.decode())
    assert "If you BCC a Greenhouse Maildrop address here" in warning


@pytest.mark.django_db
def test_a_sequence_with_a_maildrop_bcc_warns_on_its_page_and_its_enrollment_page(client, synced):
    sequence = maildrop_sequence(synced)
    client.force_login(synced.rob)

    detail = client.get(reverse("sequences:sequence-detail", args=[sequence.pk])).content.decode()
    enroll = client.get(reverse("sequences:sequence-enroll", args=[sequence.pk])).content.decode()

    assert "This sequence BCCs Greenhouse Maildrop while the activity sync is on" in (
        overlap_warning(detail)
    )
    warning = overlap_warning(enroll)
    assert "this sequence BCCs Greenhouse Maildrop and the activity sync is on" in warning
    assert PUBLIC_REGARDLESS in warning and NOT_PRIVATE in warning
    assert "A team admin can change this" in warning  # Rob is a recruiter


@pytest.mark.django_db
def test_no_maildrop_warning_on_enrollment_without_the_bcc_or_without_sync(client, synced):
    plain = three_step_sequence(team=synced.team, owner=synced.rob, name="Plain")
    with_bcc = maildrop_sequence(synced)
    client.force_login(synced.rob)

    page = client.get(reverse("sequences:sequence-enroll", args=[plain.pk])).content.decode()
    assert overlap_warning(page) == ""

    team_sync_turn_off(team=synced.team, by=synced.ada)
    for sequence in (plain, with_bcc):
        for name in ("sequences:sequence-enroll", "sequences:sequence-detail"):
            html = client.get(reverse(name, args=[sequence.pk])).content.decode()
            assert overlap_warning(html) == ""


# --- A real worker: Maildrop logs its copy, the sync follows the team's choice -------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_with_a_worker_skip_leaves_maildrops_copy_alone_and_write_both_adds_the_note(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    from tests.greenhouse.test_sync_acceptance import worker_env

    celery_worker_factory(
        concurrency=1,
        extra_env=worker_env(
            settings,
            EMAIL_BACKEND="apps.harvest_sandbox.backends.MaildropSandboxEmailBackend",
            GREENHOUSE_SANDBOX_URL=harvest_sandbox.url,
        ),
    )
    sequence = maildrop_sequence(synced)

    def first_step(prospect):
        prospects_enroll(sequence=sequence, prospects=[prospect], enrolled_by=synced.rob)
        sequence_steps_dispatch(now=timezone.now())
        return Message.objects.get(thread__prospect=prospect, direction="outbound")

    def maildrop_notes(email):
        candidate_id = harvest_sandbox.candidate_id(email)
        return [
            n
            for n in harvest_sandbox.notes()
            if n["candidate_id"] == candidate_id and n["source"] == "maildrop"
        ]

    # Skip (the default): Maildrop's copy only.
    message = first_step(synced.grace)
    wait_for(
        lambda: SyncRecord.objects.filter(message=message, status=Status.SKIPPED).exists(),
        message="the sync record of the Maildrop email was not skipped",
    )
    wait_for(lambda: len(maildrop_notes(GRACE)) == 1, message="Maildrop logged no copy")
    record = SyncRecord.objects.get(message=message)
    assert record.reason == Reason.MAILDROP_BCC and record.note_id is None
    assert our_notes(harvest_sandbox, GRACE) == []
    assert maildrop_notes(GRACE)[0]["visibility"] == "publicly_visible"

    # Write both: Maildrop's copy and the sync note.
    choose(synced, MaildropOverlap.WRITE_BOTH)
    message = first_step(synced.alan)
    wait_for(
        lambda: SyncRecord.objects.filter(message=message, status=Status.WRITTEN).exists(),
        message="the sync note was not written",
    )
    wait_for(lambda: len(maildrop_notes(ALAN)) == 1, message="Maildrop logged no copy")
    notes = our_notes(harvest_sandbox, ALAN)
    assert [n["id"] for n in notes] == [SyncRecord.objects.get(message=message).note_id]
