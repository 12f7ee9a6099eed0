"""Development-only pages (settings.DEV_TOOLS; 404 otherwise): the outboxes of the dev email and
SMS backends, and a simulator for inbound replies, so the whole loop can be shown without an ESP
or a Twilio account. The outbox shows a team member their own team's mail only (it holds pause
links and conversations); support staff see every team's.

The simulator goes through the real entry points: an email reply is sent on Anymail's `inbound`
signal (what its webhook views do after checking basic auth), an SMS is POSTed to the real Twilio
webhook view with a signature computed from TWILIO_AUTH_TOKEN, exactly as Twilio would.
"""

import json
import re
import uuid
from email import policy
from email.parser import BytesParser
from email.utils import make_msgid
from functools import wraps

from anymail.inbound import AnymailInboundMessage
from anymail.signals import AnymailInboundEvent, EventType, inbound
from csp.constants import NONE, SELF, UNSAFE_INLINE
from csp.decorators import csp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.test import RequestFactory
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from apps.sequences.models import ProspectPhone
from apps.teams.access import membership_for, team_member_required

from . import selectors
from .addressing import reply_address, reply_headers
from .backends import dev_email_outbox_dir, outbox_email_team_id
from .forms import SimulateEmailReplyForm, SimulateSmsForm
from .models import Channel, Message, Thread, VirtualPhoneNumber
from .selectors import thread_message_ids
from .sms.dev import dev_sms_outbox_path
from .sms.twilio import twilio_sms_inbound

OUTBOX_LIMIT = 100
SMS_SCANNED = 5000  # newest lines of the SMS outbox looked at for a team's last OUTBOX_LIMIT
SHOWN_HEADERS = (
    "From",
    "To",
    "Bcc",
    "Reply-To",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Date",
)


def dev_tools_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.DEV_TOOLS:
            raise Http404("Development tools are off.")
        return view(request, *args, **kwargs)

    return wrapper


def _outbox_team_id(request) -> int | None:
    """Whose mail the viewer may read: every team's for support staff (None), else their own
    team's; the outbox holds pause links and other teams' conversations."""
    if request.user.is_staff:
        return None
    membership = membership_for(request.user)
    if membership is None:
        raise PermissionDenied("You are not a member of a team.")
    return membership.team_id


def _read_emails(team_id: int | None) -> list[dict]:
    emails = []
    files = sorted(dev_email_outbox_dir().glob("*.eml"), reverse=True)
    if team_id is not None:
        files = [path for path in files if outbox_email_team_id(path) == team_id]
    for path in files[:OUTBOX_LIMIT]:
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        body = msg.get_body(preferencelist=("plain",))
        emails.append(
            {
                "name": path.name,
                "headers": [(h, msg[h]) for h in SHOWN_HEADERS if msg[h] is not None],
                "body": body.get_content() if body is not None else "",
                "has_html": msg.get_body(preferencelist=("html",)) is not None,
            }
        )
    return emails


def _read_sms(team_id: int | None) -> list[dict]:
    path = dev_sms_outbox_path()
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-SMS_SCANNED:]
    records = [json.loads(line) for line in reversed(lines) if line.strip()]
    if team_id is not None:
        teams = selectors.sms_team_ids(provider_ids=[r.get("sid") for r in records])
        records = [r for r in records if teams.get(r.get("sid")) == team_id]
    return records[:OUTBOX_LIMIT]


@dev_tools_required
@login_required
def dev_outbox(request):
    team_id = _outbox_team_id(request)
    context = {
        "emails": _read_emails(team_id),
        "sms": _read_sms(team_id),
        "all_teams": team_id is None,
    }
    return render(request, "messaging/dev_outbox.html", context)


# The HTML part is the ESP's content, not ours: it is served on its own, with a policy of its own
# (no script, no request anywhere, inline styles only), sandboxed, and framed only by the outbox.
# Its links open a new tab (the <base> below), so the pause link works as in a mail client.
HTML_PART_POLICY = {
    "default-src": [NONE],
    "style-src": [UNSAFE_INLINE],
    "img-src": ["data:"],
    "base-uri": [NONE],
    "form-action": [NONE],
    "frame-ancestors": [SELF],
    "sandbox": ["allow-popups", "allow-popups-to-escape-sandbox"],
}
OUTBOX_NAME = re.compile(r"^[\w.@+-]+\.eml$")


@dev_tools_required
@login_required
@xframe_options_sameorigin
@csp(HTML_PART_POLICY)  # type: ignore[arg-type]  # django-csp types views as (request) only
def dev_outbox_html(request, name):
    """The HTML part of one outbox email, for the outbox page's sandboxed iframe."""
    team_id = _outbox_team_id(request)
    path = dev_email_outbox_dir() / name
    if not OUTBOX_NAME.match(name) or not path.is_file():
        raise Http404("No such email in the outbox.")
    if team_id is not None and outbox_email_team_id(path) != team_id:
        raise Http404("No such email in the outbox.")
    msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    part = msg.get_body(preferencelist=("html",))
    if part is None:
        raise Http404("This email has no HTML part.")
    html = part.get_content()
    return HttpResponse(f'<base target="_blank">{html}', content_type="text/html; charset=utf-8")


