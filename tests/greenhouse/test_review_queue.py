"""The review queue (issue 15 items 2 and 3): link, create in Greenhouse, ignore, the
several-candidates choice and each action's access rules. Greenhouse is the Harvest sandbox over
real HTTP, checking the v3 candidate body and the credential's scopes; nothing is mocked."""

import json
from urllib.parse import parse_qs

import pytest
from django.test import Client
from django.urls import reverse

from apps.greenhouse.creation import candidate_auto_create, candidate_create
from apps.greenhouse.models import (
    CandidateCreation,
    CandidateLink,
    GreenhouseIntegration,
    ProspectSyncIgnore,
    ReviewAction,
    SyncRecord,
)
from apps.greenhouse.policy import CandidateMatch, Reason, UnknownRecipients
from apps.greenhouse.sweeper import sync_records_sweep
from tests.greenhouse.sync_helpers import add_prospect, our_notes, write_all
from tests.greenhouse.test_candidate_gone import sms_to
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory
from tests.teams.factories import UserFactory, recruiter, team_admin

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status
LINUS = "linus.unknown@example.com"


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def waiting_for_linus(synced, count=3) -> list[SyncRecord]:
    """Linus is not in Greenhouse: his SMS wait (the team's default choice)."""
    for n in range(count):
        sms_to(synced, synced.linus, f"Hello Linus {n}")
    assert write_all() == ["held"] * count
    records = list(SyncRecord.objects.filter(prospect=synced.linus).order_by("message__created_at"))
    assert {(r.status, r.reason) for r in records} == {(Status.HELD, Reason.NOT_IN_GREENHOUSE_YET)}
    return records


def api_requests(sandbox, method, path="/v3/candidates") -> list[dict]:
    return [r for r in sandbox.requests(path=path) if r["method"] == method]


# --- The queue ---------------------------------------------------------------------------------


def test_the_queue_shows_who_waits_how_many_and_since_when_and_a_get_calls_nobody(
    synced, harvest_sandbox, client
):
    records = waiting_for_linus(synced)
    other = add_prospect(
        synced, first="Ada", last="Other", email="ada.other@example.com", phone="+14155559001"
    )
    other.owner = synced.ada
    other.save()
    sms_to(synced, other, "Hello Ada")
    write_all()
    before = len(harvest_sandbox.requests())

    client.force_login(synced.ada)  # a team admin: the team's prospects
    page = client.get(reverse("greenhouse:review")).content.decode()
    assert "Linus Unknown" in page and "Ada Other" in page
    assert "3 messages" in page and records[0].message.created_at.strftime("%Y-%m-%d") in page
    assert "Not in Greenhouse yet" in page

    client.force_login(synced.rob)  # a recruiter: only the prospects they own
    page = client.get(reverse("greenhouse:review")).content.decode()
    assert "Linus Unknown" in page and "Ada Other" not in page
    assert len(harvest_sandbox.requests()) == before  # showing the page asks Greenhouse nothing
    assert SyncRecord.objects.filter(prospect=synced.linus, status=Status.HELD).count() == 3


def test_the_queue_is_paginated(synced, harvest_sandbox, client, settings):
    from apps.greenhouse import review_selectors

    settings.DEBUG = False
    for n in range(review_selectors.PAGE_SIZE + 2):
        prospect = add_prospect(
            synced, first=f"P{n:02d}", last="W", email=f"p{n}@ex.example", phone=f"+1415556{n:04d}"
        )
        sms_to(synced, prospect, "Hi")
    write_all()
    client.force_login(synced.ada)
    first = client.get(reverse("greenhouse:review"))
    assert len(first.context["rows"]) == review_selectors.PAGE_SIZE
    second = client.get(reverse("greenhouse:review") + "?page=2")
    assert len(second.context["rows"]) == 2
    names = {r.prospect.first_name for r in first.context["rows"]} | {
        r.prospect.first_name for r in second.context["rows"]
    }
    assert len(names) == review_selectors.PAGE_SIZE + 2


