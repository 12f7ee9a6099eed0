"""Backfill (issue 15, item 4): the dry run counts with the policy what the run then writes,
exactly once, with the reason saying so; the pages are the team admins' only.

The sandbox is a real Harvest v3 server over HTTP; the workers' service is called in-process
(the worker-process run is test_backfill_worker.py)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.greenhouse.backfill import PAUSED_WHEN_SENT, backfill_plan, backfill_run, backfill_until
from apps.greenhouse.backfill_progress import backfill_progress, backfills_finish
from apps.greenhouse.models import Backfill, PauseVia, SyncRecord
from apps.greenhouse.pausing import prospect_sync_pause, prospect_sync_resume
from apps.greenhouse.policy import Reason
from apps.greenhouse.switches import team_sync_turn_off, team_sync_turn_on
from apps.messaging.models import Channel, Thread
from apps.messaging.outbound import sms_send, thread_reply_create
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import our_notes, write_all
from tests.sequences.factories import ProspectFactory
from tests.teams.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status
GRACE, ALAN = "grace.hopper@example.com", "alan.turing@example.com"


def sms(world, prospect, body):
    sms_send(sender=world.rob, prospect=prospect, body=body)
    deliver_queued()


def messages_while_sync_was_off(world):
    """Every prospect looked up while sync was on (one note each), then sync off and: two SMS
    to Grace, one to Alan while paused and one after, an email to Katherine outside a sequence,
    an SMS to Linus (whom Greenhouse does not know); then sync on again."""
    for prospect in (world.grace, world.alan, world.katherine, world.linus):
        sms(world, prospect, "While sync was on")
    write_all()
    team_sync_turn_off(team=world.team, by=world.ada)
    sms(world, world.grace, "Off 1")
    sms(world, world.grace, "Off 2")
    prospect_sync_pause(prospect=world.alan, via=PauseVia.APP, by=world.rob)
    sms(world, world.alan, "Sent while paused")
    prospect_sync_resume(prospect=world.alan, by=world.rob)
    sms(world, world.alan, "Sent after the resume")
    other = Thread.objects.create(
        team=world.team,
        prospect=world.katherine,
        owner=world.rob,
        channel=Channel.EMAIL,
        subject="Coffee?",
    )
    thread_reply_create(thread=other, sender=world.rob, body="Coffee next week?")
    deliver_queued()
    sms(world, world.linus, "Off, to someone Greenhouse does not know")
    integration = team_sync_turn_on(team=world.team, by=world.ada)
    assert (
        SyncRecord.objects.filter(reason=Reason.SYNC_TURNED_OFF).count() == 7
    )  # Linus's first SMS waited for a candidate: switched off too
    return integration


def plan_of(world, integration, days=7):
    until = backfill_until(integration=integration)
    return backfill_plan(
        team=world.team, since=until - timedelta(days=days), until=until, window_label="7 days"
    )


def test_the_dry_run_counts_what_the_run_writes_once_with_the_reason_saying_so(
    synced, harvest_sandbox
):
    integration = messages_while_sync_was_off(synced)
    notes_before = len(harvest_sandbox.notes())

    plan = plan_of(synced, integration)

    rows = {row.prospect.first_name: row for row in plan.rows}
    assert (rows["Grace"].write, rows["Alan"].write, rows["Katherine"].write) == (2, 1, 0)
    assert rows["Linus"].write == 0 and not plan.after_lookup  # every prospect was looked up
    assert rows["Alan"].skip == {PAUSED_WHEN_SENT: 1}
    assert rows["Katherine"].skip == {Reason.NOT_SEQUENCE_THREAD: 1}
    assert plan.write == 3
    assert len(harvest_sandbox.notes()) == notes_before  # a dry run writes nothing
    assert not Backfill.objects.exists()
    assert SyncRecord.objects.filter(reason=Reason.SYNC_TURNED_OFF).count() == 7

    until = backfill_until(integration=integration)
    backfill = backfill_run(
        team=synced.team,
        by=synced.ada,
        since=until - timedelta(days=7),
        until=until,
        window_label="7 days",
    )
    assert backfill.released == plan.write == 3
    assert backfill.counts["write"] == 3
    progress = backfill_progress(backfill=backfill)
    assert (progress.waiting, progress.written) == (3, 0) and progress.eta is not None

    outcomes = write_all()

    assert outcomes.count("written") == plan.write
    assert len(harvest_sandbox.notes()) == notes_before + plan.write
    bodies = [n["body"] for n in our_notes(harvest_sandbox, GRACE)]
    assert sum("Off " in body for body in bodies) == 2
    assert not any("Sent while paused" in n["body"] for n in our_notes(harvest_sandbox, ALAN))
    record = SyncRecord.objects.get(message__body_text="Off 1")
    assert (record.status, record.reason, record.backfill_id) == (
        Status.WRITTEN,
        Reason.SMS,
        backfill.pk,
    )
    assert "Written by a backfill started by Ada" in record.explanation
    progress = backfill_progress(backfill=backfill)
    assert (progress.waiting, progress.written, progress.eta) == (3 - 3, 3, None)
    assert backfills_finish() == 1

    # Again: nothing new to write, and nothing is written twice.
    again = plan_of(synced, integration)
    assert again.write == 0
    second = backfill_run(
        team=synced.team,
        by=synced.ada,
        since=until - timedelta(days=7),
        until=until,
        window_label="7 days",
    )
    assert second.released == 0 and second.status == Backfill.Status.FINISHED
    assert write_all().count("written") == 0
    assert len(harvest_sandbox.notes()) == notes_before + 3


def test_a_window_that_ends_before_the_messages_takes_none(synced, harvest_sandbox):
    integration = messages_while_sync_was_off(synced)
    until = backfill_until(integration=integration)
    plan = backfill_plan(
        team=synced.team,
        since=until - timedelta(days=7),
        until=until - timedelta(minutes=10),
        window_label="old",
    )
    assert plan.looked_at == 0 and plan.write == 0


def test_a_prospect_linked_late_is_offered_and_backfilled_alone(synced, harvest_sandbox, client):
    # Linus is not in Greenhouse: his SMS is skipped (or waits) for having no candidate.
    sms(synced, synced.linus, "Before he was in Greenhouse")
    sms(synced, synced.grace, "Grace, synced as usual")
    write_all()
    linus_record = SyncRecord.objects.get(prospect=synced.linus)
    assert linus_record.status != Status.WRITTEN
    # Then he is added to Greenhouse and linked (what the review queue or a re-lookup does).
    SyncRecord.objects.filter(pk=linus_record.pk).update(
        status=Status.SKIPPED, reason=Reason.NO_CANDIDATE
    )
    candidate = harvest_sandbox.add_candidate(
        first_name="Linus", last_name="Unknown", emails=["linus.unknown@example.com"]
    )
    from apps.greenhouse.models import CandidateLink

    CandidateLink.objects.filter(prospect=synced.linus).update(
        match="one", candidate_id=candidate["id"], resolved_at=timezone.now()
    )
    client.force_login(synced.ada)
    page = client.get(f"/prospects/{synced.linus.pk}/").content.decode()
    assert f"/prospects/{synced.linus.pk}/sync/backfill/" in page
    dry = client.get(f"/prospects/{synced.linus.pk}/sync/backfill/", {"window": "30"})
    assert dry.status_code == 200 and dry.context["plan"].write == 1
    response = client.post(
        "/team/greenhouse/sync/backfill/run/", {"window": "30", "prospect": synced.linus.pk}
    )
    backfill = Backfill.objects.get()
    assert response.status_code == 302
    assert response.url == f"/team/greenhouse/sync/backfill/{backfill.pk}/"
    assert (backfill.scope, backfill.prospect, backfill.released) == ("prospect", synced.linus, 1)
    assert write_all().count("written") == 1
    notes = [n for n in harvest_sandbox.notes() if n["candidate_id"] == candidate["id"]]
    assert len(notes) == 1 and "Before he was in Greenhouse" in notes[0]["body"]
    page = client.get(f"/prospects/{synced.linus.pk}/sync/").content.decode()
    assert "Written by a backfill started by Ada" in page
    detail = client.get(f"/team/greenhouse/sync/backfill/{backfill.pk}/").content.decode()
    assert "data-done>1<" in detail and "data-waiting>0<" in detail


# --- Access ----------------------------------------------------------------------------------


def test_only_team_admins_of_the_team_reach_backfills_and_a_get_changes_nothing(
    synced, harvest_sandbox
):
    integration = messages_while_sync_was_off(synced)
    admin, recruiter = Client(enforce_csrf_checks=True), Client()
    admin.force_login(synced.ada)
    recruiter.force_login(synced.rob)
    state = list(SyncRecord.objects.order_by("pk").values_list("status", "reason", "backfill"))

    page = admin.get("/team/greenhouse/sync/backfill/", {"window": "7"})
    assert page.status_code == 200 and page.context["plan"].write == 3
    assert b"data-plan-rows" in page.content
    assert admin.get("/team/greenhouse/sync/backfill/", {"window": "date"}).status_code == 400
    assert list(SyncRecord.objects.order_by("pk").values_list("status", "reason", "backfill")) == (
        state
    )
    assert not Backfill.objects.exists()
    token = admin.get("/team/greenhouse/sync/backfill/").cookies["csrftoken"].value
    dry_post = {"window": "7", "csrfmiddlewaretoken": token}
    assert admin.post("/team/greenhouse/sync/backfill/", dry_post).status_code == 405

    # The run: POST with CSRF only, by an admin only.
    assert admin.post("/team/greenhouse/sync/backfill/run/", {"window": "7"}).status_code == 403
    assert recruiter.get("/team/greenhouse/sync/backfill/", {"window": "7"}).status_code == 403
    assert recruiter.post("/team/greenhouse/sync/backfill/run/", {"window": "7"}).status_code == 403
    assert admin.get("/team/greenhouse/sync/backfill/run/").status_code == 405
    assert not Backfill.objects.exists()
    response = admin.post(
        "/team/greenhouse/sync/backfill/run/", {"window": "7", "csrfmiddlewaretoken": token}
    )
    backfill = Backfill.objects.get()
    assert response.status_code == 302 and backfill.released == 3
    assert backfill.requested_by == synced.ada and backfill.until == backfill_until(
        integration=integration
    )

    # Another team's admin: 404 for the backfill and for the prospect, nothing run.
    other_team = TeamFactory(slug="other")
    other_admin = UserFactory(username="eve")
    MembershipFactory(team=other_team, user=other_admin, role="admin")
    eve = Client()
    eve.force_login(other_admin)
    assert eve.get(f"/team/greenhouse/sync/backfill/{backfill.pk}/").status_code == 404
    assert eve.get(f"/prospects/{synced.grace.pk}/sync/backfill/").status_code == 404
    response = eve.post(
        "/team/greenhouse/sync/backfill/run/", {"window": "7", "prospect": synced.grace.pk}
    )
    assert response.status_code == 404
    foreign = ProspectFactory(team=other_team)
    assert admin.get(f"/prospects/{foreign.pk}/sync/backfill/").status_code == 404
    assert Backfill.objects.count() == 1


def test_the_sync_settings_page_offers_a_backfill_once_sync_is_on(synced, harvest_sandbox):
    admin = Client()
    admin.force_login(synced.ada)
    assert b"data-backfill-offer" not in admin.get("/team/greenhouse/sync/").content
    messages_while_sync_was_off(synced)
    page = admin.get("/team/greenhouse/sync/").content.decode()
    assert "data-backfill-offer" in page and "/team/greenhouse/sync/backfill/" in page
    team_sync_turn_off(team=synced.team, by=synced.ada)
    page = admin.get("/team/greenhouse/sync/backfill/", {"window": "7"})
    assert page.context["plan"] is None and b"turn the sync on first" in page.content


def test_a_message_from_before_sync_on_is_written_after_a_backfill_saying_so(
    synced, harvest_sandbox
):
    sms(synced, synced.grace, "Dated before sync was on")
    record = SyncRecord.objects.get(prospect=synced.grace)
    integration = synced.integration
    integration.refresh_from_db()
    record.message.__class__.objects.filter(pk=record.message_id).update(
        created_at=integration.sync_on_since - timedelta(hours=1)
    )
    assert write_all() == ["skipped"]  # the writer's policy: before sync was on
    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.SKIPPED, Reason.BEFORE_SYNC_ON)

    until = backfill_until(integration=integration)
    backfill = backfill_run(
        team=synced.team,
        by=synced.ada,
        since=until - timedelta(days=1),
        until=until,
        window_label="1 day",
    )
    assert backfill.released == 1
    assert write_all() == ["written"]
    record.refresh_from_db()
    assert (record.status, record.reason, record.backfill) == (Status.WRITTEN, Reason.SMS, backfill)
    when = f"{timezone.localtime(backfill.created_at):%Y-%m-%d %H:%M}"
    assert record.explanation == (
        "An SMS sent or received on a recruiter's virtual number. Written by a backfill started "
        f"by {synced.ada.get_full_name()} on {when}: the message is from before it could be synced."
    )
    [note] = our_notes(harvest_sandbox, GRACE)
    assert "Dated before sync was on" in note["body"]


def test_support_reads_backfills_in_the_admin_and_cannot_change_them(
    synced, harvest_sandbox, staff_client
):
    integration = messages_while_sync_was_off(synced)
    until = backfill_until(integration=integration)
    backfill = backfill_run(
        team=synced.team, by=synced.ada, since=until - timedelta(days=7), until=until,
        window_label="7 days",
    )  # fmt: skip
    listing = staff_client.get("/admin/greenhouse/backfill/")
    assert listing.status_code == 200 and b"7 days" in listing.content
    change = staff_client.get(f"/admin/greenhouse/backfill/{backfill.pk}/change/")
    assert change.status_code == 200 and b"3 waiting" in change.content
    assert staff_client.get("/admin/greenhouse/backfill/add/").status_code == 403
    response = staff_client.post(
        f"/admin/greenhouse/backfill/{backfill.pk}/change/", {"window_label": "changed"}
    )
    assert response.status_code == 403
    backfill.refresh_from_db()
    assert backfill.window_label == "7 days"


def test_prospects_never_looked_up_are_looked_up_on_request_and_then_counted_exactly(
    synced, harvest_sandbox
):
    team_sync_turn_off(team=synced.team, by=synced.ada)
    sms(synced, synced.grace, "Grace, never looked up")
    sms(synced, synced.linus, "Linus, never looked up")
    team_sync_turn_on(team=synced.team, by=synced.ada)
    admin = Client()
    admin.force_login(synced.ada)

    plan = admin.get("/team/greenhouse/sync/backfill/", {"window": "7"}).context["plan"]
    assert (plan.write, plan.after_lookup) == (2, 2)  # not knowable without Greenhouse
    assert admin.get("/team/greenhouse/sync/backfill/lookup/").status_code == 405
    recruiter = Client()
    recruiter.force_login(synced.rob)
    assert recruiter.post(
        "/team/greenhouse/sync/backfill/lookup/", {"window": "7"}
    ).status_code == (403)
    assert not harvest_sandbox.notes()

    response = admin.post("/team/greenhouse/sync/backfill/lookup/", {"window": "7"})
    assert response.status_code == 302
    assert response.url == "/team/greenhouse/sync/backfill/?window=7"
    plan = admin.get(response.url).context["plan"]
    rows = {row.prospect.first_name: row for row in plan.rows}
    assert (plan.write, plan.after_lookup) == (1, 0)
    assert (rows["Grace"].write, rows["Linus"].write) == (1, 0)
    assert sum(rows["Linus"].skip.values()) + sum(rows["Linus"].wait.values()) == 1
    assert not harvest_sandbox.notes()  # looking up writes nothing

    admin.post("/team/greenhouse/sync/backfill/run/", {"window": "7"})
    assert Backfill.objects.get().released == 1
    assert write_all().count("written") == plan.write
    assert len(our_notes(harvest_sandbox, GRACE)) == 1
