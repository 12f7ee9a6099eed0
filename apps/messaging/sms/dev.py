"""The development SMS backend: each SMS is appended to a local outbox file (DEV_OUTBOX_DIR), which
the development outbox page shows, so the demo needs no Twilio account."""

import json
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from . import SmsResult


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