# --- Create in Greenhouse ----------------------------------------------------------------------


def test_create_sends_the_v3_body_and_then_writes_the_waiting_messages_in_order_once(
    synced, harvest_sandbox, client
):
    records = waiting_for_linus(synced)
    ProspectEmailFactory(prospect=synced.linus, email="linus@work.example", is_primary=False)
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        candidate_tag="Added from Outreach"
    )
    client.force_login(synced.rob)
    response = client.post(reverse("greenhouse:review-create", args=[synced.linus.pk]), follow=True)
    assert "Created Greenhouse candidate" in flash(response)[-1]

    created = [c for c in harvest_sandbox.candidates() if c["first_name"] == "Linus"]
    assert len(created) == 1
    candidate = created[0]
    assert (candidate["first_name"], candidate["last_name"]) == ("Linus", "Unknown")
    assert sorted((e["value"], e["type"]) for e in candidate["email_addresses"]) == [
        (LINUS, "personal"),
        ("linus@work.example", "personal"),
    ]
    assert candidate["phone_numbers"] == [{"value": "+14155550104", "type": "mobile"}]
    assert candidate["tags"] == ["Added from Outreach"]
    # The dedupe check came first: every address searched, then one POST.
    log = harvest_sandbox.requests(path="/v3/candidates")
    searched = [parse_qs(r["query"]).get("email", [""])[0] for r in log if r["method"] == "GET"]
    assert LINUS in searched and "linus@work.example" in searched
    assert [r["method"] for r in log][-1] == "POST" and len(
        api_requests(harvest_sandbox, "POST")
    ) == 1

    link = CandidateLink.objects.get(prospect=synced.linus)
    assert (link.match, link.candidate_id, link.source) == ("one", candidate["id"], "created")
    assert SyncRecord.objects.filter(prospect=synced.linus, status=Status.PENDING).count() == 3
    assert write_all() == ["written"] * 3
    notes = sorted(our_notes(harvest_sandbox, LINUS), key=lambda n: n["id"])
    assert [n["id"] for n in notes] == [
        SyncRecord.objects.get(pk=r.pk).note_id for r in records
    ]  # in message order, each once
    action = ReviewAction.objects.get(prospect=synced.linus)
    assert (action.action, action.by, action.candidate_id) == (
        "create",
        synced.rob,
        candidate["id"],
    )

    # Asked again: nothing more is created.
    client.post(reverse("greenhouse:review-create", args=[synced.linus.pk]))
    assert len(api_requests(harvest_sandbox, "POST")) == 1
    # The prospect's page shows the action.
    page = client.get(reverse("greenhouse:prospect-sync", args=[synced.linus.pk])).content.decode()
    assert "Created the candidate in Greenhouse" in page and str(candidate["id"]) in page


def test_create_links_the_candidate_instead_when_one_exists_by_now(synced, harvest_sandbox, client):
    waiting_for_linus(synced)
    existing = harvest_sandbox.add_candidate(first_name="Linus", last_name="U", emails=[LINUS])
    client.force_login(synced.ada)
    response = client.post(reverse("greenhouse:review-create", args=[synced.linus.pk]), follow=True)
    message = flash(response)[-1]
    assert "already has Linus Unknown as candidate" in message and "instead of creating" in message
    assert api_requests(harvest_sandbox, "POST") == []
    link = CandidateLink.objects.get(prospect=synced.linus)
    assert (link.match, link.candidate_id) == ("one", existing["id"])
    assert ReviewAction.objects.get(prospect=synced.linus).action == "link_existing"
    assert write_all() == ["written"] * 3


