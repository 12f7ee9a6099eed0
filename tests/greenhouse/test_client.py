"""The Harvest client against the sandbox, over real HTTP."""

import socket
import time
from urllib.parse import parse_qs

import pytest

from apps.greenhouse.harvest.client import HarvestClient, HarvestCredentials
from apps.greenhouse.harvest.errors import (
    HarvestAmbiguousWrite,
    HarvestAuthenticationError,
    HarvestNotFound,
    HarvestPermissionError,
    HarvestRateLimited,
    HarvestResourceNotFound,
    HarvestServerError,
    HarvestUnavailable,
    HarvestValidationError,
    Scope,
    scope_of,
)
from tests.fixtures.harvest import allow_greenhouse_host

GRACE = "grace.hopper@example.com"


def token_requests(sandbox):
    return sandbox.requests(path="/token")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once this socket is closed


def first_request_opens_the_window(sandbox) -> None:
    """Sandbox windows, like Greenhouse's, are not aligned on the clock: a credential's window
    opens at its first request after the previous one ended. The fixture's reset (and a change of
    the rate settings) ends any window, so the test's first /v3 request opens a window of its own
    and a short test cannot straddle an edge it did not cause."""
    assert sandbox.windows(sandbox.client_id) == []


# --- Tokens ------------------------------------------------------------------------------------


def test_a_token_is_minted_once_and_shared_through_the_cache(make_client, harvest_sandbox):
    make_client().candidates_by_email(GRACE)
    make_client().candidates_by_email(GRACE)  # another client, as in another process

    assert len(token_requests(harvest_sandbox)) == 1


def test_tokens_are_cached_per_sub(make_client, harvest_sandbox, admin_user_id):
    make_client(sub=admin_user_id).candidates_by_email(GRACE)
    make_client(sub=None).candidates_by_email(GRACE)  # the credential's service user

    assert len(token_requests(harvest_sandbox)) == 2


def test_a_token_is_refreshed_before_it_expires(make_client, harvest_sandbox):
    harvest_sandbox.configure(token_lifetime=2)
    client = make_client()
    client.candidates_by_email(GRACE)
    assert client.token_status().cached

    time.sleep(1.6)  # past the refresh point (a quarter of the lifetime early), before expiry
    client.candidates_by_email(GRACE)

    assert len(token_requests(harvest_sandbox)) == 2
    assert not [r for r in harvest_sandbox.requests() if r["status"] == 401]


def test_a_401_gets_a_new_token_and_one_retry(make_client, harvest_sandbox):
    client = make_client()
    client.candidates_by_email(GRACE)
    harvest_sandbox.expire_tokens()  # Greenhouse forgets the token before its stated expiry

    assert len(client.candidates_by_email(GRACE)) == 1
    assert [r["status"] for r in harvest_sandbox.requests(path="/v3/candidates")] == [200, 401, 200]
    assert len(token_requests(harvest_sandbox)) == 2


def test_a_second_401_is_an_authentication_error(make_client, harvest_sandbox):
    harvest_sandbox.set_faults(reject_tokens=True)

    with pytest.raises(HarvestAuthenticationError):
        make_client().candidates_by_email(GRACE)
    assert [r["status"] for r in harvest_sandbox.requests(path="/v3/candidates")] == [401, 401]


def test_a_wrong_secret_is_an_authentication_error(make_client, harvest_sandbox, credentials):
    wrong = HarvestCredentials(
        credentials.client_id, "not-the-secret", credentials.api_base_url, credentials.token_url
    )
    with pytest.raises(HarvestAuthenticationError, match="rejected the client ID and secret"):
        make_client(credentials=wrong).candidates_by_email(GRACE)


def test_an_unknown_acting_user_is_named(make_client):
    with pytest.raises(HarvestAuthenticationError, match="did not accept user 123456"):
        make_client(sub=123456).candidates_by_email(GRACE)


