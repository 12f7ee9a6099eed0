"""The development email backend of the demo: the local outbox, plus Greenhouse Maildrop.

A copy BCC'd to a Greenhouse Maildrop address goes to the local Harvest sandbox, which logs it
the way Greenhouse Maildrop does, so the demo shows BCC Maildrop next to the activity sync. It is
here, not in apps/messaging, because only the sandbox needs it: production mail goes to the ESP,
and Greenhouse's real Maildrop receives the BCC copy from there.
"""

import logging

import requests
from django.conf import settings

from apps.messaging.backends import DevOutboxEmailBackend
from apps.teams.bcc import has_greenhouse_maildrop

logger = logging.getLogger(__name__)

MAILDROP_TIMEOUT = 3  # seconds; the sandbox is local, and sending must not wait on it


def maildrop_sandbox_url() -> str:
    return f"{settings.GREENHOUSE_SANDBOX_URL.rstrip('/')}/_sandbox/maildrop"


class MaildropSandboxEmailBackend(DevOutboxEmailBackend):
    esp_name = "DevOutbox"

    def delivered_to_outbox(self, message, raw_bytes: bytes) -> None:
        if has_greenhouse_maildrop(message.bcc):
            self._deliver_to_maildrop_sandbox(raw_bytes)

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
