"""Twilio, the SMS vendor: sending (TwilioSmsBackend), the inbound SMS and status-callback
webhooks, Twilio's status map and its STOP/START words, in one place.

The inbound SMS webhook stores the request in the inbox and answers (apps/messaging/inbox.py);
`sms_record_inbound` runs in the processor task. Both webhooks check `X-Twilio-Signature`
against the URL Twilio was given, rebuilt from PUBLIC_BASE_URL (not from the Host header,
which a proxy may rewrite). Missing or bad signature:
403, nothing stored. Malformed payload with a good signature: 400. Unknown numbers or message
ids: 200 with nothing to do beyond keeping an unmatched message for support, because Twilio
would only log an error (or retry) for something no retry can fix.
"""

import logging
import re

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from apps.sequences.models import ProspectPhone
from apps.sequences.services import prospect_phone_set_opt_out

from ..inbound import InboundResult, inbound_store, unmatched_store
from ..models import Channel, Message, UnmatchedInbound, VirtualPhoneNumber
from ..outbound import clean_text, sms_thread_get_or_create
from ..status import status_advance
from . import SmsError, SmsResult

logger = logging.getLogger(__name__)


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


# Twilio's default opt-out and opt-in keywords (a message that is just the word).
SMS_STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE"})


SMS_START_WORDS = frozenset({"START", "YES", "UNSTOP"})


TWILIO_STATUS = {
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "read": Message.Status.DELIVERED,
    "undelivered": Message.Status.FAILED,
    "failed": Message.Status.FAILED,
    "canceled": Message.Status.FAILED,
}


def sms_status_record(*, sid: str, status: str, error_code: str = "") -> bool:
    """Twilio status callback. Intermediate statuses (queued, sending) change nothing."""
    new_status = TWILIO_STATUS.get(status.lower())
    if new_status is None:
        return False
    error = ""
    if new_status == Message.Status.FAILED:
        error = f"Twilio reported {status}" + (f" (error {error_code})" if error_code else "")
    return status_advance(channel=Channel.SMS, provider_id=sid, status=new_status, error=error)


def sms_record_inbound(
    *, from_number: str, to_number: str, sid: str, body: str, provider: str = "Twilio"
) -> InboundResult:
    """An inbound SMS on one of our virtual numbers (Twilio webhook, signature already checked)."""
    body = clean_text(body)
    if (
        Message.objects.filter(channel=Channel.SMS, provider_message_id=sid).exists()
        or UnmatchedInbound.objects.filter(channel=Channel.SMS, provider_message_id=sid).exists()
    ):
        return InboundResult(duplicate=True)
    common = {"from_address": from_number, "body_text": body, "provider_message_id": sid}
    number = VirtualPhoneNumber.objects.filter(number=to_number).first()
    if number is None:
        unmatched = unmatched_store(
            channel=Channel.SMS,
            reason=UnmatchedInbound.Reason.UNKNOWN_NUMBER,
            to_addresses=[to_number],
            provider=provider,
            **common,
        )
        return InboundResult(unmatched=unmatched, duplicate=unmatched is None)
    keyword = body.strip().upper()
    with transaction.atomic():
        if keyword in SMS_STOP_WORDS:
            prospect_phone_set_opt_out(team=number.team, number=from_number, opted_out=True)
        elif keyword in SMS_START_WORDS:
            prospect_phone_set_opt_out(team=number.team, number=from_number, opted_out=False)
        phone = (
            ProspectPhone.objects.select_related("prospect")
            .filter(team_id=number.team_id, number=from_number)
            .first()
        )
        if phone is None:
            # Nobody of the team has this number: keep it for support rather than invent a
            # prospect from a number alone.
            unmatched = unmatched_store(
                channel=Channel.SMS,
                reason=UnmatchedInbound.Reason.UNKNOWN_SENDER,
                team_id=number.team_id,
                to_addresses=[to_number],
                provider=provider,
                **common,
            )
            return InboundResult(unmatched=unmatched, duplicate=unmatched is None)
        thread = sms_thread_get_or_create(number=number, prospect=phone.prospect)
        message = inbound_store(
            thread=thread, to_addresses=[to_number], sender_is_prospect=True, **common
        )
    return InboundResult(message=message, duplicate=message is None)


# --- Webhooks --------------------------------------------------------------------------------


_NUMBER = re.compile(r"^\+?[0-9]{3,15}$")
# Phone numbers, short codes and alphanumeric sender ids ("whatsapp:+1…" is longer than we keep).
_SENDER = re.compile(r"^[+A-Za-z0-9]{1,20}$")
_SID = re.compile(r"^[A-Za-z0-9]{10,64}$")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _signature_valid(request) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        # Without a token anyone could compute a "valid" signature: refuse everything.
        return False
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    return RequestValidator(token).validate(url, request.POST, signature)


def _twilio_webhook(view):
    """csrf_exempt + POST only + parseable form body + valid signature."""

    @csrf_exempt
    @require_POST
    def wrapper(request):
        try:
            request.POST  # noqa: B018  (parse now: a broken body is a 400, not a 500)
        except Exception:
            return HttpResponseBadRequest("Unreadable form body.")
        if not _signature_valid(request):
            logger.warning("Twilio webhook %s with a missing or bad signature", request.path)
            return HttpResponseForbidden("Invalid Twilio signature.")
        return view(request)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def sms_fields_problems(fields) -> list[str]:
    """The fields of an inbound SMS that are missing or invalid (the webhook answers 400 for
    them; the inbox processor checks a stored event again)."""
    problems = []
    if not _SENDER.match(str(fields.get("From", "")).strip()):
        problems.append("From")
    if not _NUMBER.match(str(fields.get("To", "")).strip()):
        problems.append("To")
    if not _SID.match(str(fields.get("MessageSid", "")).strip()):
        problems.append("MessageSid")
    return problems


@_twilio_webhook
def twilio_sms_inbound(request):
    """Accept, then process (inbox.py): the signed SMS is stored as it came and the processor
    task makes the Message; Twilio's answer never depended on it."""
    from ..inbox import inbound_sms_accept

    fields = request.POST.dict()
    problems = sms_fields_problems(fields)
    if problems:
        return HttpResponseBadRequest(f"Missing or invalid: {', '.join(problems)}.")
    inbound_sms_accept(fields=fields)
    # Empty TwiML: no automatic answer (Twilio itself answers STOP/START/HELP).
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@_twilio_webhook
def twilio_sms_status(request):
    data = request.POST
    sid = data.get("MessageSid", "").strip()
    status = data.get("MessageStatus", "").strip()
    if not _SID.match(sid) or not re.match(r"^[a-z_]{2,30}$", status):
        return HttpResponseBadRequest("Missing or invalid: MessageSid or MessageStatus.")
    error_code = data.get("ErrorCode", "").strip()[:10]
    sms_status_record(sid=sid, status=status, error_code=error_code)
    return HttpResponse(status=204)