# --- Reads -------------------------------------------------------------------------------------


def test_email_lookup_finds_zero_one_or_two_candidates(make_client, harvest_sandbox):
    harvest_sandbox.add_candidate(first_name="Grace", last_name="Duplicate", emails=[GRACE])
    client = make_client()

    assert client.candidates_by_email("nobody@example.com") == []
    alan = client.candidates_by_email("alan.turing@example.com")
    assert [c["last_name"] for c in alan] == ["Turing"]
    graces = client.candidates_by_email(GRACE)
    assert sorted(c["last_name"] for c in graces) == ["Duplicate", "Hopper"]


def test_email_lookup_is_exact_and_case_insensitive(make_client):
    client = make_client()

    assert len(client.candidates_by_email("  Grace.HOPPER@Example.com ")) == 1
    assert client.candidates_by_email("hopper@example.com") == []


def test_candidates_by_ids_asks_in_chunks_of_fifty(make_client, harvest_sandbox):
    created = [harvest_sandbox.add_candidate(emails=[f"c{i}@example.com"]) for i in range(55)]
    ids = [c["id"] for c in created]

    found = make_client().candidates_by_ids(ids)

    assert sorted(c["id"] for c in found) == sorted(ids)
    assert len(harvest_sandbox.requests(path="/v3/candidates")) == 2


def test_users_by_primary_email(make_client):
    client = make_client()

    [rob] = client.users_by_primary_email("ROB@acme.example")
    assert rob["first_name"] == "Rob"
    assert client.users_by_primary_email("nobody@acme.example") == []


def test_notes_are_read_over_several_pages_following_the_cursor(make_client, harvest_sandbox):
    client = make_client()
    alan = client.candidates_by_email("alan.turing@example.com")[0]["id"]
    written = [client.note_create(candidate_id=alan, body=f"note {i}")["id"] for i in range(7)]

    notes = client.notes_for_candidate(alan, per_page=3)

    assert [n["id"] for n in notes] == sorted(written, reverse=True)
    pages = harvest_sandbox.requests(path="/v3/notes")[-3:]
    assert parse_qs(pages[0]["query"]) == {"candidate_ids": [str(alan)], "per_page": ["3"]}
    # Follow-up requests carry the cursor alone, as Harvest requires.
    assert [list(parse_qs(p["query"])) for p in pages[1:]] == [["cursor"], ["cursor"]]


def test_a_read_back_takes_the_largest_pages(make_client, harvest_sandbox):
    """Every page is a request of the rate budget: 120 notes are read in one request."""
    client = make_client()
    alan = client.candidates_by_email("alan.turing@example.com")[0]["id"]
    for i in range(120):
        client.note_create(candidate_id=alan, body=f"note {i}")
    before = len(harvest_sandbox.requests(path="/v3/notes"))

    assert len(client.notes_for_candidate(alan)) == 120
    pages = harvest_sandbox.requests(path="/v3/notes")[before:]
    assert [parse_qs(p["query"])["per_page"] for p in pages] == [["500"]]


def test_a_403_for_a_missing_scope(make_client, harvest_sandbox, credentials):
    harvest_sandbox.add_credential(
        client_id="no-notes", client_secret="secret-no-notes", scopes=["harvest:candidates:list"]
    )
    limited = HarvestCredentials(
        "no-notes", "secret-no-notes", credentials.api_base_url, credentials.token_url
    )
    with pytest.raises(HarvestPermissionError) as caught:
        make_client(credentials=limited).notes_for_candidate(1)
    assert caught.value.status == 403
    assert "harvest:notes:list" in str(caught.value)


def test_a_403_for_an_acting_user_who_is_not_a_site_admin(make_client, harvest_sandbox):
    rob = harvest_sandbox.user_id("rob@acme.example")

    with pytest.raises(HarvestPermissionError, match="Site Admin"):
        make_client(sub=rob).candidates_by_email(GRACE)


