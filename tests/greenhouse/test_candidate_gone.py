"""A 404 about one candidate is an outcome of that record, never of the connection (issue 12,
part 2): against the Harvest sandbox over HTTP, which merges and deletes candidates as Greenhouse
does (the merged-away id answers 404; the candidate it was merged into takes its emails)."""

from apps.greenhouse.models import CandidateLink, GreenhouseIntegration, SyncAttempt, SyncRecord
from apps.greenhouse.policy import Reason
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import write_all

Status = SyncRecord.Status
GRACE, ALAN, KATHERINE = (
    "grace.hopper@example.com",
    "alan.turing@example.com",
    "katherine.johnson@example.com",
)


def sms_to(world, prospect, body):
    sms_send(sender=world.rob, prospect=prospect, body=body)
    deliver_queued()
    return SyncRecord.objects.order_by("-id").first()


def api_notes(sandbox, candidate_id):
    return [
        n for n in sandbox.notes() if n["candidate_id"] == candidate_id and n["source"] == "api"
    ]


def test_a_merged_candidate_is_followed_to_its_new_id_and_the_connection_stays_healthy(
    synced, harvest_sandbox
):
    sms_to(synced, synced.grace, "First, before the merge")
    sms_to(synced, synced.alan, "Hello Alan")
    assert write_all() == ["written", "written"]
    old_id = harvest_sandbox.candidate_id(GRACE)
    assert CandidateLink.objects.get(prospect=synced.grace).candidate_id == old_id

    # In Greenhouse, Grace's candidate is merged into a newer profile of hers.
    primary = harvest_sandbox.add_candidate(
        first_name="Grace", last_name="Hopper", emails=["grace@navy.example"]
    )
    harvest_sandbox.merge_candidates(duplicate_id=old_id, into_id=primary["id"])
    after = [
        sms_to(synced, synced.grace, "Second, after the merge"),
        sms_to(synced, synced.alan, "Hello again Alan"),
        sms_to(synced, synced.katherine, "Hello Katherine"),
    ]

    assert write_all() == ["written", "written", "written"]

    grace_record = SyncRecord.objects.get(pk=after[0].pk)
    assert grace_record.candidate_id == primary["id"]
    assert CandidateLink.objects.get(prospect=synced.grace).candidate_id == primary["id"]
    bodies = [n["body"] for n in api_notes(harvest_sandbox, primary["id"])]
    assert sum("Second, after the merge" in b for b in bodies) == 1
    assert [a.http_status for a in grace_record.attempts_log.filter(kind="post")] == [404, 201]
    assert all(r.status == Status.WRITTEN for r in SyncRecord.objects.all())
    synced.integration.refresh_from_db()
    assert synced.integration.health == GreenhouseIntegration.Health.OK
    assert synced.integration.last_error == ""


def test_a_deleted_candidate_skips_only_its_own_record_with_a_plain_reason(synced, harvest_sandbox):
    sms_to(synced, synced.alan, "Before the deletion")
    assert write_all() == ["written"]
    harvest_sandbox.delete_candidate(harvest_sandbox.candidate_id(ALAN))
    alan = sms_to(synced, synced.alan, "After the deletion")
    grace = sms_to(synced, synced.grace, "Hello Grace")
    katherine = sms_to(synced, synced.katherine, "Hello Katherine")

    outcomes = write_all()

    alan.refresh_from_db()
    assert (alan.status, alan.reason) == (Status.SKIPPED, Reason.CANDIDATE_GONE)
    assert alan.explanation.startswith("The Greenhouse candidate was merged away or deleted")
    assert alan.post_started_at is None  # Greenhouse wrote nothing: no read-back ever needed
    assert sorted(outcomes) == ["skipped", "written", "written"]
    for record in (grace, katherine):
        record.refresh_from_db()
        assert record.status == Status.WRITTEN
    synced.integration.refresh_from_db()
    assert synced.integration.health == GreenhouseIntegration.Health.OK
    # The next message of a prospect whose candidate is gone is looked up again, not reused.
    assert CandidateLink.objects.get(prospect=synced.alan).candidate_id is None


def test_a_stale_cached_candidate_id_is_looked_up_again_by_email(synced, harvest_sandbox):
    """The link cached an id Greenhouse no longer has (404): the record drops it, finds the
    candidate by email and writes there; the other records and the connection are untouched."""
    grace_id = harvest_sandbox.candidate_id(GRACE)
    sms_to(synced, synced.grace, "Before")
    assert write_all() == ["written"]
    grace = sms_to(synced, synced.grace, "After")
    alan = sms_to(synced, synced.alan, "Alan goes on")
    CandidateLink.objects.filter(prospect=synced.grace).update(candidate_id=987654)

    write_all()

    grace.refresh_from_db()
    alan.refresh_from_db()
    assert (grace.status, grace.candidate_id) == (Status.WRITTEN, grace_id)
    assert alan.status == Status.WRITTEN
    assert SyncAttempt.objects.filter(record=grace, kind="post", http_status=404).count() == 1
    synced.integration.refresh_from_db()
    assert synced.integration.health == GreenhouseIntegration.Health.OK
