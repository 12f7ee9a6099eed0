"""Harvest's failures as types, and each in plain words.

The client raises one HarvestError subclass per kind of failure, so callers decide on the type
(retry, skip, ask the team admin) and never on a message. `in_plain_words` says what is wrong and
what to do, for team admins and support staff; it never repeats a secret or a raw answer.
"""

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import requests

from apps.core import crypto

# What of Greenhouse's own error text may be shown: this many messages, each cut to this length.
MAX_ERROR_MESSAGES = 5
MAX_ERROR_CHARS = 200
# The scopes a credential needs (the connection test's advice when one is missing).
REQUIRED_SCOPES = (
    "harvest:candidates:list",
    "harvest:users:list",
    "harvest:notes:list",
    "harvest:notes:create",
)

# --- Types -------------------------------------------------------------------------------------


class HarvestError(Exception):
    """Base class. `retryable`: trying again later may succeed (the request was not applied).
    `resource`: the one Greenhouse resource the call was about (e.g. "candidate 123"), when it
    was about one; an answer about it says nothing about the connection (see `scope_of`)."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: Iterable[str] = (),
        resource: str | None = None,
    ):
        self.message = message
        self.status = status
        self.errors = list(errors)
        self.resource = resource
        super().__init__(message)


class HarvestAuthenticationError(HarvestError):
    """401, or the token endpoint refused the credential."""


class HarvestPermissionError(HarvestError):
    """403: a scope is missing on the credential, or the acting user may not do this."""


class HarvestNotFound(HarvestError):
    """404 on a call that involves no single resource: Harvest routes before it authenticates,
    so this means a wrong URL (the endpoint is not there)."""


class HarvestResourceNotFound(HarvestError):
    """404 on a call about one resource (the note's candidate): that resource is gone (merged
    away or deleted). Not a subclass of HarvestNotFound: it says nothing about the connection."""

    def __init__(
        self, message: str, *, kind: str, resource_id: int | None, status: int | None = 404
    ):
        self.kind = kind
        self.resource_id = resource_id
        super().__init__(message, status=status, resource=f"{kind} {resource_id}")


class HarvestValidationError(HarvestError):
    """422 (or 400): Greenhouse's messages are in `errors`."""


class HarvestRateLimited(HarvestError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float, status: int | None = 429):
        self.retry_after = retry_after
        super().__init__(message, status=status)


class HarvestServerError(HarvestError):
    retryable = True


class HarvestUnavailable(HarvestError):
    """The host could not be reached, or a read timed out / was cut off."""

    retryable = True


class HarvestDeadlineExceeded(HarvestUnavailable):
    """The caller's wall-clock deadline passed; open connections were cut."""


class HarvestAmbiguousWrite(HarvestError):
    """The write was sent, then no clear answer came: the note may or may not exist."""


class HarvestHostNotAllowed(HarvestError):
    """A URL or host profile outside settings.GREENHOUSE_HOSTS: refused before any connection."""


class Scope(StrEnum):
    """Whom an error is about: the caller acts on this, never on the message."""

    RESOURCE = "resource"  # this one record's resource (candidate gone, note refused): others go on
    CONNECTION = "connection"  # the credential or the host: every record of the team waits
    RATE_LIMITED = "rate_limited"  # not applied; the same request later will do
    UNREACHABLE = "unreachable"  # Greenhouse or the network is down (5xx, timeout, refused)
    AMBIGUOUS = "ambiguous"  # a write was sent and no clear answer came: read back first


def scope_of(exc: BaseException) -> Scope:
    """The classification table (tests/greenhouse/test_error_scope.py holds it row by row).

    Only a failure of the token endpoint, or of a call that involves no single resource, is
    about the connection: a 401 (the token was refreshed once already), a route 404, a missing
    scope, a host this server does not allow or a secret it cannot decrypt. Any 4xx about one
    resource (403 without a scope problem: the acting user may not see this candidate; 404;
    409; 400/422) is about that resource only."""
    if isinstance(exc, HarvestAmbiguousWrite):
        return Scope.AMBIGUOUS
    if isinstance(exc, HarvestRateLimited):
        return Scope.RATE_LIMITED
    if isinstance(exc, HarvestServerError | HarvestUnavailable):
        return Scope.UNREACHABLE
    if isinstance(exc, HarvestResourceNotFound):
        return Scope.RESOURCE
    if isinstance(exc, HarvestAuthenticationError | HarvestNotFound | HarvestHostNotAllowed):
        return Scope.CONNECTION
    if isinstance(exc, crypto.SecretDecryptionError):
        return Scope.CONNECTION
    if isinstance(exc, HarvestPermissionError):
        detail = " ".join([exc.message, *exc.errors]).lower()
        if exc.resource is None or "scope" in detail:
            return Scope.CONNECTION
        return Scope.RESOURCE
    if isinstance(exc, HarvestError):
        status = exc.status
        if status is None:
            return Scope.UNREACHABLE  # an answer we could not read: try again later
        if status >= 500:
            return Scope.UNREACHABLE
        if 300 <= status < 400:
            return Scope.CONNECTION  # a redirect, never followed: the host is wrong
        return Scope.RESOURCE if exc.resource is not None else Scope.CONNECTION
    return Scope.UNREACHABLE  # not Greenhouse's answer at all: the caller logs it


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clip_text(text: str) -> str:
    text = " ".join(_CONTROL_CHARACTERS.sub(" ", text).split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1].rstrip() + "…"