def test_a_404_means_a_wrong_base_url(make_client, credentials):
    wrong = HarvestCredentials(
        credentials.client_id,
        credentials.client_secret,
        credentials.api_base_url + "/harvest",
        credentials.token_url,
    )
    with pytest.raises(HarvestNotFound, match="check the API base URL"):
        make_client(credentials=wrong).candidates_by_email(GRACE)


def test_a_5xx_on_a_read_is_retried_then_reported(make_client, harvest_sandbox):
    harvest_sandbox.set_faults(error_count=1)
    assert len(make_client(read_retries=1).candidates_by_email(GRACE)) == 1

    harvest_sandbox.set_faults(error_count=2)
    with pytest.raises(HarvestServerError) as caught:
        make_client(read_retries=1).candidates_by_email(GRACE)
    assert caught.value.status == 503
    assert caught.value.retryable


def test_a_slow_read_times_out(make_client, harvest_sandbox):
    client = make_client(timeout=(1.0, 0.4))
    client.candidates_by_email(GRACE)  # a token first: the token endpoint is slow too
    harvest_sandbox.set_faults(slow_seconds=1.5)
    started = time.monotonic()

    with pytest.raises(HarvestUnavailable, match="timed out") as caught:
        client.candidates_by_email(GRACE)
    assert time.monotonic() - started < 1.4
    assert caught.value.retryable


def test_a_host_that_refuses_connections_is_unavailable(make_client, credentials, settings):
    port = closed_port()
    allow_greenhouse_host(settings, "down", f"http://127.0.0.1:{port}")
    down = HarvestCredentials(
        credentials.client_id,
        credentials.client_secret,
        f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{port}/token",
    )
    with pytest.raises(HarvestUnavailable, match="Could not connect"):
        make_client(credentials=down).candidates_by_email(GRACE)


def test_a_sandbox_that_is_down_drops_reads(make_client, harvest_sandbox):
    client = make_client()
    client.candidates_by_email(GRACE)  # a token first: "down" drops the token endpoint too
    harvest_sandbox.set_faults(down=True)

    with pytest.raises(HarvestUnavailable, match="cut off"):
        client.candidates_by_email(GRACE)


# --- Writes ------------------------------------------------------------------------------------


def test_an_sms_is_written_as_a_note(make_client, harvest_sandbox):
    client = make_client()
    grace = client.candidates_by_email(GRACE)[0]["id"]
    rob = harvest_sandbox.user_id("rob@acme.example")

    note = client.note_create(
        candidate_id=grace, body="SMS from +14155550101: sure, call me", user_id=rob
    )

    assert note["type"] == "NOTE"
    assert note["visibility"] == "publicly_visible"  # Harvest answers in the read spelling
    [stored] = harvest_sandbox.notes()
    assert stored["candidate_id"] == grace
    assert stored["user_id"] == rob
    assert stored["email_to"] is None


def test_an_email_is_written_as_an_email_note(make_client, harvest_sandbox, admin_user_id):
    client = make_client()
    grace = client.candidates_by_email(GRACE)[0]["id"]

    client.note_create(
        candidate_id=grace,
        note_type="EMAIL",
        subject="Quick question",
        body="Hi Grace,\nwould you be open to a chat?",
        email_from=["rob@acme.example"],
        email_to=[GRACE],
        visibility="private",
    )

    [stored] = harvest_sandbox.notes()
    assert stored["type"] == "EMAIL"
    assert stored["subject"] == "Quick question"
    assert stored["email_from"] == ["rob@acme.example"]
    assert stored["email_to"] == [GRACE]
    assert stored["email_cc"] == []  # sent even when empty: Harvest requires it
    assert stored["visibility"] == "privately_visible"
    assert stored["body"] == "Hi Grace,\nwould you be open to a chat?"
    assert stored["user_id"] == admin_user_id  # no user_id: the token's acting user


