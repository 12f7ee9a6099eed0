"""Email threading: our Message-IDs, the signed reply address of a thread, header parsing, and
the In-Reply-To/References of a reply (every sender of mail in a thread builds them here).

Reply address: ``reply.<thread id>.<signature>@<REPLY_ADDRESS_DOMAIN>``. The signature is an HMAC
(django.core.signing, with its own salt) in lower-case hex, because some mail systems lower-case
local parts and a base64 signature would not survive that. `.` separates the parts rather than
`+`, which some list software drops. The local part stays well under the 64-character limit.
"""

import re
from collections.abc import Iterable
from email.utils import make_msgid

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

REPLY_PREFIX = "reply"
_SIGNATURE_LENGTH = 26  # hex characters: 104 bits
_REPLY_LOCAL = re.compile(rf"^{REPLY_PREFIX}\.(\d{{1,18}})\.([0-9a-f]+)$")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
# Message-IDs kept in References: the thread's first and the latest ones (RFC 5322 §3.6.4 allows
# trimming; long threads would otherwise grow the header without bound).
REFERENCES_KEPT = 20


class _ReplyTokenSigner(signing.Signer):
    """A Signer (so it gets salts, key fallbacks and constant-time checks) with a hex signature."""

    salt: str  # always given as text here

    def signature(self, value, key=None):
        key = key or self.key
        digest = salted_hmac(self.salt + "signer", value, key, algorithm=self.algorithm)
        return digest.hexdigest()[:_SIGNATURE_LENGTH]


def _signer() -> _ReplyTokenSigner:
    return _ReplyTokenSigner(sep=".", salt="messaging.reply-address", algorithm="sha256")


def reply_address(thread_id: int) -> str:
    token = _signer().sign(str(thread_id))
    return f"{REPLY_PREFIX}.{token}@{settings.REPLY_ADDRESS_DOMAIN}"


def thread_id_from_reply_address(address: str) -> tuple[int | None, bool]:
    """(thread id, False) for a valid reply address; (None, True) for a reply address with a bad
    signature; (None, False) for any other address."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    if domain != settings.REPLY_ADDRESS_DOMAIN.lower():
        return None, False
    match = _REPLY_LOCAL.match(local)
    if not match:
        return None, False
    try:
        value = _signer().unsign(f"{match.group(1)}.{match.group(2)}")
    except signing.BadSignature:
        return None, True
    return int(value), False


def new_message_id() -> str:
    """A fresh RFC 5322 Message-ID, without angle brackets."""
    return make_msgid(domain=settings.EMAIL_DOMAIN).strip("<>")


def parse_message_ids(value: str | None) -> list[str]:
    """'<a@x> <b@y>' -> ['a@x', 'b@y']; a bare id without brackets is accepted too."""
    if not value:
        return []
    value = str(value)
    found = _MSG_ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip()]
    return [f[:998] for f in found]


def bracket(ids: list[str]) -> str:
    return " ".join(f"<{i}>" for i in ids)


def trim_references(ids: Iterable[str]) -> list[str]:
    """The Message-IDs of a thread (oldest first) that a reply's References keeps."""
    ids = list(ids)
    if len(ids) <= REFERENCES_KEPT:
        return ids
    return [ids[0], *ids[-(REFERENCES_KEPT - 1) :]]


def reply_headers(ids: list[str]) -> dict[str, str]:
    """In-Reply-To and References of a reply to a thread whose Message-IDs are `ids`, oldest
    first ({} for a thread without any)."""
    ids = trim_references(ids)
    if not ids:
        return {}
    return {"In-Reply-To": f"<{ids[-1]}>", "References": bracket(ids)}
