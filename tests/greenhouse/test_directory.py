"""The team's candidate directory (apps/greenhouse/directory.py), against the Harvest sandbox
over HTTP: crawls over several cursor pages, incremental refreshes by `updated_at=gte|…`, merged
candidates dropped, hashes only, answers with no request, a crash resumed, the budget kept."""

import time
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.db import connection
from django.utils import timezone

from apps.greenhouse import directory
from apps.greenhouse.directory import (
    address_digest,
    directories_sweep,
    directory_advance,
    directory_pass_run,
    directory_refresh_if_stale,
)
from apps.greenhouse.models import (
    CandidateDirectory,
    CandidateLink,
    DirectoryEntry,
    DirectoryFetch,
    SyncAttempt,
    SyncRecord,
)
from apps.greenhouse.policy import CandidateMatch
from tests.greenhouse.sync_helpers import add_prospect, write_all
from tests.greenhouse.test_candidate_gone import sms_to

Status = SyncRecord.Status


@pytest.fixture
def on(settings):
    settings.GREENHOUSE_DIRECTORY_ENABLED = True
    settings.GREENHOUSE_DIRECTORY_FRESH_SECONDS = 60.0
    return settings


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 3 candidates, so a crawl of a dozen takes several."""
    monkeypatch.setattr(directory, "MAX_PER_PAGE", 3)
    return 3


def listings(sandbox) -> list[dict]:
    """The /v3/candidates requests that were not searches by address, as parsed queries."""
    return [
        parse_qs(entry["query"])
        for entry in sandbox.requests(path="/v3/candidates")
        if "email" not in parse_qs(entry["query"])
    ]


def searches(sandbox) -> list[str]:
    return [
        parse_qs(entry["query"])["email"][0]
        for entry in sandbox.requests(path="/v3/candidates")
        if "email" in parse_qs(entry["query"])
    ]


def crawl(world) -> str:
    outcome = directory_pass_run(team_id=world.team.pk)
    assert outcome == "done"
    return outcome


def ids_for(world, address: str) -> set[int]:
    return set(
        DirectoryEntry.objects.filter(team=world.team, digest=address_digest(address)).values_list(
            "candidate_id", flat=True
        )
    )


def make_stale(world) -> None:
    CandidateDirectory.objects.filter(pk=world.team.pk).update(
        refreshed_at=timezone.now() - timedelta(seconds=61)
    )


def test_a_crawl_follows_every_cursor_page_with_the_cursor_alone(
    synced, harvest_sandbox, on, small_pages
):
    for n in range(8):
        harvest_sandbox.add_candidate(first_name="C", last_name=str(n), emails=[f"c{n}@x.example"])
    total = len(harvest_sandbox.candidates())  # 3 demo candidates + 8
    crawl(synced)

    pages = listings(harvest_sandbox)
    assert len(pages) == -(-total // 3) == 4
    assert pages[0] == {"per_page": ["3"]}
    for later in pages[1:]:
        assert list(later) == ["cursor"]  # Harvest refuses a cursor with other parameters
    state = CandidateDirectory.objects.get(pk=synced.team.pk)
    assert state.complete and state.pass_kind == "" and state.next_url == ""
    assert state.refreshed_at is not None and state.crawled_at == state.refreshed_at
    assert DirectoryEntry.objects.filter(team=synced.team).count() == total
    assert ids_for(synced, "c5@x.example") == {harvest_sandbox.candidate_id("c5@x.example")}
    fetches = DirectoryFetch.objects.filter(team=synced.team, kind="crawl")
    assert [f.outcome for f in fetches] == ["ok"] * 4
    assert sum(f.candidates for f in fetches) == total


def test_only_keyed_hashes_are_stored_never_an_address(synced, harvest_sandbox, on):
    harvest_sandbox.add_candidate(first_name="Ada", emails=["Ada.Lovelace@Example.com "])
    crawl(synced)
    digest = address_digest("ada.lovelace@example.com")
    assert digest == address_digest("  ADA.LOVELACE@example.COM")  # normalised first
    assert len(digest) == 64 and digest != address_digest("ada@example.com")
    assert ids_for(synced, "ada.lovelace@example.com")
    # No address, nor any part of one, in any directory table, read raw from the database.
    with connection.cursor() as cursor:
        for table in ("candidatedirectory", "directoryentry", "directoryfetch"):
            cursor.execute(f"SELECT * FROM greenhouse_{table}")  # noqa: S608  (fixed names)
            text = repr(cursor.fetchall()).lower()
            assert "@" not in text and "lovelace" not in text and "hopper" not in text


def test_a_fresh_directory_answers_with_no_request(synced, harvest_sandbox, on):
    crawl(synced)
    before = len(harvest_sandbox.requests(path="/v3/candidates"))
    sms_to(synced, synced.grace, "Hello Grace")
    sms_to(synced, synced.alan, "Hello Alan")
    sms_to(synced, synced.linus, "Hello Linus")  # not in Greenhouse: waits for the candidate
    assert sorted(write_all()) == ["held", "written", "written"]

    assert len(harvest_sandbox.requests(path="/v3/candidates")) == before
    assert searches(harvest_sandbox) == []
    link = CandidateLink.objects.get(prospect=synced.grace)
    assert link.match == CandidateMatch.ONE
    assert link.source == CandidateLink.Source.DIRECTORY
    assert link.candidate_id == harvest_sandbox.candidate_id("grace.hopper@example.com")
    linus = CandidateLink.objects.get(prospect=synced.linus)
    assert linus.match == CandidateMatch.NONE
    # No external step, so no log row of a lookup.
    assert not SyncAttempt.objects.filter(kind=SyncAttempt.Kind.LOOKUP).exists()


def test_a_stale_directory_is_refreshed_once_for_every_prospect_of_the_team(
    synced, harvest_sandbox, on
):
    crawl(synced)
    make_stale(synced)
    # A candidate created in Greenhouse after the crawl: only the refresh can know of him.
    harvest_sandbox.add_candidate(first_name="Linus", emails=["linus.unknown@example.com"])
    for prospect in (synced.grace, synced.alan, synced.katherine, synced.linus):
        sms_to(synced, prospect, "Hello")
    assert write_all() == ["written"] * 4

    refreshes = listings(harvest_sandbox)[1:]
    assert len(refreshes) == 1  # one request answered for all four prospects
    assert refreshes[0].get("updated_at", [""])[0].startswith("gte|") and "per_page" in refreshes[0]
    assert searches(harvest_sandbox) == []
    assert CandidateLink.objects.get(prospect=synced.linus).match == CandidateMatch.ONE
    # The record that refreshed logs its lookup; the others had no external step.
    lookups = SyncAttempt.objects.filter(kind=SyncAttempt.Kind.LOOKUP)
    assert [a.outcome for a in lookups] == [SyncAttempt.Outcome.OK]


def test_a_refresh_picks_up_a_new_candidate_and_an_added_address(synced, harvest_sandbox, on):
    on.GREENHOUSE_DIRECTORY_FRESH_SECONDS = 1.0
    on.GREENHOUSE_DIRECTORY_SAFETY_MARGIN = 0.0
    time.sleep(1.1)  # `updated_at=gte|` is in whole seconds, rounded down
    crawl(synced)
    time.sleep(1.1)  # stale, and the demo candidates last changed a second before the crawl
    new = harvest_sandbox.add_candidate(first_name="New", emails=["new@x.example"])
    grace_id = harvest_sandbox.candidate_id("grace.hopper@example.com")
    harvest_sandbox.edit_candidate(grace_id, add_emails=["grace@navy.example"])
    assert not ids_for(synced, "new@x.example")

    assert directory_refresh_if_stale(team_id=synced.team.pk) is True
    refresh = DirectoryFetch.objects.filter(team=synced.team, kind="refresh").get()
    assert refresh.candidates == 2  # only what changed since the crawl began
    assert ids_for(synced, "new@x.example") == {new["id"]}
    assert ids_for(synced, "grace@navy.example") == {grace_id}
    assert ids_for(synced, "grace.hopper@example.com") == {grace_id}
    # Fresh now: no request, nothing changed.
    requests = len(harvest_sandbox.requests(path="/v3/candidates"))
    assert directory_refresh_if_stale(team_id=synced.team.pk) is False
    assert len(harvest_sandbox.requests(path="/v3/candidates")) == requests


def test_a_merged_away_candidate_disappears(synced, harvest_sandbox, on):
    one = harvest_sandbox.add_candidate(first_name="Dup", emails=["dup@x.example"])
    two = harvest_sandbox.add_candidate(first_name="Dup", emails=["dup.work@x.example"])
    crawl(synced)
    assert ids_for(synced, "dup@x.example") == {one["id"]}
    harvest_sandbox.merge_candidates(duplicate_id=one["id"], into_id=two["id"])
    make_stale(synced)

    assert directory_refresh_if_stale(team_id=synced.team.pk) is True
    assert ids_for(synced, "dup@x.example") == {two["id"]}
    assert not DirectoryEntry.objects.filter(team=synced.team, candidate_id=one["id"]).exists()
    verify = DirectoryFetch.objects.get(team=synced.team, kind="verify")
    assert verify.outcome == "ok"
    asked = [q for q in listings(harvest_sandbox) if "ids" in q]
    assert asked and asked[0]["ids"] == [str(one["id"])]

    prospect = add_prospect(
        synced, first="Dup", last="Licate", email="dup@x.example", phone="+14155550199"
    )
    sms_to(synced, prospect, "Hello")
    assert write_all() == ["written"]
    assert CandidateLink.objects.get(prospect=prospect).candidate_id == two["id"]


def test_a_404_on_the_post_forgets_the_candidate_and_searches_by_address(
    synced, harvest_sandbox, on
):
    grace_id = harvest_sandbox.candidate_id("grace.hopper@example.com")
    crawl(synced)
    sms_to(synced, synced.grace, "First")
    assert write_all() == ["written"]
    harvest_sandbox.delete_candidate(grace_id)
    sms_to(synced, synced.grace, "After the delete")
    assert write_all() == ["skipped"]
    assert searches(harvest_sandbox) == ["grace.hopper@example.com"]  # today's careful path
    assert not DirectoryEntry.objects.filter(team=synced.team, candidate_id=grace_id).exists()


def test_a_crash_mid_crawl_goes_on_from_the_saved_cursor(
    synced, harvest_sandbox, on, small_pages, monkeypatch
):
    for n in range(7):
        harvest_sandbox.add_candidate(first_name="C", last_name=str(n), emails=[f"c{n}@x.example"])
    total = len(harvest_sandbox.candidates())
    real_apply = directory._apply
    calls = {"n": 0}

    def dies_on_the_second_page(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("the worker was killed")
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(directory, "_apply", dies_on_the_second_page)
    monkeypatch.setattr(directory, "_lease_release", lambda *a: None)  # killed: never released
    with pytest.raises(SystemExit):
        directory_pass_run(team_id=synced.team.pk)
    monkeypatch.undo()
    monkeypatch.setattr(directory, "MAX_PER_PAGE", 3)
    state = CandidateDirectory.objects.get(pk=synced.team.pk)
    assert not state.complete and state.pass_kind == "crawl" and state.pages == 1
    saved_cursor = state.next_url
    assert "cursor=" in saved_cursor

    # While the dead worker's lease runs, nobody else takes the pass.
    assert directory_pass_run(team_id=synced.team.pk) == "nothing to do"
    assert directories_sweep() == 0
    CandidateDirectory.objects.filter(pk=synced.team.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1), queued_at=None
    )
    assert directories_sweep() == 1  # the beat queues the pass again
    first_pages = len(listings(harvest_sandbox))
    assert directory_pass_run(team_id=synced.team.pk) == "done"

    resumed = listings(harvest_sandbox)[first_pages:]
    assert resumed[0] == parse_qs(saved_cursor.split("?", 1)[1])  # not the first page again
    state.refresh_from_db()
    assert state.complete and DirectoryEntry.objects.filter(team=synced.team).count() == total


def test_the_rate_budget_is_kept_and_no_request_is_refused(
    synced, harvest_sandbox, on, small_pages
):
    for n in range(10):
        harvest_sandbox.add_candidate(first_name="C", last_name=str(n), emails=[f"c{n}@x.example"])
    harvest_sandbox.configure(rate_limit=2, rate_window=1)
    on.GREENHOUSE_KEY_PREFIX += "-small"  # a budget that learns the small limit from scratch
    outcomes = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        outcome = directory_pass_run(team_id=synced.team.pk)
        outcomes.append(outcome)
        if outcome == "done":
            break
        assert outcome == "waiting for a rate slot"  # no sleep on the budget: queued again
        time.sleep(0.2)
    assert outcomes[-1] == "done" and len(outcomes) > 1
    log = harvest_sandbox.requests(path="/v3/candidates")
    assert log and all(entry["status"] == 200 for entry in log)  # never a 429
    windows = harvest_sandbox.windows(harvest_sandbox.client_id)
    assert max(w["served"] for w in windows) <= 2 and sum(w["rejected"] for w in windows) == 0
    assert DirectoryFetch.objects.filter(team=synced.team, outcome="no_slot").exists()


def test_the_first_record_crawls_a_small_account_itself(synced, harvest_sandbox, on):
    """No wait behind the queue for an account of up to INLINE_PAGES pages: the record that
    finds no directory crawls it, and answers from it."""
    sms_to(synced, synced.grace, "Hello")
    sms_to(synced, synced.linus, "Hello")
    assert write_all() == ["written", "held"]  # Linus is not in Greenhouse yet: he waits
    assert listings(harvest_sandbox) == [{"per_page": ["500"]}] and searches(harvest_sandbox) == []
    assert CandidateDirectory.objects.get(pk=synced.team.pk).complete
    lookups = SyncAttempt.objects.filter(kind=SyncAttempt.Kind.LOOKUP)
    assert [a.outcome for a in lookups] == [SyncAttempt.Outcome.OK]  # the crawling record's


def test_records_wait_for_a_long_first_crawl_then_answer_from_it(
    synced, harvest_sandbox, on, small_pages
):
    for n in range(12):  # more than the INLINE_PAGES pages of 3 a record takes
        harvest_sandbox.add_candidate(first_name="C", last_name=str(n), emails=[f"c{n}@x.example"])
    sms_to(synced, synced.grace, "Hello")
    assert write_all(max_rounds=1) == ["deferred"]
    record = SyncRecord.objects.get()
    assert record.status == Status.PENDING and record.attempts == 0
    assert len(listings(harvest_sandbox)) == directory.INLINE_PAGES and not searches(
        harvest_sandbox
    )
    assert directory_pass_run(team_id=synced.team.pk) == "done"  # the task queued for the rest
    SyncRecord.objects.update(next_attempt_at=None)
    assert write_all() == ["written"]
    assert len(listings(harvest_sandbox)) == 5 and searches(harvest_sandbox) == []


def test_off_or_past_the_wait_the_per_address_search_is_used(
    synced, harvest_sandbox, on, small_pages
):
    for n in range(12):  # a crawl longer than a record takes on
        harvest_sandbox.add_candidate(first_name="C", last_name=str(n), emails=[f"c{n}@x.example"])
    on.GREENHOUSE_DIRECTORY_CRAWL_WAIT = 0.0  # never wait for the crawl
    sms_to(synced, synced.grace, "Hello")
    assert write_all() == ["written"]
    assert searches(harvest_sandbox) == ["grace.hopper@example.com"]
    on.GREENHOUSE_DIRECTORY_ENABLED = False
    sms_to(synced, synced.alan, "Hello")
    assert write_all() == ["written"]
    assert searches(harvest_sandbox)[-1] == "alan.turing@example.com"
    assert directory_refresh_if_stale(team_id=synced.team.pk) is False


def test_a_new_key_or_account_drops_the_hashes(synced, harvest_sandbox, on):
    crawl(synced)
    assert DirectoryEntry.objects.filter(team=synced.team).exists()
    on.SECRET_KEY = "another-secret-key-" + "x" * 40
    state = directory._directory_for(synced.integration)
    assert not state.complete
    assert not DirectoryEntry.objects.filter(team=synced.team).exists()


def test_an_inline_refresh_never_starts_a_crawl(synced, harvest_sandbox, on):
    result = directory_advance(
        integration=synced.integration,
        client=None,  # never used: nothing to send
        max_pages=1,
        begin=CandidateDirectory.Pass.REFRESH,
    )
    assert result is None
    assert listings(harvest_sandbox) == []


def test_several_candidates_are_checked_before_the_answer_is_given(synced, harvest_sandbox, on):
    kept = harvest_sandbox.add_candidate(first_name="Twin", emails=["twin@x.example"])
    deleted = harvest_sandbox.add_candidate(first_name="Twin", emails=["twin@x.example"])
    crawl(synced)
    assert ids_for(synced, "twin@x.example") == {kept["id"], deleted["id"]}
    harvest_sandbox.delete_candidate(deleted["id"])  # no listing shows a deletion
    make_stale(synced)  # a refresh and the check in one lookup: one log row for both

    prospect = add_prospect(
        synced, first="Twin", last="Two", email="twin@x.example", phone="+14155550198"
    )
    sms_to(synced, prospect, "Hello")
    assert write_all() == ["written"]
    link = CandidateLink.objects.get(prospect=prospect)
    assert (link.match, link.candidate_id) == (CandidateMatch.ONE, kept["id"])
    asked = [q for q in listings(harvest_sandbox) if "ids" in q]
    assert len(asked) == 1 and searches(harvest_sandbox) == []
    assert (
        len(
            [
                q
                for q in listings(harvest_sandbox)
                if q.get("updated_at", [""])[0].startswith("gte|")
            ]
        )
        == 1
    )
    assert ids_for(synced, "twin@x.example") == {kept["id"]}
    assert [a.kind for a in SyncAttempt.objects.filter(record__prospect=prospect)] == [
        SyncAttempt.Kind.LOOKUP,
        SyncAttempt.Kind.POST,
    ]


def test_the_request_log_keeps_a_week(synced, harvest_sandbox, on):
    crawl(synced)
    DirectoryFetch.objects.update(started_at=timezone.now() - timedelta(days=8))
    make_stale(synced)
    directory_refresh_if_stale(team_id=synced.team.pk)
    assert list(DirectoryFetch.objects.values_list("kind", flat=True)) == ["refresh"]


def test_support_reads_the_directory_and_its_log_in_the_admin(
    synced, harvest_sandbox, on, staff_client
):
    crawl(synced)
    for page in ("candidatedirectory", "directoryfetch"):
        response = staff_client.get(f"/admin/greenhouse/{page}/")
        assert response.status_code == 200
        assert b"hopper" not in response.content.lower()
    directory_page = staff_client.get(
        f"/admin/greenhouse/candidatedirectory/{synced.team.pk}/change/"
    )
    assert directory_page.status_code == 200
    assert b"lease_token" not in directory_page.content


def test_a_pass_task_after_the_crawl_sends_nothing(synced, harvest_sandbox, on):
    """Records queue the pass task while the first crawl runs; the tasks that come after it
    find nothing to do (a refresh is only ever asked for), even once it is stale."""
    crawl(synced)
    sent = len(harvest_sandbox.requests(path="/v3/candidates"))
    assert directory_pass_run(team_id=synced.team.pk) == "nothing to do"
    make_stale(synced)
    assert directory_pass_run(team_id=synced.team.pk) == "nothing to do"
    assert len(harvest_sandbox.requests(path="/v3/candidates")) == sent
    # A crawl due again (GREENHOUSE_DIRECTORY_RECRAWL_SECONDS) is the task's.
    CandidateDirectory.objects.filter(pk=synced.team.pk).update(
        crawled_at=timezone.now() - timedelta(days=2)
    )
    assert directories_sweep() == 1
    assert directory_pass_run(team_id=synced.team.pk) == "done"
    assert len(harvest_sandbox.requests(path="/v3/candidates")) == sent + 1
