"""Fuzz: the pause link (no login; the signed token is the authorization). Random, tampered and
validly signed but hostile tokens, by GET and POST: never a 500, and nothing is stored unless
the link is genuine and the request a POST."""

from urllib.parse import quote

import pytest
from django.core import signing
from hypothesis import assume, given
from hypothesis import strategies as st

from apps.greenhouse.models import ProspectSyncPause, SyncPauseEvent
from apps.greenhouse.pausing import PAUSE_SALT, pause_token_make
from tests.fuzz.strategies import hostile_text, json_values

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        list(ProspectSyncPause.objects.values_list("prospect_id", "paused", "resume_version")),
        SyncPauseEvent.objects.count(),
    )


def path(token: str) -> str:
    return f"/greenhouse/pause/{quote(token, safe='')}/"


def genuine(world) -> str:
    return pause_token_make(prospect_id=world.prospect.pk, version=0, recipient_id=world.owner.pk)


methods = st.sampled_from(["get", "post"])


@given(token=hostile_text.filter(bool), method=methods)
def test_a_random_token_is_refused_and_stores_nothing(client, world, token, method):
    before = snapshot()
    response = getattr(client, method)(path(token))
    assert response.status_code in (400, 404, 405)
    assert snapshot() == before


@given(
    data=st.data(),
    how=st.sampled_from(["flip", "cut", "append", "swap-case", "other-salt"]),
    method=methods,
)
def test_a_tampered_token_is_refused_and_stores_nothing(client, world, data, how, method):
    token = genuine(world)
    if how == "flip":
        i = data.draw(st.integers(0, len(token) - 1))
        replacement = data.draw(st.sampled_from("AZaz09-_:"))
        tampered = token[:i] + replacement + token[i + 1 :]
    elif how == "cut":
        tampered = token[: data.draw(st.integers(1, len(token) - 1))]
    elif how == "append":
        tampered = token + data.draw(st.text(min_size=1, max_size=10))
    elif how == "swap-case":
        tampered = token.swapcase()
    else:
        tampered = signing.dumps({"p": world.prospect.pk, "v": 0, "u": None}, salt="other")
    assume(tampered != token)
    before = snapshot()
    response = getattr(client, method)(path(tampered))
    assert response.status_code in (400, 404, 405)
    assert snapshot() == before


@given(payload=json_values, method=methods)
def test_a_signed_token_with_any_payload_never_answers_500(client, world, payload, method):
    token = signing.dumps(payload, salt=PAUSE_SALT)
    before = snapshot()
    response = getattr(client, method)(path(token))
    assert response.status_code in (200, 400, 404, 410)
    if method == "get" or response.status_code != 200:
        assert snapshot() == before


@given(
    prospect=st.one_of(st.integers(), st.just("p")),
    version=st.one_of(st.integers(), st.none(), st.text(max_size=5)),
    recipient=st.one_of(st.integers(), st.none(), st.text(max_size=5)),
)
def test_signed_fields_out_of_range_never_answer_500(client, world, prospect, version, recipient):
    """Ids a database cannot hold (beyond 64 bits), negative ones, missing users."""
    if prospect == "p":
        prospect = world.prospect.pk
    token = signing.dumps({"p": prospect, "v": version, "u": recipient}, salt=PAUSE_SALT)
    response = client.post(path(token))
    assert response.status_code in (200, 400, 404, 410)


def test_a_link_whose_recipient_was_deleted_still_pauses(client, world):
    """Found by the fuzzer: the recipient's user id was stored as is, a foreign key to nobody."""
    token = pause_token_make(prospect_id=world.prospect.pk, version=0, recipient_id=999_999)
    response = client.post(path(token))
    assert response.status_code == 200
    event = SyncPauseEvent.objects.get()
    assert event.link_recipient_id is None
    assert ProspectSyncPause.objects.get(prospect=world.prospect).paused


def test_a_genuine_link_pauses_on_post_only(client, world):
    token = genuine(world)
    assert client.get(path(token)).status_code == 200
    assert snapshot() == ([], 0)
    assert client.post(path(token)).status_code == 200
    assert ProspectSyncPause.objects.get(prospect=world.prospect).paused