def test_create_without_the_scope_is_refused_and_says_so_plainly(synced, harvest_sandbox, client):
    waiting_for_linus(synced)
    scopes = ["harvest:candidates:list", "harvest:users:list", "harvest:notes:list"]
    harvest_sandbox.add_credential(client_id="no-create", client_secret="s3cret-nc", scopes=scopes)
    integration = GreenhouseIntegration.objects.get(pk=synced.integration.pk)
    integration.client_id = "no-create"
    integration.set_client_secret("s3cret-nc")
    integration.save()

    client.force_login(synced.rob)
    response = client.post(reverse("greenhouse:review-create", args=[synced.linus.pk]), follow=True)
    message = flash(response)[-1]
    assert "lacks the harvest:candidates:create scope" in message
    assert "grant harvest:candidates:create" in message
    posts = api_requests(harvest_sandbox, "POST")
    assert [p["status"] for p in posts] == [403]  # Greenhouse's answer, not a guess
    assert not [c for c in harvest_sandbox.candidates() if c["first_name"] == "Linus"]
    creation = CandidateCreation.objects.get(prospect=synced.linus)
    assert creation.status == "failed" and "harvest:candidates:create" in creation.error
    assert ReviewAction.objects.get(prospect=synced.linus).action == "create_failed"
    # The connection is not flagged for it: notes need other scopes.
    assert GreenhouseIntegration.objects.get(pk=integration.pk).health == "ok"
    page = client.get(reverse("greenhouse:review")).content.decode()
    assert "lacks the harvest:candidates:create scope" in page
    assert SyncRecord.objects.filter(prospect=synced.linus, status=Status.HELD).count() == 3


def test_create_accepts_the_wrapped_answer(synced, harvest_sandbox):
    waiting_for_linus(synced, count=1)
    harvest_sandbox.configure(candidate_create_shape="wrapped")
    result = candidate_create(synced.linus, by=synced.ada)
    assert result.outcome == "created"
    assert result.candidate_id == harvest_sandbox.candidate_id(LINUS)


def test_create_refuses_a_prospect_greenhouse_would_reject(synced, harvest_sandbox):
    nameless = ProspectFactory(team=synced.team, first_name="Cher", last_name="", owner=synced.rob)
    ProspectEmailFactory(prospect=nameless, email="cher@example.com")
    result = candidate_create(nameless, by=synced.ada)
    assert result.outcome == "failed" and "last name" in result.message
    assert api_requests(harvest_sandbox, "POST") == []


def test_a_post_with_no_clear_answer_is_searched_for_before_any_second_post(
    synced, harvest_sandbox
):
    waiting_for_linus(synced, count=1)
    harvest_sandbox.set_faults(candidate_write_then_500=1)  # saved, then answered 500
    result = candidate_create(synced.linus, by=synced.ada)
    assert result.outcome == "deferred" and "may have been saved" in result.message
    creation = CandidateCreation.objects.get(prospect=synced.linus)
    assert creation.status == "pending" and creation.post_started_at is not None
    # The next attempt searches by email first, finds what the first POST made, and links it.
    again = candidate_create(synced.linus, by=synced.ada)
    assert again.outcome == "existed"
    assert len([c for c in harvest_sandbox.candidates() if c["first_name"] == "Linus"]) == 1
    assert len(api_requests(harvest_sandbox, "POST")) == 1
    assert write_all() == ["written"]


def test_after_a_post_with_no_clear_answer_nothing_is_posted_again_within_the_lag(
    synced, harvest_sandbox
):
    """Greenhouse's record can lag behind the create: a search that finds nothing right after
    an unclear POST is not trusted, so no second POST goes out until CREATE_LAG has passed."""
    waiting_for_linus(synced, count=1)
    harvest_sandbox.set_faults(candidate_write_then_500=1)
    candidate_create(synced.linus, by=synced.ada)
    lagging = harvest_sandbox.candidate_id(LINUS)
    harvest_sandbox.delete_candidate(lagging)  # as if the search could not see it yet
    result = candidate_create(synced.linus, by=synced.ada)
    assert result.outcome == "deferred" and "searched again" in result.message
    assert len(api_requests(harvest_sandbox, "POST")) == 1


