"""The guards around Anymail's ESP webhooks (inbound mail, delivery tracking): only the ESP in
use is mounted, an unreadable payload is a 400, and the inbound webhook has its own size limit.
Twilio's webhooks are the SMS vendor's (sms/twilio.py).
"""

import logging
import re
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt

from apps.core.middleware import checks_own_request_size, request_content_length

from .inbound import email_record_too_large

logger = logging.getLogger(__name__)

# --- Anymail's ESP webhooks ---------------------------------------------------------------------


class _UnreadablePayloadIs400:
    """Anymail answers 500 when an authenticated request's body cannot be parsed (malformed JSON,
    fields of the wrong type): ESPs retry a 500 for days, and a body that cannot be read never
    gets better. Parse errors become AnymailWebhookValidationFailure, which Django answers 400;
    errors in the signal receivers (storing the message) still answer 500 so the ESP retries."""

    esp_name: str  # from the Anymail view this mixes into (after it in the MRO)

    def parse_events(self, request):
        from anymail.exceptions import AnymailWebhookValidationFailure

        try:
            return list(super().parse_events(request))  # type: ignore[misc]
        except AnymailWebhookValidationFailure:
            raise
        except Exception as exc:
            logger.warning(
                "Unreadable %s webhook payload at %s: %r", self.esp_name, request.path, exc
            )
            raise AnymailWebhookValidationFailure(
                f"The {self.esp_name} webhook payload could not be read."
            ) from exc


class _InboundSizeLimit:
    """Inbound email up to INBOUND_EMAIL_MAX_BYTES (DATA_UPLOAD_MAX_MEMORY_SIZE is raised to it in
    settings; RequestBodyLimitMiddleware keeps other views at 2.5 MB). A reply with an ordinary
    attachment used to answer 400 and be stored nowhere.

    Past the maximum the body is not read: an ESP with our credentials gets 413, which ESPs
    retry (and keep in their own inbound log), and a trace with the start of the request is kept
    as an UnmatchedInbound for support. A caller without the credentials gets Anymail's 400 and
    leaves nothing behind."""

    esp_name: str  # from the Anymail view this mixes into (after it in the MRO)
    basic_auth: list[str]

    @method_decorator(csrf_exempt)  # as Anymail's own dispatch (as_view copies the marks)
    @method_decorator(login_not_required)
    def dispatch(self, request, *args, **kwargs):
        from anymail.webhooks.base import AnymailBasicAuthMixin

        size = request_content_length(request)
        if request.method != "POST" or size <= settings.INBOUND_EMAIL_MAX_BYTES:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        # Raises AnymailWebhookValidationFailure (400) for missing or wrong credentials.
        AnymailBasicAuthMixin.validate_request(self, request)
        if self.basic_auth:  # never set by strangers: with no secret, nothing is kept
            head = request.read(TOO_LARGE_HEAD_BYTES)
            email_record_too_large(esp_name=self.esp_name, size=size, head=head)
        return HttpResponse(
            f"Too large: at most {settings.INBOUND_EMAIL_MAX_BYTES} bytes. Retry later.",
            status=413,
            content_type="text/plain",
        )


# What is read of an inbound request over the maximum, for the trace kept for support.
TOO_LARGE_HEAD_BYTES = 64 * 1024


def esp_in_use() -> str:
    """The ESP whose webhooks are mounted: ANYMAIL_ESP, else the one of an Anymail EMAIL_BACKEND
    ("anymail.backends.<esp>.EmailBackend"); "" for the development outbox or SMTP."""
    esp = settings.ANYMAIL_ESP.strip().lower()
    if not esp:
        match = re.fullmatch(r"anymail\.backends\.(\w+)\.EmailBackend", settings.EMAIL_BACKEND)
        esp = match.group(1) if match else ""
    return esp


def _route_esp(pattern) -> str:
    # "postmark/inbound/", "^mailgun/inbound(_mime)?/$", "mandrill/" -> the ESP's name.
    return str(pattern.pattern).lstrip("^").split("/", 1)[0]


def anymail_urlpatterns(*, esp: str) -> list:
    """Anymail's webhook URLs (anymail.urls) of `esp` only, each view with
    `_UnreadablePayloadIs400`, and the views that receive inbound email with `_InboundSizeLimit`.

    Only the ESP in use is mounted: the others' views answer 500 (ImproperlyConfigured, with a
    traceback in the log) when their settings are missing, so anyone could fill the error log
    and trigger alerts by calling them. Unmounted, they are a plain 404."""
    from anymail import urls
    from anymail.signals import tracking
    from anymail.webhooks.base import AnymailBasicAuthMixin
    from django.urls import URLPattern

    patterns = []
    for pattern in urls.urlpatterns:
        if not esp or _route_esp(pattern) != esp:
            continue
        view_class = getattr(pattern.callback, "view_class", None)
        if view_class is not None:
            # Inbound views, and Mandrill's combined one (its signal is chosen per event).
            inbound = view_class.signal is not tracking and issubclass(
                view_class, AnymailBasicAuthMixin
            )
            mixins = (_InboundSizeLimit,) if inbound else ()
            guarded: Any = type(
                view_class.__name__, (*mixins, _UnreadablePayloadIs400, view_class), {}
            )
            view = guarded.as_view()
            if inbound:
                view = checks_own_request_size(view)
            pattern = URLPattern(pattern.pattern, view, pattern.default_args, pattern.name)
        patterns.append(pattern)
    return patterns
