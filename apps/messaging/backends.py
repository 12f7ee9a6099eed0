"""Email backend for the embedded default: mail is written to a local outbox instead of an ESP.

It behaves like an Anymail backend (the message gets `anymail_status` with a message id), so the
sending code is the same in development and production. Each email is kept as a .eml file, headers
and BCC included, which the development outbox page lists.
"""

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


class DevOutboxEmailBackend(AnymailTestBackend):
    esp_name = "DevOutbox"

    def post_to_esp(self, payload, message):
        message_id = f"dev-{uuid.uuid4().hex}"
        raw = message.message()
        if message.bcc:
            # Django leaves Bcc out of the rendered headers; the outbox shows it.
            raw["Bcc"] = ", ".join(message.bcc)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        (dev_email_outbox_dir() / f"{stamp}-{message_id}.eml").write_bytes(raw.as_bytes())
        status = AnymailRecipientStatus(message_id=message_id, status="sent")
        return {"recipient_status": {email: status for email in payload.recipient_emails}}