# --- Link and the several-candidates choice -------------------------------------------------


def test_several_candidates_are_shown_on_a_post_and_the_chosen_one_gets_the_messages(
    synced, harvest_sandbox, client
):
    first = harvest_sandbox.add_candidate(first_name="Linus", last_name="One", emails=[LINUS])
    second = harvest_sandbox.add_candidate(first_name="Linus", last_name="Two", emails=[LINUS])
    for n in range(2):
        sms_to(synced, synced.linus, f"Hi {n}")
    assert write_all() == ["held"] * 2
    assert set(SyncRecord.objects.values_list("reason", flat=True)) == {Reason.SEVERAL_CANDIDATES}

    client.force_login(synced.rob)
    page = client.get(reverse("greenhouse:review")).content.decode()
    assert "Several candidates" in page and "Create in Greenhouse" not in page
    assert "Linus Two" not in page  # their details come from Greenhouse only on a POST
    before = len(harvest_sandbox.requests())
    shown = client.post(reverse("greenhouse:review-candidates", args=[synced.linus.pk]))
    assert shown.status_code == 200
    html = shown.content.decode()
    assert "Linus One" in html and "Linus Two" in html
    ids_query = [r["query"] for r in harvest_sandbox.requests()[before:]]
    assert any("ids=" in q for q in ids_query)  # GET /v3/candidates?ids=
    assert SyncRecord.objects.filter(status=Status.HELD).count() == 2  # showing changed nothing

    response = client.post(
        reverse("greenhouse:review-link", args=[synced.linus.pk]),
        {"candidate_id": second["id"]},
        follow=True,
    )
    assert f"linked to Greenhouse candidate {second['id']}" in flash(response)[-1]
    link = CandidateLink.objects.get(prospect=synced.linus)
    assert (link.match, link.candidate_id, link.source) == ("one", second["id"], "manual")
    assert write_all() == ["written"] * 2
    assert {r.candidate_id for r in SyncRecord.objects.all()} == {second["id"]}
    assert not [n for n in harvest_sandbox.notes() if n["candidate_id"] == first["id"]]
    action = ReviewAction.objects.get(prospect=synced.linus)
    assert (action.action, action.by, action.candidate_id) == ("link", synced.rob, second["id"])


def test_link_checks_that_a_typed_candidate_exists(synced, harvest_sandbox, client):
    waiting_for_linus(synced, count=1)
    client.force_login(synced.ada)
    response = client.post(
        reverse("greenhouse:review-link", args=[synced.linus.pk]),
        {"candidate_id": "999999"},
        follow=True,
    )
    assert "Greenhouse has no candidate 999999" in flash(response)[-1]
    assert CandidateLink.objects.get(prospect=synced.linus).match == CandidateMatch.NONE
    response = client.post(
        reverse("greenhouse:review-link", args=[synced.linus.pk]),
        {"candidate_id": "x"},
        follow=True,
    )
    assert "Enter a Greenhouse candidate ID" in flash(response)[-1]
    # A search by another address finds one to link.
    other = harvest_sandbox.add_candidate(first_name="L", last_name="U", emails=["l@else.example"])
    page = client.post(
        reverse("greenhouse:review-candidates", args=[synced.linus.pk]), {"email": "l@else.example"}
    ).content.decode()
    assert f"({other['id']}; l@else.example)" in page
    client.post(
        reverse("greenhouse:review-link", args=[synced.linus.pk]), {"candidate_id": other["id"]}
    )
    assert write_all() == ["written"]


# --- Ignore -----------------------------------------------------------------------------------


