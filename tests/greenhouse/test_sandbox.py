"""The Harvest sandbox behaves as Harvest v3 does (raw HTTP, no client in between)."""

import math
import re
import time
from email.message import EmailMessage

import pytest
import requests
from django.conf import settings

from apps.harvest_sandbox.state import CURSOR_RULE, SITE_ADMIN_RULE
from tests.fixtures.harvest import sandbox_command

GRACE = "grace.hopper@example.com"


def note(**fields):
    return {
        "candidate_id": 40001,
        "body": "Hello",
        "note_type": "NOTE",
        "visibility": "public",
        **fields,
    }


# --- OAuth -------------------------------------------------------------------------------------


def test_the_token_endpoint(harvest_sandbox):
    url, auth = (
        harvest_sandbox.token_url,
        (harvest_sandbox.client_id, harvest_sandbox.client_secret),
    )

    ok = requests.post(url, auth=auth, data={"grant_type": "client_credentials"}, timeout=5)
    assert ok.status_code == 200
    assert set(ok.json()) == {"access_token", "token_type", "expires_in"}
    assert ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 3600
    # grant_type in the query string (as in the OpenAPI document) is accepted too.
    assert requests.post(url + "?grant_type=client_credentials", auth=auth, timeout=5).ok

    assert (
        requests.post(url, data={"grant_type": "client_credentials"}, timeout=5).status_code == 401
    )
    wrong = requests.post(
        url, auth=(auth[0], "nope"), data={"grant_type": "client_credentials"}, timeout=5
    )
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    assert requests.post(url, auth=auth, timeout=5).status_code == 400  # no grant_type
    bad_sub = requests.post(
        url, auth=auth, data={"grant_type": "client_credentials", "sub": "1"}, timeout=5
    )
    assert bad_sub.status_code == 400


def test_api_calls_need_a_valid_bearer_token(harvest_sandbox, api):
    assert requests.get(harvest_sandbox.url + "/v3/candidates", timeout=5).status_code == 401
    bad = requests.get(
        harvest_sandbox.url + "/v3/candidates", headers={"Authorization": "Bearer x"}, timeout=5
    )
    assert bad.status_code == 401 and "could not be decoded" in bad.json()["errors"][0]
    harvest_sandbox.expire_tokens()
    assert api("GET", "/v3/candidates").status_code == 401


def test_unknown_paths_are_404_before_authentication(harvest_sandbox):
    response = requests.get(harvest_sandbox.url + "/v3/candidates/40001", timeout=5)
    assert (response.status_code, response.json()) == (404, {"message": "Resource not found"})