def _simulate_forms(request, email_form=None, sms_form=None):
    threads = Thread.objects.filter(team=request.team, channel=Channel.EMAIL).select_related(
        "prospect"
    )
    numbers = VirtualPhoneNumber.objects.filter(team=request.team)
    phones = ProspectPhone.objects.filter(team=request.team).select_related("prospect")
    phones = phones.order_by("prospect__first_name", "prospect__last_name", "number")
    return {
        "email_form": email_form or SimulateEmailReplyForm(threads=threads),
        "sms_form": sms_form or SimulateSmsForm(numbers=numbers, phones=phones),
        "threads": threads,
        "numbers": numbers,
        "phones": phones,
    }


def _delivered(request, what: str, message: Message | None) -> None:
    """Say where the simulated message landed, with a link to its conversation."""
    if message is None:
        messages.warning(
            request,
            f"{what} delivered, but it matched no conversation: support staff find it under "
            "“Unmatched inbound messages” in the admin.",
        )
        return
    url = reverse("messaging:thread-detail", args=[message.thread_id])
    messages.success(
        request, format_html('{} delivered. <a href="{}">Open the conversation</a>', what, url)
    )


def _process_inbox_now() -> None:
    """The webhook only stored the event (apps/messaging/inbox.py); the worker turns it into a
    message. The simulator does that here too, so it can link to the conversation at once: the
    inbox's claims make a worker taking the same event meanwhile harmless."""
    from .inbox import inbound_events_process

    inbound_events_process()


def _not_delivered(request, context, *, form_key: str, form, what: str):
    context[form_key] = form
    messages.error(request, f"Nothing was delivered: correct the {what} form below.")
    return render(request, "messaging/dev_simulate.html", context, status=400)


@dev_tools_required
@team_member_required
def dev_simulate(request):
    return render(request, "messaging/dev_simulate.html", _simulate_forms(request))


@require_POST
@dev_tools_required
@team_member_required
def dev_simulate_email(request):
    context = _simulate_forms(request)
    form = SimulateEmailReplyForm(request.POST, threads=context["threads"])
    if not form.is_valid():
        return _not_delivered(request, context, form_key="email_form", form=form, what="email")
    thread = form.cleaned_data["thread"]
    last = thread.messages.filter(direction=Message.Direction.OUTBOUND).order_by("-id").first()
    history = thread_message_ids(thread_ids=[thread.pk])[thread.pk]
    prospect_address = form.cleaned_data["from_address"] or (
        last.to_addresses[0] if last else thread.prospect.emails.values_list("email", flat=True)[0]
    )
    match_by = form.cleaned_data["match_by"]
    rfc_message_id = make_msgid(domain="prospect.example")
    headers = [("Message-ID", rfc_message_id)]
    if match_by in ("token", "headers"):
        headers += list(reply_headers(history).items())
    recruiter = last.from_address if last else thread.owner.email
    to = reply_address(thread.pk) if match_by == "token" else recruiter
    mail = AnymailInboundMessage.construct(
        from_email=prospect_address,
        to=to,
        subject=f"Re: {thread.subject}",
        text=form.cleaned_data["body"],
        headers=headers,
    )
    mail.envelope_recipient = to
    event = AnymailInboundEvent(event_type=EventType.INBOUND, message=mail, event_id=None)
    inbound.send(sender=dev_simulate_email, event=event, esp_name="DevSimulator")
    _process_inbox_now()
    landed = Message.objects.filter(
        team=request.team, channel=Channel.EMAIL, message_id=rfc_message_id.strip("<>")
    ).first()
    _delivered(request, f"Inbound email from {prospect_address} ({match_by})", landed)
    return redirect("messaging:dev-simulate")


@require_POST
@dev_tools_required
@team_member_required
def dev_simulate_sms(request):
    context = _simulate_forms(request)
    form = SimulateSmsForm(request.POST, numbers=context["numbers"], phones=context["phones"])
    if not form.is_valid():
        return _not_delivered(request, context, form_key="sms_form", form=form, what="SMS")
    path = reverse("messaging:twilio-sms")
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "AccountSid": "ACdevsimulator",
        "From": form.cleaned_data["from_phone"].number,
        "To": form.cleaned_data["to_number"].number,
        "Body": form.cleaned_data["body"],
        "NumMedia": "0",
    }
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.PUBLIC_BASE_URL + path, params
    )
    webhook_request = RequestFactory().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
    response = twilio_sms_inbound(webhook_request)
    if response.status_code == 200:
        _process_inbox_now()
        landed = Message.objects.filter(
            team=request.team, channel=Channel.SMS, provider_message_id=params["MessageSid"]
        ).first()
        _delivered(request, f"Inbound SMS from {params['From']}", landed)
    else:
        messages.error(
            request, f"The webhook answered {response.status_code}: {response.content.decode()}"
        )
    return redirect("messaging:dev-simulate")