def json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def greenhouse_messages(response: requests.Response, *, hide: Iterable[str] = ()) -> list[str]:
    """Greenhouse's own error messages, when the answer has its documented shape: JSON
    {"message": str, "errors": [str | {"message": str, "field": str} | {field: str}]}, or an
    OAuth error {"error": str, "error_description": str}. Anything else gives none (the caller
    then says only what happened). Each message is cut short; `hide` (the secret, a token) is
    never repeated, in case a host echoes it."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    payload = json_or_none(response) if content_type.endswith("json") else None
    if not isinstance(payload, dict):
        return []
    messages = []
    errors = payload.get("errors")
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, str):
            messages.append(item)
        elif isinstance(item, dict) and isinstance(item.get("message"), str):
            field_name = item.get("field")
            messages.append(
                f"{field_name}: {item['message']}"
                if isinstance(field_name, str) and field_name
                else item["message"]
            )
        elif isinstance(item, dict) and len(item) == 1:
            [(key, value)] = item.items()
            if isinstance(value, str):
                messages.append(f"{key}: {value}")
    if not messages:
        for key in ("message", "error_description", "error"):
            if isinstance(payload.get(key), str):
                messages.append(payload[key])
                break
    clipped = []
    for message in messages[:MAX_ERROR_MESSAGES]:
        for secret in hide:
            if secret:
                message = message.replace(secret, "[hidden]")
        if message := clip_text(message):
            clipped.append(message)
    return clipped


def in_plain_words(exc: Exception, *, acting_user_id: int | None, host_label: str) -> str:
    """What is wrong and what to do, for team admins and support staff."""
    acting = (
        f"Greenhouse user {acting_user_id}" if acting_user_id else "the credential's service user"
    )
    if isinstance(exc, crypto.SecretDecryptionError):
        return (
            "The stored client secret cannot be decrypted with the current FIELD_ENCRYPTION_KEYS. "
            "Enter the secret again, or restore the key it was encrypted with."
        )
    if isinstance(exc, HarvestAuthenticationError):
        if exc.status == 400 and "acting user" in exc.message:
            return f"{exc.message} Set the acting user to the ID of an active Greenhouse user."
        return (
            f"Bad credentials: {exc.message} Check the client ID and secret, or create new "
            "Harvest V3 (OAuth) credentials in Greenhouse (Configure → Dev Center → API "
            "Credentials)."
        )
    if isinstance(exc, HarvestPermissionError):
        detail = clip_text(" ".join(exc.errors)) or exc.message
        if "scope" in detail.lower():
            return (
                f"Missing scope: {detail} In Greenhouse, edit the API credential and grant "
                f"{', '.join(REQUIRED_SCOPES)}."
            )
        if "site admin" in detail.lower():
            return (
                f"Not a Site Admin: {acting} is not a Site Admin, and Harvest list endpoints "
                "need one. Set the acting user to a Site Admin's ID (or make that user one)."
            )
        return f"Greenhouse refused access: {detail}"
    if isinstance(exc, HarvestHostNotAllowed):
        return (
            "This connection's Greenhouse host is not configured on this server. Ask support to "
            "choose one of the configured hosts."
        )
    if isinstance(exc, HarvestResourceNotFound):
        return (
            f"Greenhouse has no {exc.kind} {exc.resource_id} (404): it was merged into another "
            f"{exc.kind} or deleted."
        )
    if isinstance(exc, HarvestNotFound):
        return (
            f"Greenhouse has no Harvest v3 API at {host_label} (404). Ask support "
            "to check the Greenhouse host of this connection."
        )
    if isinstance(exc, HarvestDeadlineExceeded):
        return f"Host too slow: {exc.message} Try again in a few minutes."
    if isinstance(exc, HarvestUnavailable):
        return (
            f"Host unreachable: {exc.message} Try again in a few minutes; if it goes on, ask "
            "support to check that this server can reach Greenhouse."
        )
    if isinstance(exc, HarvestRateLimited):
        return f"Greenhouse's rate limit is used up; try again in {exc.retry_after:.0f} s."
    if isinstance(exc, HarvestServerError):
        return f"Greenhouse had a server error ({exc.status}); try again in a few minutes."
    if isinstance(exc, HarvestError):
        return exc.message
    return "An unexpected error occurred; see the server log."