def test_list_endpoints_need_a_site_admin_and_the_scope(harvest_sandbox):
    rob = harvest_sandbox.user_id("rob@acme.example")
    auth = (harvest_sandbox.client_id, harvest_sandbox.client_secret)
    token = requests.post(
        harvest_sandbox.token_url,
        auth=auth,
        data={"grant_type": "client_credentials", "sub": rob},
        timeout=5,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    listed = requests.get(harvest_sandbox.url + "/v3/users", headers=headers, timeout=5)
    assert listed.status_code == 403 and listed.json()["errors"] == [SITE_ADMIN_RULE]
    # Writing needs no Site Admin.
    written = requests.post(
        harvest_sandbox.url + "/v3/notes", json=note(), headers=headers, timeout=5
    )
    assert written.status_code == 201 and written.json()["user_id"] == rob


# --- Lists -------------------------------------------------------------------------------------


def test_candidates_by_email_and_ids(api):
    assert [
        c["last_name"]
        for c in api("GET", "/v3/candidates", params={"email": "GRACE.HOPPER@example.com"}).json()
    ] == ["Hopper"]
    assert api("GET", "/v3/candidates", params={"email": "race.hopper@example.com"}).json() == []
    both = api("GET", "/v3/candidates", params={"ids": "40001,40003"}).json()
    assert [c["id"] for c in both] == [40003, 40001]  # newest (highest id) first
    too_many = api("GET", "/v3/candidates", params={"ids": ",".join(map(str, range(1, 52)))})
    assert too_many.status_code == 422


def test_demo_candidates_match_the_demo_prospects(harvest_sandbox):
    from apps.demo.data import DEMO_PROSPECTS, PROSPECTS_IN_GREENHOUSE

    emails = {a["value"] for c in harvest_sandbox.candidates() for a in c["email_addresses"]}
    assert emails == {p[2] for p in DEMO_PROSPECTS[:PROSPECTS_IN_GREENHOUSE]}
    assert DEMO_PROSPECTS[-1][2] not in emails


def test_users_by_primary_email_hide_service_accounts(api):
    [ada] = api("GET", "/v3/users", params={"primary_email": "ada@acme.example"}).json()
    assert ada["site_admin"] is True and ada["deactivated"] is False
    everyone = api("GET", "/v3/users").json()
    assert all(u["primary_email"] for u in everyone)
    with_service = api("GET", "/v3/users", params={"show_service_accounts": "true"}).json()
    assert len(with_service) == len(everyone) + 1


def test_cursor_pagination(api):
    for number in range(5):
        assert api("POST", "/v3/notes", json=note(body=f"n{number}")).status_code == 201

    first = api("GET", "/v3/notes", params={"candidate_ids": "40001", "per_page": 2})
    link = first.links["next"]["url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v3/notes\?cursor=[\w=-]+", link)
    second = api("GET", link)
    third = api("GET", second.links["next"]["url"])
    bodies = [n["body"] for page in (first, second, third) for n in page.json()]
    assert bodies == ["n4", "n3", "n2", "n1", "n0"]
    assert "next" not in third.links

    mixed = api("GET", link + "&per_page=2")
    assert (mixed.status_code, mixed.json()["errors"]) == (422, [CURSOR_RULE])
    assert api("GET", "/v3/notes", params={"per_page": 501}).status_code == 422
    assert api("GET", "/v3/notes", params={"cursor": "garbage"}).status_code == 422


# --- Writing notes -----------------------------------------------------------------------------


def test_a_note_is_created_with_201_and_read_back_in_the_read_spelling(api):
    created = api("POST", "/v3/notes", json=note(visibility="admin_only"))
    assert created.status_code == 201
    assert created.json()["visibility"] == "admin_only_visible"
    [read] = api("GET", "/v3/notes", params={"candidate_ids": 40001}).json()
    assert read["id"] == created.json()["id"] and read["type"] == "NOTE"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"candidate_id": None}, "candidate_id"),
        ({"candidate_id": "40001"}, "candidate_id"),
        ({"body": ""}, "body"),
        ({"note_type": "INTERVIEW"}, "note_type"),
        ({"note_type": "SMS"}, "note_type"),
        ({"visibility": "publicly_visible"}, "visibility"),  # the read spelling
        ({"visibility": None}, "visibility"),
        ({"email_to": ["a@example.com"]}, "email_to"),  # email fields on a NOTE
        ({"user_id": 1}, "user_id"),
        ({"application_id": 5}, "application_id"),
    ],
)
def test_invalid_notes_are_422(api, harvest_sandbox, change, field):
    payload = {k: v for k, v in note(**change).items() if v is not None}
    response = api("POST", "/v3/notes", json=payload)

    assert response.status_code == 422
    assert response.json()["message"] == "Unprocessable Content"
    assert field in {key for error in response.json()["errors"] for key in error}
    assert harvest_sandbox.notes() == []


def test_email_notes_need_from_to_subject_and_a_present_cc(api):
    email = note(
        note_type="EMAIL",
        subject="Hi",
        email_from=["rob@acme.example"],
        email_to=[GRACE],
        email_cc=[],
    )
    assert api("POST", "/v3/notes", json=email).status_code == 201
    for missing in ("email_from", "email_to", "email_cc", "subject"):
        payload = {k: v for k, v in email.items() if k != missing}
        response = api("POST", "/v3/notes", json=payload)
        assert response.status_code == 422, missing
        assert [missing] == [key for error in response.json()["errors"] for key in error]


