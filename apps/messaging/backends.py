"""Email backend for the embedded default: mail is written to a local outbox instead of an ESP.

It behaves like an Anymail backend (the message gets `anymail_status` with a message id), so the
sending code is the same in development and production. Each email is kept as a .eml file, headers
and BCC included, which the development outbox page lists. The file name carries the team of the
email (Anymail metadata "outreach_team", set by whoever sends it), so that the page shows each
member only their own team's mail, pause links included; mail without a team is for staff only.

Forwarding a Maildrop BCC copy to the local Harvest sandbox is the sandbox's business
(apps/harvest_sandbox/backends.py extends this backend through `delivered_to_outbox`).
"""

import re
import uuid
from pathlib import Path

from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.message import AnymailRecipientStatus
from django.conf import settings
from django.utils import timezone


def dev_email_outbox_dir() -> Path:
    path = Path(settings.DEV_OUTBOX_DIR) / "email"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
        self.delivered_to_outbox(message, raw_bytes)
        status = AnymailRecipientStatus(message_id=message_id, status="sent")
        return {"recipient_status": {email: status for email in payload.recipient_emails}}

    def delivered_to_outbox(self, message, raw_bytes: bytes) -> None:
        """Called with each email as written to the outbox; a subclass may pass it on."""
