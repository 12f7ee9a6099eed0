"""Email backend for the embedded default: mail is written to a local outbox instead of an ESP.

It behaves like an Anymail backend (the message gets `anymail_status` with a message id), so the
sending code is the same in development and production. Each email is kept as a .eml file, headers
and BCC included, which the development outbox page lists. The file name carries the team of the
email (Anymail metadata "outreach_team", set by whoever sends it), so that the page shows each
member only their own team's mail, pause links included; mail without a team is for staff only.

A copy BCC'd to a Greenhouse Maildrop address goes to the local Harvest sandbox, which logs it
the way Greenhouse Maildrop does, so the demo shows BCC Maildrop next to the activity sync.
"""

import logging
import re
import uuid
from pathlib import Path

import requests
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.message import AnymailRecipientStatus
from django.conf import settings
from django.utils import timezone

from apps.teams.bcc import has_greenhouse_maildrop

logger = logging.getLogger(__name__)

MAILDROP_TIMEOUT = 3  # seconds; the sandbox is local, and sending must not wait on it


def dev_email_outbox_dir() -> Path:
    path = Path(settings.DEV_OUTBOX_DIR) / "email"
    path.mkdir(parents=True, exist_ok=True)
    return path


def maildrop_sandbox_url() -> str:
    return f"{settings.GREENHOUSE_SANDBOX_URL.rstrip('/')}/_sandbox/maildrop"


# "<stamp>-t<team id>-dev-<uuid>.eml"; no "t<id>-" when the email has no team.
OUTBOX_TEAM = re.compile(r"-t(\d+)-dev-[0-9a-f]+\.eml$")


def outbox_team_tag(metadata) -> str:
    team = (metadata or {}).get("outreach_team")
    return f"t{int(str(team))}-" if str(team or "").isdigit() else ""


def outbox_email_team_id(path: Path) -> int | None:
    match = OUTBOX_TEAM.search(path.name)
    return int(match.group(1)) if match else None


class DevOutboxEmailBackend(AnymailTestBackend):
    esp_name = "DevOutbox"

    def post_to_esp(self, payload, message):
        message_id = f"dev-{uuid.uuid4().hex}"
        raw = message.message()
        if message.bcc:
            # Django leaves Bcc out of the rendered headers; the outbox shows it.
            raw["Bcc"] = ", ".join(message.bcc)
        raw_bytes = raw.as_bytes()
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        team = outbox_team_tag(getattr(message, "metadata", None))
        (dev_email_outbox_dir() / f"{stamp}-{team}{message_id}.eml").write_bytes(raw_bytes)
        if has_greenhouse_maildrop(message.bcc):
            self._deliver_to_maildrop_sandbox(raw_bytes)
        status = AnymailRecipientStatus(message_id=message_id, status="sent")
        return {"recipient_status": {email: status for email in payload.recipient_emails}}

    def _deliver_to_maildrop_sandbox(self, raw_bytes: bytes) -> None:
        # What Greenhouse's mail server would receive as the BCC copy. A sandbox that is down
        # must never stop the email itself.
        try:
            response = requests.post(
                maildrop_sandbox_url(),
                data=raw_bytes,
                headers={"Content-Type": "message/rfc822"},
                timeout=MAILDROP_TIMEOUT,
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            logger.warning("Maildrop copy not delivered to the Harvest sandbox: %s", exc)