def test_a_body_that_is_not_json_is_400(api):
    response = api("POST", "/v3/notes", data="nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


# --- Rate limit --------------------------------------------------------------------------------


def test_rate_headers_on_every_answer_and_429_with_retry_after(harvest_sandbox, api):
    harvest_sandbox.configure(rate_limit=3, rate_window=2)

    before = time.time()
    answers = [api("GET", "/v3/candidates") for _ in range(3)]
    answers.append(api("POST", "/v3/notes", json=note(body="")))  # an error still counts
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
    [window] = harvest_sandbox.windows(harvest_sandbox.client_id)
    assert window["window_start"] >= before  # opened by the first request
    assert window["window_end"] == window["window_start"] + 2
    assert {a.headers["X-RateLimit-Reset"] for a in answers} == {
        str(math.floor(window["window_end"]))
    }
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 2
    assert (window["received"], window["served"], window["rejected"]) == (4, 3, 1)


# --- Faults ------------------------------------------------------------------------------------


def test_faults_can_be_switched_at_run_time(harvest_sandbox, api):
    harvest_sandbox.set_faults(error_rate=1.0, error_status=502)
    assert api("GET", "/v3/candidates").status_code == 502
    harvest_sandbox.clear_faults()
    assert api("GET", "/v3/candidates").status_code == 200

    harvest_sandbox.set_faults(write_then_500=1)
    assert api("POST", "/v3/notes", json=note()).status_code == 500
    assert api("POST", "/v3/notes", json=note()).status_code == 201
    assert len(harvest_sandbox.notes()) == 2  # the 500 was answered after saving

    harvest_sandbox.set_faults(down=True)
    with pytest.raises(requests.ConnectionError):
        api("GET", "/v3/candidates")
    assert harvest_sandbox.state()["faults"]["down"] is True  # the control API still answers


def test_unknown_faults_are_refused(harvest_sandbox):
    with pytest.raises(RuntimeError, match="unknown fault"):
        harvest_sandbox.set_faults(explode=True)


# --- Maildrop and the HTML page ----------------------------------------------------------------


def mail(to, sender="rob@acme.example", subject="Quick question", body="Hi there"):
    message = EmailMessage()
    message["From"] = f"Rob Recruiter <{sender}>"
    message["To"] = to
    message["Bcc"] = "maildrop@greenhouse.io"
    message["Subject"] = subject
    message.set_content(body)
    return message


def test_maildrop_logs_on_the_matching_candidate(harvest_sandbox):
    response = harvest_sandbox.maildrop(mail("Grace Hopper <Grace.Hopper@example.com>"))

    assert response.status_code == 202
    [entry] = response.json()["logged"]
    assert entry["created_candidate"] is False
    [stored] = harvest_sandbox.notes()
    assert stored["candidate_id"] == harvest_sandbox.candidate_id(GRACE)
    assert stored["type"] == "EMAIL" and stored["source"] == "maildrop"
    assert stored["subject"] == "Quick question"
    assert stored["email_from"] == ["rob@acme.example"]
    assert stored["user_id"] == harvest_sandbox.user_id("rob@acme.example")
    assert stored["body"].strip() == "Hi there"


def test_maildrop_creates_an_empty_profile_for_an_unknown_recipient(harvest_sandbox):
    response = harvest_sandbox.maildrop(mail("linus.unknown@example.com"))

    assert response.json()["logged"][0]["created_candidate"] is True
    [profile] = [
        c
        for c in harvest_sandbox.candidates()
        if c["email_addresses"] == [{"value": "linus.unknown@example.com", "type": "personal"}]
    ]
    assert profile["first_name"] is None and profile["last_name"] is None


def test_maildrop_ignores_mail_from_someone_greenhouse_does_not_know(harvest_sandbox):
    response = harvest_sandbox.maildrop(mail(GRACE, sender="stranger@elsewhere.example"))

    assert response.status_code == 422
    assert harvest_sandbox.notes() == []


def test_the_html_page_shows_each_candidates_feed(harvest_sandbox, api):
    api("POST", "/v3/notes", json=note(body="<script>alert(1)</script> call on Monday"))
    harvest_sandbox.maildrop(mail("linus.unknown@example.com", subject="Backend role"))

    page = requests.get(harvest_sandbox.url + "/", timeout=5)

    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert "Grace Hopper" in html and "Alan Turing" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; call on Monday" in html  # escaped
    assert "Empty profile (no name), created by Maildrop" in html
    assert "Backend role" in html
    assert harvest_sandbox.client_secret not in html


# --- The command -------------------------------------------------------------------------------


def test_the_command_serves_with_faults_given_at_start(tmp_path):
    with sandbox_command(
        "--rate-limit", "7", "--rate-window", "5", "--error-rate", "1", "--error-status", "500",
        var_dir=tmp_path,
    ) as (_process, banner):  # fmt: skip
        assert banner["client_id"] == settings.GREENHOUSE_SANDBOX_CLIENT_ID
        token = requests.post(
            banner["url"] + "/token",
            auth=(banner["client_id"], banner["secret"]),
            data={"grant_type": "client_credentials"},
            timeout=5,
        ).json()["access_token"]
        answer = requests.get(
            banner["url"] + "/v3/users", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert answer.status_code == 500
        assert answer.headers["X-RateLimit-Limit"] == "7"