def test_visibility_is_sent_in_the_write_spelling(make_client, harvest_sandbox):
    client = make_client()
    grace = client.candidates_by_email(GRACE)[0]["id"]

    client.note_create(candidate_id=grace, body="x", visibility="admin_only_visible")

    assert harvest_sandbox.notes()[0]["visibility"] == "admin_only_visible"
    with pytest.raises(ValueError, match="visibility"):
        client.note_create(candidate_id=grace, body="x", visibility="everyone")


def test_email_fields_are_refused_on_a_plain_note(make_client):
    with pytest.raises(ValueError, match="only for EMAIL"):
        make_client().note_create(candidate_id=1, body="x", email_to=["a@example.com"])


def test_a_422_carries_greenhouses_messages(make_client, harvest_sandbox):
    client = make_client()
    grace = client.candidates_by_email(GRACE)[0]["id"]
    with pytest.raises(HarvestValidationError) as caught:
        client.note_create(candidate_id=grace, body="   ", user_id=999999)

    assert caught.value.status == 422
    assert caught.value.resource == f"candidate {grace}"
    assert "body: must be a non-empty string" in caught.value.errors
    assert "user_id: User 999999 does not exist" in caught.value.errors
    assert harvest_sandbox.notes() == []


def test_a_404_on_the_notes_candidate_is_about_that_candidate_not_the_endpoint(
    make_client, harvest_sandbox
):
    with pytest.raises(HarvestResourceNotFound) as caught:
        make_client().note_create(candidate_id=999, body="hello")

    assert (caught.value.kind, caught.value.resource_id, caught.value.status) == (
        "candidate",
        999,
        404,
    )
    assert scope_of(caught.value) == Scope.RESOURCE
    assert harvest_sandbox.notes() == []


def test_a_500_after_the_write_is_ambiguous_and_the_note_exists(make_client, harvest_sandbox):
    harvest_sandbox.set_faults(write_then_500=1)
    client = make_client()
    grace = client.candidates_by_email(GRACE)[0]["id"]

    with pytest.raises(HarvestAmbiguousWrite) as caught:
        client.note_create(candidate_id=grace, body="maybe saved")

    assert caught.value.status == 500
    assert not caught.value.retryable  # check the notes before writing again
    assert [n["body"] for n in client.notes_for_candidate(grace)] == ["maybe saved"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"<html>Saved</html>", "text/html"), ({"body": "saved"}, "application/json")],
)
def test_an_accepted_write_without_a_note_id_is_ambiguous(scripted, settings, body, content_type):
    allow_greenhouse_host(settings, "double", scripted.url)
    scripted.answer("/token", 200, {"access_token": "t-1", "expires_in": 3600})
    scripted.answer("/v3/notes", 201, body, content_type=content_type)
    credentials = HarvestCredentials.for_host("double", client_id="c-1", client_secret="s-1")
    client = HarvestClient(credentials, sub=None, timeout=(1.0, 1.0), read_retries=0)

    # The note may exist: the sync reads the notes back instead of failing on a missing id.
    with pytest.raises(HarvestAmbiguousWrite, match="no note id") as caught:
        client.note_create(candidate_id=1, body="saved")

    assert caught.value.status == 201
    assert scripted.requests.count(("POST", "/v3/notes")) == 1


def test_a_dropped_connection_after_the_write_is_ambiguous(make_client, harvest_sandbox):
    harvest_sandbox.set_faults(drop_after_write=1)
    client = make_client()
    grace = client.candidates_by_email(GRACE)[0]["id"]

    with pytest.raises(HarvestAmbiguousWrite, match="cut off"):
        client.note_create(candidate_id=grace, body="maybe saved")

    assert len(harvest_sandbox.notes()) == 1
    client.note_create(candidate_id=grace, body="the next write goes through")
    assert len(harvest_sandbox.notes()) == 2


