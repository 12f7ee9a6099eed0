"""SMS vendors behind one interface, one module each, as django-anymail does for email:
`twilio` (sending, the inbound and status webhooks, the status map and STOP words, together) in
production, `dev` (a local outbox the development pages read) otherwise.

A backend has `send(*, from_number, to_number, body, status_callback) -> SmsResult` and raises
SmsError; `get_sms_backend()` returns the one named by settings.SMS_BACKEND.
"""

from dataclasses import dataclass

from django.conf import settings
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


def get_sms_backend():
    return import_string(settings.SMS_BACKEND)()
