"""SMS transports behind one interface: Twilio in production, a local outbox in development.

`get_sms_backend()` returns the one named by settings.SMS_BACKEND.
"""

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsResult:
    sid: str
    status: str


class SmsError(Exception):
    """Sending failed. `permanent` errors (bad number, opted out) are not retried."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class TwilioSmsBackend:
    # Twilio error codes that no retry can fix: invalid or unreachable numbers, opted-out recipient.
    PERMANENT_CODES = frozenset({21211, 21214, 21408, 21606, 21610, 21612, 21614})

    def __init__(self):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=TwilioHttpClient(timeout=15),
        )

    def send(
        self, *, from_number: str, to_number: str, body: str, status_callback: str
    ) -> SmsResult:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            msg = self.client.messages.create(
                from_=from_number, to=to_number, body=body, status_callback=status_callback
            )
        except TwilioRestException as exc:
            permanent = exc.code in self.PERMANENT_CODES or (
                400 <= exc.status < 500 and exc.status != 429
            )
            raise SmsError(
                f"Twilio error {exc.code}: {exc.msg}", permanent=permanent, code=exc.code
            ) from exc
        except TwilioException as exc:
            raise SmsError(f"Twilio unreachable: {exc}", permanent=False) from exc
        return SmsResult(sid=msg.sid, status=msg.status or "queued")


class DevOutboxSmsBackend:
    """Appends each SMS to var/outbox/sms.jsonl, which the development outbox page shows."""

    def send(
        self, *, from_number: str, to_number: str, body: str, status_callback: str
    ) -> SmsResult:
        sid = f"SMdev{uuid.uuid4().hex}"
        record = {
            "sid": sid,
            "from": from_number,
            "to": to_number,
            "body": body,
            "status_callback": status_callback,
            "sent_at": timezone.now().isoformat(),
        }
        path = dev_sms_outbox_path()
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return SmsResult(sid=sid, status="sent")


def dev_sms_outbox_path() -> Path:
    path = Path(settings.DEV_OUTBOX_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path / "sms.jsonl"


def get_sms_backend():
    return import_string(settings.SMS_BACKEND)()
