"""The Harvest sandbox's date filters on list endpoints, as strict as Harvest v3: the
documented spelling `updated_at=gte|<ISO-8601>` (reference §4.2), a 422 for a bracket spelling, a
malformed date or operator, the filters kept on later cursor pages, and `updated_at` moved by a
candidate's creation, edit and merge (not by a note). Raw HTTP against the sandbox server."""

import time
from datetime import UTC, datetime

import pytest

GRACE = "grace.hopper@example.com"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ids(response) -> set[int]:
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()}


def test_updated_and_created_filters_in_both_spellings(harvest_sandbox, api):
    time.sleep(1.05)
    middle = time.time()
    time.sleep(1.05)
    new = harvest_sandbox.add_candidate(first_name="New", emails=["new@x.example"])
    everyone = ids(api("GET", "/v3/candidates"))
    assert new["id"] in everyone and len(everyone) == 4

    after = {"updated_at": "gte|" + iso(middle)}
    assert ids(api("GET", "/v3/candidates", params=after)) == {new["id"]}
    assert ids(api("GET", "/v3/candidates", params={"created_at": f"lte|{iso(middle)}"})) == (
        everyone - {new["id"]}
    )
    both = {"created_at": "gte|" + iso(middle), "updated_at": "lte|" + iso(time.time() + 5)}
    assert ids(api("GET", "/v3/candidates", params=both)) == {new["id"]}


@pytest.mark.parametrize(
    "params",
    [
        {"updated_at": "gte|" + "yesterday"},
        {"updated_at": "gte|" + ""},
        {"created_at": "lte|2026-13-40T00:00:00Z"},
        {"updated_at[gte]": "2026-01-01T00:00:00Z"},  # not the documented spelling
        {"updated_at": "gt|2026-01-01T00:00:00Z"},
        {"updated_at": "2026-01-01T00:00:00Z"},
        {"updated_at": "after|2026-01-01T00:00:00Z"},
    ],
)
def test_a_malformed_date_filter_is_a_422(harvest_sandbox, api, params):
    response = api("GET", "/v3/candidates", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "Unprocessable Content"
    assert list(body["errors"][0]) == list(params)


def test_the_filter_holds_on_later_cursor_pages(harvest_sandbox, api):
    start = time.time()
    time.sleep(1.05)
    made = {
        harvest_sandbox.add_candidate(first_name="C", emails=[f"c{n}@x.example"])["id"]
        for n in range(5)
    }
    first = api(
        "GET", "/v3/candidates", params={"updated_at": "gte|" + iso(start + 1), "per_page": 2}
    )
    seen = ids(first)
    url = first.links["next"]["url"]
    while url:
        assert list(url.split("?", 1)[1].split("=")[0:1]) == ["cursor"]
        page = api("GET", url)
        seen |= ids(page)
        url = page.links.get("next", {}).get("url")
    assert seen == made


def test_updated_at_moves_on_edit_and_merge_not_on_a_note(harvest_sandbox, api):
    grace = harvest_sandbox.candidate_id(GRACE)
    time.sleep(1.05)
    mark = time.time()
    time.sleep(1.05)
    note = {"candidate_id": grace, "body": "Hi", "note_type": "NOTE", "visibility": "public"}
    assert api("POST", "/v3/notes", json=note).status_code == 201
    since = {"updated_at": "gte|" + iso(mark)}
    assert ids(api("GET", "/v3/candidates", params=since)) == set()

    harvest_sandbox.edit_candidate(grace, add_emails=["grace@navy.example"])
    assert ids(api("GET", "/v3/candidates", params=since)) == {grace}

    alan = harvest_sandbox.candidate_id("alan.turing@example.com")
    katherine = harvest_sandbox.candidate_id("katherine.johnson@example.com")
    time.sleep(1.05)
    later = {"updated_at": "gte|" + iso(time.time())}
    harvest_sandbox.merge_candidates(duplicate_id=alan, into_id=katherine)
    listed = api("GET", "/v3/candidates", params=later).json()
    assert [c["id"] for c in listed] == [katherine]  # the merged-away one is simply absent
    assert "alan.turing@example.com" in {a["value"] for a in listed[0]["email_addresses"]}


def test_a_candidate_added_with_an_age_is_that_old(harvest_sandbox, api):
    old = harvest_sandbox.add_candidate(
        first_name="Old", emails=["old@x.example"], age_seconds=86400
    )
    assert old["updated_at"] == old["created_at"] < iso(time.time() - 86000)
    recent = {"updated_at": "gte|" + iso(time.time() - 3600)}
    assert old["id"] not in ids(api("GET", "/v3/candidates", params=recent))
