"""Candidate lookups cost rate budget, so their answers are reused (apps/greenhouse/candidates.py):
against the Harvest sandbox over HTTP, counting the searches it received."""

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from apps.greenhouse.models import CandidateLink, GreenhouseIntegration, SyncAttempt, SyncRecord
from apps.greenhouse.policy import CandidateMatch, Reason, UnknownRecipients
from apps.greenhouse.switches import sync_records_retry
from tests.greenhouse.sync_helpers import write_all
from tests.greenhouse.test_candidate_gone import sms_to
from tests.sequences.factories import ProspectEmailFactory

Status = SyncRecord.Status
LINUS = "linus.unknown@example.com"


@pytest.fixture(autouse=True)
def unknown_recipients_skipped(synced):
    """The caching is the same under every team choice; these tests read it under "skip"
    (records of prospects not in Greenhouse end skipped, at once)."""
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        unknown_recipients=UnknownRecipients.SKIP
    )


def searches(sandbox) -> list[str]:
    """The addresses searched, in order."""
    return [
        parse_qs(entry["query"]).get("email", [""])[0]
        for entry in sandbox.requests(path="/v3/candidates")
        if "email" in parse_qs(entry["query"])
    ]


def test_a_found_candidate_is_never_looked_up_again(synced, harvest_sandbox):
    for n in range(3):
        sms_to(synced, synced.grace, f"Hello {n}")
    assert write_all() == ["written"] * 3
    assert searches(harvest_sandbox) == ["grace.hopper@example.com"]


def test_no_candidate_is_reused_for_the_cache_time_then_searched_again(
    synced, harvest_sandbox, settings
):
    settings.GREENHOUSE_LOOKUP_CACHE_SECONDS = 300
    for n in range(3):
        sms_to(synced, synced.linus, f"Hello {n}")
    assert write_all() == ["skipped"] * 3
    assert searches(harvest_sandbox) == [LINUS]  # one search for three records
    reasons = set(SyncRecord.objects.values_list("reason", flat=True))
    assert reasons == {Reason.NO_CANDIDATE}
    assert SyncAttempt.objects.filter(kind=SyncAttempt.Kind.LOOKUP).count() == 1

    # Linus joins Greenhouse; within the cache time his records are still not searched.
    harvest_sandbox.add_candidate(first_name="Linus", last_name="Unknown", emails=[LINUS])
    sms_to(synced, synced.linus, "Within the cache time")
    assert write_all() == ["skipped"]
    assert len(searches(harvest_sandbox)) == 1

    # Once it has passed, the next record searches again and finds him.
    CandidateLink.objects.filter(prospect=synced.linus).update(
        resolved_at=timezone.now() - timedelta(seconds=301)
    )
    sms_to(synced, synced.linus, "After the cache time")
    assert write_all() == ["written"]
    assert searches(harvest_sandbox) == [LINUS, LINUS]
    assert CandidateLink.objects.get(prospect=synced.linus).match == CandidateMatch.ONE


def test_with_no_cache_time_every_record_searches(synced, harvest_sandbox, settings):
    settings.GREENHOUSE_LOOKUP_CACHE_SECONDS = 0
    for n in range(3):
        sms_to(synced, synced.linus, f"Hello {n}")
    assert write_all() == ["skipped"] * 3
    assert searches(harvest_sandbox) == [LINUS] * 3


def test_an_address_gained_is_the_only_one_searched_and_every_address_counts(
    synced, harvest_sandbox
):
    """What the link knows is not asked again; the new address is, and two addresses that find
    two candidates make "several" (every address is searched once)."""
    sms_to(synced, synced.linus, "Hello")
    assert write_all() == ["skipped"]
    ProspectEmailFactory(prospect=synced.linus, email="linus@work.example", is_primary=False)
    harvest_sandbox.add_candidate(first_name="Linus", emails=["linus@work.example"])

    sms_to(synced, synced.linus, "Hello again")
    assert write_all() == ["written"]
    assert searches(harvest_sandbox) == [LINUS, "linus@work.example"]

    # Alan gains an address another candidate has: both addresses are searched, two found.
    ProspectEmailFactory(prospect=synced.alan, email="alan@work.example", is_primary=False)
    harvest_sandbox.add_candidate(first_name="Alan", emails=["alan@work.example"])
    sms_to(synced, synced.alan, "Hello Alan")
    assert write_all() == ["held"]
    link = CandidateLink.objects.get(prospect=synced.alan)
    assert link.match == CandidateMatch.SEVERAL and len(link.candidate_ids_seen) == 2
    assert sorted(searches(harvest_sandbox)[2:]) == ["alan.turing@example.com", "alan@work.example"]


def test_an_address_removed_searches_every_address_again(synced, harvest_sandbox):
    ProspectEmailFactory(prospect=synced.linus, email="linus@old.example", is_primary=False)
    sms_to(synced, synced.linus, "Hello")
    assert write_all() == ["skipped"]
    synced.linus.emails.filter(email="linus@old.example").delete()

    sms_to(synced, synced.linus, "Hello again")
    assert write_all() == ["skipped"]
    assert sorted(searches(harvest_sandbox)) == sorted([LINUS, "linus@old.example", LINUS])


def test_a_retry_searches_again_within_the_cache_time(synced, harvest_sandbox):
    """Several candidates: held. Support merges them in Greenhouse and retries: the retry
    looks again rather than reusing "several"."""
    duplicate = harvest_sandbox.add_candidate(
        first_name="Alan", last_name="Turing (dup)", emails=["alan.turing@example.com"]
    )
    sms_to(synced, synced.alan, "Hello Alan")
    sms_to(synced, synced.alan, "Hello again")
    assert write_all() == ["held", "held"]
    assert len(searches(harvest_sandbox)) == 1

    harvest_sandbox.delete_candidate(duplicate["id"])
    assert sync_records_retry(records=SyncRecord.objects.all()) == 2
    assert write_all() == ["written", "written"]
    assert len(searches(harvest_sandbox)) == 2