def test_ignore_skips_the_waiting_and_later_messages_and_stop_ignoring_syncs_again(
    synced, harvest_sandbox, client, settings
):
    waiting_for_linus(synced, count=2)
    settings.GREENHOUSE_LOOKUP_CACHE_SECONDS = 0  # the next record looks Linus up again
    client.force_login(synced.rob)
    response = client.post(reverse("greenhouse:review-ignore", args=[synced.linus.pk]), follow=True)
    assert "is ignored" in flash(response)[-1]
    assert {(r.status, r.reason) for r in SyncRecord.objects.filter(prospect=synced.linus)} == {
        (Status.SKIPPED, Reason.PROSPECT_IGNORED)
    }
    harvest_sandbox.add_candidate(first_name="Linus", last_name="Unknown", emails=[LINUS])
    record = sms_to(synced, synced.linus, "While ignored")
    assert (record.status, record.reason) == (Status.SKIPPED, Reason.PROSPECT_IGNORED)
    assert "Linus Unknown" not in client.get(reverse("greenhouse:review")).content.decode()
    page = client.get(reverse("greenhouse:prospect-sync", args=[synced.linus.pk])).content.decode()
    assert "Stop ignoring" in page and "Ignored (never sync)" in page

    client.post(reverse("greenhouse:review-unignore", args=[synced.linus.pk]))
    assert not ProspectSyncIgnore.objects.filter(prospect=synced.linus, ignored=True).exists()
    sms_to(synced, synced.linus, "After")
    assert write_all() == ["written"]
    assert [a.action for a in ReviewAction.objects.filter(prospect=synced.linus)] == [
        "unignore",
        "ignore",
    ]
    assert all(a.by == synced.rob for a in ReviewAction.objects.all())


def test_a_record_claimed_before_the_ignore_is_stopped_at_its_post(synced, harvest_sandbox):
    """The ignore reaches a record a worker already decided on: its last look under the switch
    gate (writer.py) and the batch's fast path (fastpath.py) both read it."""
    from apps.greenhouse.batch import sync_team_write

    record = sms_to(synced, synced.grace, "Hello Grace")  # Grace is in Greenhouse
    assert write_all() == ["written"]
    pending = sms_to(synced, synced.grace, "Second")
    assert pending.status == Status.PENDING
    ProspectSyncIgnore.objects.create(team=synced.team, prospect=synced.grace, ignored=True)
    sync_team_write(team_id=synced.team.pk)  # the batch (fast path first)
    pending.refresh_from_db()
    assert (pending.status, pending.reason) == (Status.SKIPPED, Reason.PROSPECT_IGNORED)
    assert len(our_notes(harvest_sandbox, "grace.hopper@example.com")) == 1
    assert record.pk != pending.pk


# --- Access rules ----------------------------------------------------------------------------


ACTIONS = ["review-create", "review-ignore", "review-unignore", "review-link", "review-candidates"]


@pytest.mark.parametrize("action", ACTIONS)
def test_another_team_and_a_colleagues_prospect_answer_404(synced, harvest_sandbox, client, action):
    waiting_for_linus(synced, count=1)
    colleague = recruiter(team=synced.team, user=UserFactory(username="carol"))
    client.force_login(colleague)  # a recruiter of the team who does not own Linus
    url = reverse(f"greenhouse:{action}", args=[synced.linus.pk])
    assert client.post(url, {"candidate_id": "1"}).status_code == 404
    client.force_login(team_admin(user=UserFactory(username="eve")))  # another team's admin
    assert client.post(url, {"candidate_id": "1"}).status_code == 404
    assert not ReviewAction.objects.exists()
    assert api_requests(harvest_sandbox, "POST") == []
    assert SyncRecord.objects.get(prospect=synced.linus).status == Status.HELD


