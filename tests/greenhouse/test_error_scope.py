"""The classification table: every answer Harvest gives (and every way a call can fail) is
about one resource or about the connection, and only the second may hold the team's records.

Each row is played by a real HTTP server on loopback (the scripted test double), once for a call
about one resource (POST /v3/notes for a candidate) and once for a call about none (the
connection test's GET /v3/users), so the table is the client's, not a hand-built exception's.
"""

import pytest

from apps.core import crypto
from apps.greenhouse.harvest.client import HarvestClient, HarvestCredentials
from apps.greenhouse.harvest.errors import (
    HarvestAmbiguousWrite,
    HarvestAuthenticationError,
    HarvestError,
    HarvestHostNotAllowed,
    HarvestNotFound,
    HarvestPermissionError,
    HarvestRateLimited,
    HarvestResourceNotFound,
    HarvestServerError,
    HarvestUnavailable,
    HarvestValidationError,
    Scope,
    in_plain_words,
    scope_of,
)
from tests.fixtures.harvest import allow_greenhouse_host

TOKEN = {"access_token": "t-1", "expires_in": 3600}
R, C = Scope.RESOURCE, Scope.CONNECTION


def client_for(scripted, settings) -> HarvestClient:
    allow_greenhouse_host(settings, "double", scripted.url)
    scripted.answer("/token", 200, TOKEN)
    credentials = HarvestCredentials.for_host("double", client_id="c-1", client_secret="s-1")
    return HarvestClient(
        credentials, sub=None, timeout=(1.0, 1.0), read_retries=0, max_rate_wait=10
    )


def failure(call) -> HarvestError:
    with pytest.raises(HarvestError) as caught:
        call()
    return caught.value


# (status, body, scope for a call about one candidate, scope for a call about none, type)
TABLE = [
    (401, {"message": "Unauthorized"}, C, C, HarvestAuthenticationError),
    (403, {"message": "Forbidden", "errors": ["Missing scope: harvest:notes:create"]}, C, C,
     HarvestPermissionError),
    (403, {"message": "Access Denied"}, R, C, HarvestPermissionError),
    (404, {"message": "Resource not found"}, R, C, None),
    (409, {"message": "Conflict"}, R, C, HarvestError),
    (400, {"message": "Bad Request", "errors": ["body: is required"]}, R, C,
     HarvestValidationError),
    (422, {"message": "Validation error", "errors": ["body: must be a non-empty string"]}, R, C,
     HarvestValidationError),
    (429, {"message": "Too Many Requests"}, Scope.RATE_LIMITED, Scope.RATE_LIMITED,
     HarvestRateLimited),
    (500, {"message": "Internal Server Error"}, Scope.AMBIGUOUS, Scope.UNREACHABLE, None),
    (503, {"message": "Service Unavailable"}, Scope.AMBIGUOUS, Scope.UNREACHABLE, None),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "about_one", "about_none", "kind"), TABLE)
def test_each_status_is_about_the_resource_or_the_connection(
    scripted, settings, status, body, about_one, about_none, kind
):
    client = client_for(scripted, settings)
    headers = {"Retry-After": "5"} if status == 429 else {}
    scripted.answer("/v3/notes", status, body, **headers)
    scripted.answer("/v3/users", status, body, **headers)

    on_one = failure(lambda: client.note_create(candidate_id=42, body="hello"))
    on_none = failure(lambda: client.users_first_page())

    assert (scope_of(on_one), scope_of(on_none)) == (about_one, about_none)
    if kind is not None:
        assert isinstance(on_one, kind) and isinstance(on_none, kind)
    if status == 404:
        assert isinstance(on_one, HarvestResourceNotFound)
        assert (on_one.kind, on_one.resource_id) == ("candidate", 42)
        assert isinstance(on_none, HarvestNotFound)
    if status >= 500:
        assert isinstance(on_one, HarvestAmbiguousWrite)  # a write: read back before again
        assert isinstance(on_none, HarvestServerError)


def test_a_failing_token_endpoint_is_about_the_connection_whatever_the_call(scripted, settings):
    client = client_for(scripted, settings)
    scripted.answer("/token", 401, {"error": "invalid_client"})

    error = failure(lambda: client.note_create(candidate_id=42, body="hello"))

    assert isinstance(error, HarvestAuthenticationError)
    assert scope_of(error) == Scope.CONNECTION
    assert ("POST", "/v3/notes") not in scripted.requests


def test_a_host_that_refuses_connections_is_unreachable(settings, listener):
    allow_greenhouse_host(settings, "double", listener.url)
    listener.close()  # nothing listens on the port any more
    credentials = HarvestCredentials.for_host("double", client_id="c-1", client_secret="s-1")
    client = HarvestClient(credentials, timeout=(1.0, 1.0), read_retries=0)

    error = failure(lambda: client.users_first_page())

    assert isinstance(error, HarvestUnavailable)
    assert scope_of(error) == Scope.UNREACHABLE


@pytest.mark.parametrize(
    ("error", "scope"),
    [
        (HarvestUnavailable("timed out"), Scope.UNREACHABLE),
        (HarvestHostNotAllowed("not configured"), Scope.CONNECTION),
        (crypto.SecretDecryptionError(), Scope.CONNECTION),
        (HarvestError("redirect", status=302, resource="candidate 1"), Scope.CONNECTION),
        (HarvestError("unreadable answer"), Scope.UNREACHABLE),
    ],
)
def test_errors_without_an_answer_to_classify(error, scope):
    assert scope_of(error) == scope


def test_a_missing_candidate_is_explained_without_blaming_the_connection():
    words = in_plain_words(
        HarvestResourceNotFound("gone", kind="candidate", resource_id=42),
        acting_user_id=None,
        host_label="Greenhouse",
    )
    assert words == (
        "Greenhouse has no candidate 42 (404): it was merged into another candidate or deleted."
    )
    assert "API" not in words and "host" not in words