def test_a_5xx_before_the_write_is_ambiguous_too(make_client, harvest_sandbox):
    client = make_client()
    grace = client.candidates_by_email(GRACE)[0]["id"]
    harvest_sandbox.set_faults(error_count=1)

    # The client cannot tell whether the note was saved (here it was not): never retried.
    with pytest.raises(HarvestAmbiguousWrite):
        client.note_create(candidate_id=grace, body="x")
    assert len(harvest_sandbox.requests(path="/v3/notes")) == 1


def test_a_write_that_times_out_is_ambiguous(make_client, harvest_sandbox):
    client = make_client(timeout=(1.0, 0.3))
    grace = client.candidates_by_email(GRACE)[0]["id"]
    harvest_sandbox.set_faults(slow_seconds=0.8)

    with pytest.raises(HarvestAmbiguousWrite, match="timed out"):
        client.note_create(candidate_id=grace, body="slow")

    deadline = time.monotonic() + 3
    while not harvest_sandbox.notes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [n["body"] for n in harvest_sandbox.notes()] == ["slow"]


def test_a_write_to_a_host_that_refuses_is_not_ambiguous(make_client, credentials, settings):
    port = closed_port()
    allow_greenhouse_host(settings, "refusing", f"http://127.0.0.1:{port}")
    refusing = HarvestCredentials(
        credentials.client_id,
        credentials.client_secret,
        f"http://127.0.0.1:{port}",
        credentials.token_url,  # a token is minted; the write itself cannot connect
    )
    with pytest.raises(HarvestUnavailable):  # nothing was sent: safe to try again
        make_client(credentials=refusing).note_create(candidate_id=1, body="x")


# --- 429 ---------------------------------------------------------------------------------------


def test_a_429_waits_retry_after_then_succeeds(make_client, harvest_sandbox):
    harvest_sandbox.configure(rate_limit=5, rate_window=2)
    client = make_client()
    first_request_opens_the_window(harvest_sandbox)
    client.candidates_by_email(GRACE)  # a token, and the budget learns the window
    harvest_sandbox.exhaust_window()  # another app used the credential's allowance

    started = time.monotonic()
    assert len(client.candidates_by_email(GRACE)) == 1
    waited = time.monotonic() - started

    statuses = [r["status"] for r in harvest_sandbox.requests(path="/v3/candidates")]
    assert statuses.count(429) == 1
    assert statuses[-1] == 200
    assert 0.0 < waited <= 10  # waited for the window, not for ever (a loose bound: busy CI)


def test_a_429_with_an_epoch_retry_after_is_understood(make_client, harvest_sandbox):
    harvest_sandbox.configure(rate_limit=5, rate_window=2, retry_after_format="epoch")
    client = make_client()
    first_request_opens_the_window(harvest_sandbox)
    client.candidates_by_email(GRACE)
    harvest_sandbox.exhaust_window()

    started = time.monotonic()
    client.candidates_by_email(GRACE)

    assert time.monotonic() - started <= 10  # not 1.7 billion seconds (a loose bound: busy CI)
    assert [r["status"] for r in harvest_sandbox.requests(path="/v3/candidates")] == [200, 429, 200]


def test_a_429_beyond_the_callers_patience_is_raised(make_client, harvest_sandbox):
    harvest_sandbox.configure(rate_limit=5, rate_window=30)
    client = make_client(max_rate_wait=0.5)
    client.candidates_by_email(GRACE)
    harvest_sandbox.exhaust_window()

    with pytest.raises(HarvestRateLimited) as caught:
        client.candidates_by_email(GRACE)
    assert 0 < caught.value.retry_after <= 30
    assert caught.value.retryable

    # Every process now knows: the next call waits without asking Greenhouse again.
    with pytest.raises(HarvestRateLimited):
        HarvestClient(client.credentials, sub=client.sub, max_rate_wait=0.5).candidates_by_email(
            GRACE
        )
    assert [r["status"] for r in harvest_sandbox.requests(path="/v3/candidates")] == [200, 429]
