"""The Harvest sandbox is as strict as Greenhouse where a kinder sandbox would hide client bugs:
rate windows a client cannot predict from the clock, a reset header rounded the hard way,
merged and deleted candidates, latency, state that survives restarts, candidate creation.

Raw HTTP against the real sandbox server (no Harvest client in between)."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings

from apps.harvest_sandbox import SandboxControl, SandboxState
from tests.fixtures.harvest import sandbox_command

GRACE = "grace.hopper@example.com"


def note(candidate_id, **fields):
    return {
        "candidate_id": candidate_id,
        "body": "Hello",
        "note_type": "NOTE",
        "visibility": "public",
        **fields,
    }


def wait_until_fraction(low: float, high: float) -> None:
    """Sleep until the fractional part of the epoch time is in [low, high)."""
    while not low <= time.time() % 1 < high:
        time.sleep(0.01)


# --- 3. Rate windows ---------------------------------------------------------------------------


def test_a_window_opens_at_the_first_request_not_on_a_clock_boundary(harvest_sandbox, api):
    harvest_sandbox.configure(rate_limit=2, rate_window=3)
    # Half a second into a clock-aligned 3 s window: an aligned window would start before this.
    while not 0.5 <= time.time() % 3 < 0.6:
        time.sleep(0.01)
    before = time.time()
    first = api("GET", "/v3/candidates")
    after = time.time()

    [window] = harvest_sandbox.windows(harvest_sandbox.client_id)
    assert before <= window["window_start"] <= after
    assert window["window_end"] == window["window_start"] + 3
    assert first.headers["X-RateLimit-Reset"] == str(math.floor(window["window_end"]))

    # Spent: refused until the window ends, whatever the clock says.
    assert [api("GET", "/v3/candidates").status_code for _ in range(2)] == [200, 429]
    while time.time() < window["window_end"] + 0.7:
        time.sleep(0.05)
    # The next window opens at the next request (0.7 s or more after the last one ended).
    before = time.time()
    again = api("GET", "/v3/candidates")
    assert again.status_code == 200 and again.headers["X-RateLimit-Remaining"] == "1"
    [_, second] = harvest_sandbox.windows(harvest_sandbox.client_id)
    assert second["window_start"] >= before >= window["window_end"] + 0.7
    assert (second["received"], second["rejected"]) == (1, 0)


def test_a_client_that_trusts_the_reset_to_the_second_is_refused(harvest_sandbox, api):
    """X-RateLimit-Reset is the window's end rounded down to a whole epoch second, so it can be
    up to a second early: a request sent at that second, before the true end, is a 429."""
    harvest_sandbox.configure(rate_limit=1, rate_window=2)
    observed = []
    for _attempt in range(5):
        while harvest_sandbox.windows(harvest_sandbox.client_id)[-1:] and (
            time.time() < harvest_sandbox.windows(harvest_sandbox.client_id)[-1]["window_end"]
        ):
            time.sleep(0.05)
        wait_until_fraction(0.6, 0.7)  # the true end is then 0.6 s or more after the reset
        first = api("GET", "/v3/candidates")
        assert first.status_code == 200
        window = harvest_sandbox.windows(harvest_sandbox.client_id)[-1]
        reset = int(first.headers["X-RateLimit-Reset"])
        assert reset == math.floor(window["window_end"]) and reset < window["window_end"]
        while time.time() < reset:
            time.sleep(0.01)
        sent_at = time.time()
        early = api("GET", "/v3/candidates")
        if (
            sent_at + 0.05 < window["window_end"]
            and harvest_sandbox.windows(harvest_sandbox.client_id)[-1]["window_start"]
            == window["window_start"]
        ):
            observed.append(early)  # it reached the sandbox inside the old window
            break
    assert observed, "the machine was too busy to send a request in the last 0.6 s of a window"
    [refused] = observed
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Reset"] == str(reset)
    assert refused.headers["Retry-After"] == "1"  # rounded down too, never 0


def test_the_old_clock_aligned_windows_cannot_be_configured(harvest_sandbox):
    with pytest.raises(RuntimeError, match="unknown setting"):
        harvest_sandbox.configure(rate_window_aligned=True)


# --- 1, 2. Merged and deleted candidates; 404s on single resources -----------------------------

NOT_FOUND = {"message": "Resource not found"}  # Harvest v3's 404 body (reference §4.3)


def test_a_note_on_a_candidate_that_never_existed_is_a_404_with_greenhouses_body(
    harvest_sandbox, api
):
    response = api("POST", "/v3/notes", json=note(999_999))

    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert response.headers["X-RateLimit-Limit"] == "75"  # rate headers on errors too
    assert harvest_sandbox.notes() == []
    # A malformed id is still a validation error, not a lookup.
    wrong_type = api("POST", "/v3/notes", json=note("40001"))
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"] == [{"candidate_id": "must be an integer"}]


def test_single_candidate_urls_do_not_exist_in_v3(harvest_sandbox, api):
    """v3 has no GET /v3/candidates/{id} (reference §3.5): a 404 for any id, even with a
    valid token; a candidate is read with ?ids=."""
    grace = harvest_sandbox.candidate_id(GRACE)
    response = api("GET", f"/v3/candidates/{grace}")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert [c["id"] for c in api("GET", "/v3/candidates", params={"ids": grace}).json()] == [grace]


def test_a_merged_candidate_ceases_to_exist_and_the_primary_takes_its_emails_and_feed(
    harvest_sandbox, api
):
    duplicate = harvest_sandbox.add_candidate(
        first_name="Grace", last_name="Hopper", emails=["amazing.grace@example.com"],
        phones=["+15550001111"],
    )["id"]  # fmt: skip
    primary = harvest_sandbox.candidate_id(GRACE)
    written = api("POST", "/v3/notes", json=note(duplicate, body="before the merge"))
    assert written.status_code == 201

    merged = harvest_sandbox.merge_candidates(duplicate_id=duplicate, into_id=primary)

    assert merged["id"] == primary
    assert [e["value"] for e in merged["email_addresses"]] == [GRACE, "amazing.grace@example.com"]
    assert "+15550001111" in [p["value"] for p in merged["phone_numbers"]]
    # The duplicate's id answers 404 on single-resource calls.
    refused = api("POST", "/v3/notes", json=note(duplicate, body="after the merge"))
    assert (refused.status_code, refused.json()) == (404, NOT_FOUND)
    assert api("GET", f"/v3/candidates/{duplicate}").status_code == 404
    # Lists no longer know it; its address finds the primary, which holds its feed.
    assert api("GET", "/v3/candidates", params={"ids": duplicate}).json() == []
    by_email = api("GET", "/v3/candidates", params={"email": "Amazing.Grace@example.com"}).json()
    assert [c["id"] for c in by_email] == [primary]
    assert api("GET", "/v3/notes", params={"candidate_ids": duplicate}).json() == []
    [moved] = api("GET", "/v3/notes", params={"candidate_ids": primary}).json()
    assert (moved["id"], moved["body"]) == (written.json()["id"], "before the merge")
    assert [n["body"] for n in harvest_sandbox.notes()] == ["before the merge"]
    assert duplicate not in [c["id"] for c in harvest_sandbox.candidates()]


def test_a_deleted_candidate_is_a_404_everywhere_and_no_lookup_finds_it(harvest_sandbox, api):
    grace = harvest_sandbox.candidate_id(GRACE)
    assert api("POST", "/v3/notes", json=note(grace)).status_code == 201

    harvest_sandbox.delete_candidate(grace)

    assert api("POST", "/v3/notes", json=note(grace)).json() == NOT_FOUND
    assert api("POST", "/v3/notes", json=note(grace)).status_code == 404
    assert api("GET", "/v3/candidates", params={"email": GRACE}).json() == []
    assert api("GET", "/v3/candidates", params={"ids": grace}).json() == []
    assert api("GET", "/v3/notes", params={"candidate_ids": grace}).json() == []
    assert harvest_sandbox.notes() == []


def test_merge_and_delete_refuse_unknown_or_identical_candidates(harvest_sandbox):
    grace = harvest_sandbox.candidate_id(GRACE)
    before = harvest_sandbox.candidates()
    with pytest.raises(RuntimeError, match="404"):
        harvest_sandbox.delete_candidate(999_999)
    with pytest.raises(RuntimeError, match="404"):
        harvest_sandbox.merge_candidates(duplicate_id=999_999, into_id=grace)
    with pytest.raises(RuntimeError, match=r"400.*itself"):
        harvest_sandbox.merge_candidates(duplicate_id=grace, into_id=grace)
    assert harvest_sandbox.candidates() == before  # nothing changed by the refusals
    harvest_sandbox.delete_candidate(grace)
    with pytest.raises(RuntimeError, match="404"):
        harvest_sandbox.delete_candidate(grace)


# --- 4. Latency --------------------------------------------------------------------------------


def test_every_api_answer_waits_the_configured_latency(harvest_sandbox, api):
    harvest_sandbox.configure(latency_ms=150, latency_jitter_ms=40)
    assert harvest_sandbox.state()["config"]["latency_ms"] == 150

    calls = [
        lambda: api("GET", "/v3/candidates"),
        lambda: api("POST", "/v3/notes", json=note(999_999)),  # a 404
        lambda: api("GET", "/v3/nowhere"),  # a 404 before authentication
        lambda: requests.post(harvest_sandbox.token_url, timeout=10),  # a 401 from /token
    ]
    for call in calls:
        started = time.monotonic()
        response = call()
        assert time.monotonic() - started >= 0.15, response.request.url
    harvest_sandbox.exhaust_window()
    started = time.monotonic()
    assert api("GET", "/v3/users").status_code == 429
    assert time.monotonic() - started >= 0.15

    harvest_sandbox.configure(latency_ms=0, latency_jitter_ms=0)
    assert harvest_sandbox.state()["config"]["latency_ms"] == 0


def test_latency_cannot_be_negative(harvest_sandbox):
    with pytest.raises(RuntimeError, match="cannot be negative"):
        harvest_sandbox.configure(latency_ms=-1)
    assert harvest_sandbox.state()["config"]["latency_ms"] == 0


# --- 5. State kept across restarts -------------------------------------------------------------


def command_api(banner):
    """(control, call) for a sandbox started with sandbox_command."""
    control = SandboxControl(
        url=banner["url"], client_id=banner["client_id"], client_secret=banner["secret"]
    )
    token = requests.post(
        control.token_url,
        auth=(control.client_id, control.client_secret),
        data={"grant_type": "client_credentials", "sub": control.user_id("ada@acme.example")},
        timeout=10,
    ).json()["access_token"]

    def call(method, path, **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        return requests.request(method, control.url + path, headers=headers, timeout=10, **kwargs)

    return control, call


def test_notes_written_before_a_restart_are_in_the_feed_after_it(tmp_path):
    state_file = tmp_path / "harvest-sandbox.json"
    with sandbox_command(var_dir=tmp_path) as (_process, banner):
        assert banner["state_file"] == str(state_file)  # VAR_DIR by default
        control, call = command_api(banner)
        grace = control.candidate_id(GRACE)
        extra = control.add_candidate(first_name="Ada", last_name="New", emails=["new@x.example"])
        written = [
            call("POST", "/v3/notes", json=note(grace, body=f"before restart {n}")).json()["id"]
            for n in range(3)
        ]
    # A clean stop (SIGTERM) saved everything.
    with sandbox_command(var_dir=tmp_path) as (_process, banner):
        control, call = command_api(banner)
        assert [n["id"] for n in control.notes()] == written
        feed = call("GET", "/v3/notes", params={"candidate_ids": grace}).json()
        assert [n["body"] for n in feed] == [f"before restart {n}" for n in (2, 1, 0)]
        assert control.candidate_id("new@x.example") == extra["id"]
        assert "before restart 0" in requests.get(control.url + "/", timeout=10).text
        after = call("POST", "/v3/notes", json=note(grace, body="after restart")).json()["id"]
        assert after > max(written)
        # A candidate added now does not take an id used before the restart.
        assert control.add_candidate(emails=["newer@x.example"])["id"] > extra["id"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # renamed into place


def test_after_a_sigkill_at_most_the_last_second_is_lost(tmp_path):
    with sandbox_command(var_dir=tmp_path, stop=signal.SIGKILL) as (process, banner):
        control, call = command_api(banner)
        grace = control.candidate_id(GRACE)
        kept = call("POST", "/v3/notes", json=note(grace, body="saved in time")).json()["id"]
        deadline = time.monotonic() + 20  # saved within SAVE_INTERVAL; generous for a busy host
        state_file = tmp_path / "harvest-sandbox.json"
        while time.monotonic() < deadline and f'"id":{kept},' not in state_file.read_text():
            time.sleep(0.1)
        process.kill()
        process.wait(20)
    with sandbox_command(var_dir=tmp_path) as (_process, banner):
        control, _call = command_api(banner)
        assert [n["body"] for n in control.notes()] == ["saved in time"]


def test_a_reset_forgets_the_data_but_never_reuses_a_note_id(tmp_path):
    with sandbox_command(var_dir=tmp_path) as (_process, banner):
        control, call = command_api(banner)
        grace = control.candidate_id(GRACE)
        first = call("POST", "/v3/notes", json=note(grace)).json()["id"]
        control.reset()  # the control endpoint (tokens are forgotten too: a new one)
        assert control.notes() == []
        control, call = command_api(banner)
        second = call("POST", "/v3/notes", json=note(grace)).json()["id"]
        assert second > first
        control.add_candidate(emails=["gone.after.reset@x.example"])
    with sandbox_command("--reset", var_dir=tmp_path) as (_process, banner):  # the command
        control, call = command_api(banner)
        assert control.notes() == []
        assert "gone.after.reset@x.example" not in str(control.candidates())
        third = call("POST", "/v3/notes", json=note(control.candidate_id(GRACE))).json()["id"]
        assert third > second


def test_an_unreadable_state_file_stops_the_command_and_is_kept(tmp_path):
    state_file = tmp_path / "harvest-sandbox.json"
    state_file.write_text('{"version": 1, "notes": [')
    result = subprocess.run(
        [sys.executable, "manage.py", "harvest_sandbox", "--port", "0"],
        cwd=settings.BASE_DIR, env={**os.environ, "VAR_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "cannot be read as the Harvest sandbox's state" in result.stderr
    assert "--reset" in result.stderr
    assert state_file.read_text() == '{"version": 1, "notes": ['  # nothing lost

    # --reset keeps the unreadable file aside and starts from the demo data.
    with sandbox_command("--reset", var_dir=tmp_path) as (_process, banner):
        control, _call = command_api(banner)
        assert control.notes() == [] and control.candidate_id(GRACE)
    [kept] = tmp_path.glob("harvest-sandbox.json.unreadable-*")
    assert kept.read_text() == '{"version": 1, "notes": ['


def test_the_state_file_is_written_atomically_and_survives_a_reset_in_process(tmp_path):
    state_file = tmp_path / "state.json"
    state = SandboxState(client_id="c", client_secret="s", state_file=state_file, save_interval=0)
    state.add_candidate(first_name="Kept", last_name="Here", emails=["kept@x.example"])
    note_id = state._add_note(
        candidate_id=40001, user_id=None, type="NOTE", visibility="public", body="kept"
    ).id
    assert state.save() is True and state.save() is False  # nothing new to write
    state.close()

    saved = json.loads(state_file.read_text())
    assert saved["next_note_id"] == note_id + 1
    again = SandboxState(client_id="c", client_secret="s", state_file=state_file, save_interval=0)
    assert [n.body for n in again.notes.values()] == ["kept"]
    assert any(c.has_email("kept@x.example") for c in again.candidates.values())
    again.reset()
    again.close()
    fresh = SandboxState(client_id="c", client_secret="s", state_file=state_file, save_interval=0)
    assert fresh.notes == {} and fresh._next_note_id == note_id + 1


def test_the_page_has_a_reset_button_that_posts(harvest_sandbox, api):
    api("POST", "/v3/notes", json=note(harvest_sandbox.candidate_id(GRACE)))
    page = requests.get(harvest_sandbox.url + "/", timeout=10).text
    assert '<form method="post" action="/_sandbox/reset">' in page

    # A GET changes nothing; another site's form is refused.
    assert requests.get(harvest_sandbox.url + "/_sandbox/reset", timeout=10).status_code == 404
    foreign = requests.post(
        harvest_sandbox.url + "/_sandbox/reset",
        data={},
        headers={
            "Origin": "http://evil.example",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=10,
    )
    assert foreign.status_code == 403 and len(harvest_sandbox.notes()) == 1

    pressed = requests.post(
        harvest_sandbox.url + "/_sandbox/reset",
        data={},  # as a browser posts the button's form:
        headers={
            "Origin": harvest_sandbox.url,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert (pressed.status_code, pressed.headers["Location"]) == (303, "/")
    assert harvest_sandbox.notes() == []


# --- 6. The page shows active faults only ------------------------------------------------------


def active_faults_on_page(url):
    page = requests.get(url + "/", timeout=10).text
    return re.search(r'<span id="active-faults">(.*?)</span>\s*</p>', page, re.S).group(1).strip()


def test_the_page_shows_active_faults_only_and_none_otherwise(harvest_sandbox):
    assert active_faults_on_page(harvest_sandbox.url) == "none"

    harvest_sandbox.set_faults(error_rate=0.25, drop_after_write=2)
    shown = active_faults_on_page(harvest_sandbox.url)
    assert "error_rate=0.25" in shown and "drop_after_write=2" in shown
    assert "error_status=503" in shown  # the status of the active error fault
    assert "down" not in shown and "slow_seconds" not in shown and "none" not in shown

    harvest_sandbox.set_faults(error_rate=0, drop_after_write=0, error_status=500)
    assert active_faults_on_page(harvest_sandbox.url) == "none"  # a status alone is no fault


# --- 7. POST /v3/candidates --------------------------------------------------------------------


def candidate(**fields):
    return {
        "first_name": "Katherine",
        "last_name": "Johnson",
        "email_addresses": [{"value": "k.johnson@example.com", "type": "personal"}],
        "phone_numbers": [{"value": "555-1212", "type": "mobile"}],
        **fields,
    }


def test_a_candidate_is_created_with_201_and_found_by_email(harvest_sandbox, api):
    created = api("POST", "/v3/candidates", json=candidate(company="NASA", tags=["math"]))

    assert created.status_code == 201
    body = created.json()
    assert (body["first_name"], body["last_name"], body["company"]) == (
        "Katherine",
        "Johnson",
        "NASA",
    )
    assert body["email_addresses"] == [{"value": "k.johnson@example.com", "type": "personal"}]
    assert body["phone_numbers"] == [{"value": "555-1212", "type": "mobile"}]  # free text
    assert body["tags"] == ["math"]
    assert created.headers["X-RateLimit-Limit"] == "75"
    found = api("GET", "/v3/candidates", params={"email": "K.Johnson@example.com"}).json()
    assert [c["id"] for c in found] == [body["id"]]
    # Greenhouse does not deduplicate on create: the same person twice is two candidates.
    again = api("POST", "/v3/candidates", json=candidate()).json()
    assert again["id"] != body["id"]
    assert len(api("GET", "/v3/candidates", params={"email": "k.johnson@example.com"}).json()) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_name": None}, "first_name"),
        ({"last_name": None}, "last_name"),
        ({"last_name": "  "}, "last_name"),
        ({"first_name": 7}, "first_name"),
        ({"email_addresses": [{"value": "not-an-address", "type": "personal"}]},
         "email_addresses[0].value"),
        ({"email_addresses": [{"value": "a@example.com", "type": "home"}]},
         "email_addresses[0].type"),
        ({"email_addresses": [{"value": "a@example.com"}]}, "email_addresses[0].type"),
        ({"email_addresses": "a@example.com"}, "email_addresses"),
        ({"phone_numbers": [{"value": "", "type": "mobile"}]}, "phone_numbers[0].value"),
        ({"phone_numbers": [{"value": "555-1212", "type": "cell"}]}, "phone_numbers[0].type"),
        ({"tags": "math"}, "tags"),
        ({"website_addresses": ["https://example.com"]}, "website_addresses"),
        ({"application": {"job_id": 4}}, "application"),
    ],
)  # fmt: skip
def test_invalid_candidates_are_422_and_nothing_is_created(harvest_sandbox, api, change, field):
    before = harvest_sandbox.candidates()
    payload = {k: v for k, v in candidate(**change).items() if v is not None}

    response = api("POST", "/v3/candidates", json=payload)

    assert response.status_code == 422
    assert response.json()["message"] == "Unprocessable Content"
    assert field in {key for error in response.json()["errors"] for key in error}
    assert harvest_sandbox.candidates() == before


def test_every_problem_is_reported_at_once(api):
    response = api("POST", "/v3/candidates", json={"email_addresses": [{"value": "x"}]})
    keys = [key for error in response.json()["errors"] for key in error]
    assert keys == [
        "first_name", "last_name", "email_addresses[0].value", "email_addresses[0].type",
    ]  # fmt: skip


def test_creating_a_candidate_needs_the_create_scope(harvest_sandbox):
    scopes = ["harvest:candidates:list", "harvest:notes:create"]
    harvest_sandbox.add_credential(client_id="no-create", client_secret="s3", scopes=scopes)
    token = requests.post(
        harvest_sandbox.token_url,
        auth=("no-create", "s3"),
        data={"grant_type": "client_credentials"},
        timeout=10,
    ).json()["access_token"]
    before = harvest_sandbox.candidates()

    response = requests.post(
        harvest_sandbox.url + "/v3/candidates",
        json=candidate(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert response.status_code == 403
    assert response.json() == {
        "message": "Forbidden",
        "errors": ["This credential is missing the harvest:candidates:create scope."],
    }
    assert harvest_sandbox.candidates() == before


def test_a_body_that_is_not_a_json_object_is_400(api):
    assert api("POST", "/v3/candidates", json=["Katherine"]).status_code == 400
    assert api("POST", "/v3/candidates", data="{").status_code == 400


def test_tests_add_candidates_while_the_app_runs_with_the_same_validation(harvest_sandbox, api):
    created = harvest_sandbox.create_candidate(**candidate(title="Mathematician"))
    assert created.status_code == 201
    [found] = api("GET", "/v3/candidates", params={"email": "k.johnson@example.com"}).json()
    assert (found["id"], found["title"]) == (created.json()["id"], "Mathematician")

    refused = harvest_sandbox.create_candidate(first_name="No", email_addresses=[])
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"last_name": "is required"}]


def test_new_rate_settings_apply_from_the_next_request(harvest_sandbox, api):
    assert api("GET", "/v3/candidates").headers["X-RateLimit-Remaining"] == "74"  # 30 s window
    harvest_sandbox.configure(rate_limit=5, rate_window=2)

    answer = api("GET", "/v3/candidates")

    assert answer.headers["X-RateLimit-Remaining"] == "4"
    latest = harvest_sandbox.windows(harvest_sandbox.client_id)[-1]
    assert latest["window_end"] == latest["window_start"] + 2


def test_the_create_answer_can_take_the_other_shape_and_a_create_can_be_saved_then_fail(
    harvest_sandbox, api
):
    """Reference 3.6: the create was seen answering `{candidate, application}` too; and a
    create, like a note write, can be saved and then answered 500 (a fault for tests)."""
    harvest_sandbox.configure(candidate_create_shape="wrapped")
    wrapped = api("POST", "/v3/candidates", json=candidate()).json()
    assert set(wrapped) == {"candidate", "application"} and wrapped["application"] is None
    assert wrapped["candidate"]["last_name"] == "Johnson"
    with pytest.raises(RuntimeError, match="candidate_create_shape is 'candidate' or 'wrapped'"):
        harvest_sandbox.configure(candidate_create_shape="nested")
    harvest_sandbox.configure(candidate_create_shape="candidate")

    harvest_sandbox.set_faults(candidate_write_then_500=1)
    failed = api("POST", "/v3/candidates", json=candidate(first_name="Saved"))
    assert failed.status_code == 500
    assert [c["first_name"] for c in harvest_sandbox.candidates()].count("Saved") == 1
    assert api("POST", "/v3/candidates", json=candidate()).status_code == 201  # once only