@pytest.mark.parametrize("action", ACTIONS)
def test_a_get_never_changes_anything_and_a_post_needs_csrf(synced, harvest_sandbox, action):
    waiting_for_linus(synced, count=1)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(synced.ada)
    url = reverse(f"greenhouse:{action}", args=[synced.linus.pk])
    assert browser.get(url).status_code == 405
    assert browser.post(url, {"candidate_id": "1"}).status_code == 403  # no CSRF token
    assert not ReviewAction.objects.exists()
    assert not ProspectSyncIgnore.objects.exists()
    assert api_requests(harvest_sandbox, "POST") == []
    assert SyncRecord.objects.get(prospect=synced.linus).status == Status.HELD


def test_the_queue_and_the_tag_need_a_team_and_the_tag_an_admin(synced, harvest_sandbox, client):
    assert client.get(reverse("greenhouse:review")).status_code == 302  # to the login page
    client.force_login(synced.rob)
    assert client.post(reverse("greenhouse:review-tag"), {"candidate_tag": "x"}).status_code == 403
    client.force_login(synced.ada)
    client.post(reverse("greenhouse:review-tag"), {"candidate_tag": "  Added  from  Outreach "})
    assert (
        GreenhouseIntegration.objects.get(team=synced.team).candidate_tag == "Added from Outreach"
    )


# --- The team's choice: create unknown recipients ------------------------------------------


def test_a_team_that_creates_gets_one_candidate_for_many_waiting_messages(
    synced, harvest_sandbox, django_capture_on_commit_callbacks
):
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        unknown_recipients=UnknownRecipients.CREATE
    )
    with django_capture_on_commit_callbacks() as callbacks:
        for n in range(3):
            sms_to(synced, synced.linus, f"Hello {n}")
        outcomes = write_all()
    assert outcomes == ["held"] * 3
    assert set(SyncRecord.objects.values_list("reason", flat=True)) == {Reason.CANDIDATE_TO_CREATE}
    assert callbacks  # the creation task was queued on commit (run below as the worker would)
    results = [candidate_auto_create(prospect_id=synced.linus.pk) for _ in range(3)]
    assert [r.outcome for r in results] == ["created", "created", "created"]
    assert len(api_requests(harvest_sandbox, "POST")) == 1
    assert write_all() == ["written"] * 3
    action = ReviewAction.objects.get(prospect=synced.linus)
    assert action.automatic and action.by is None and action.action == "create"


def test_the_sweep_queues_a_creation_that_was_lost(
    synced, harvest_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.greenhouse import tasks

    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        unknown_recipients=UnknownRecipients.CREATE
    )
    sms_to(synced, synced.linus, "Hello")
    write_all()  # its task's publish was lost (callbacks do not run here)
    published = []
    monkeypatch.setattr(
        tasks.candidate_create_task, "apply_async", lambda args, countdown=0: published.append(args)
    )
    with django_capture_on_commit_callbacks(execute=True):
        counts = sync_records_sweep()
    assert counts["creations"] == 1 and published == [(synced.linus.pk,)]
    assert json.dumps(counts)  # plain counts, for the beat's log


def test_a_creation_another_worker_holds_is_left_to_it_until_its_lease_runs_out(
    synced, harvest_sandbox
):
    """The lease (creation.py `_take`): a compare-and-set on the prospect's one row."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.greenhouse import creation

    waiting_for_linus(synced, count=1)
    row = creation._row(synced.linus)
    held_at = timezone.now()
    assert creation._take(row, now=held_at, by=None, automatic=True) == held_at
    # A second taker that read the same row loses the compare-and-set.
    assert creation._take(row, now=held_at, by=None, automatic=True) is None
    result = candidate_create(synced.linus, by=synced.ada)  # another worker holds it
    assert result.outcome == "busy"
    assert api_requests(harvest_sandbox, "POST") == []
    # The holder died: once its lease has run out, the next caller takes over and creates.
    CandidateCreation.objects.filter(pk=row.pk).update(
        claimed_at=held_at - creation.LEASE - timedelta(seconds=1)
    )
    assert candidate_create(synced.linus, by=synced.ada).outcome == "created"
    assert len(api_requests(harvest_sandbox, "POST")) == 1
