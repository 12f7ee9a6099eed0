"""Development-only pages (settings.DEV_TOOLS; 404 otherwise): the outboxes of the dev email and
SMS backends, and a simulator for inbound replies, so the whole loop can be shown without an ESP
or a Twilio account. The outbox shows a team member their own team's mail only (it holds pause
links and conversations); support staff see every team's.

The simulator goes through the real entry points: an email reply is sent on Anymail's `inbound`
signal (what its webhook views do after checking basic auth), an SMS is POSTed to the real Twilio
webhook view with a signature computed from TWILIO_AUTH_TOKEN, exactly as Twilio would.
"""

import json
import uuid
from email import policy
from email.parser import BytesParser
from email.utils import make_msgid
from functools import wraps

from anymail.inbound import AnymailInboundMessage
from anymail.signals import AnymailInboundEvent, EventType, inbound
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.test import RequestFactory
from django.urls import reverse
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

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


def _simulate_forms(request, email_form=None, sms_form=None):
    threads = Thread.objects.filter(team=request.team, channel=Channel.EMAIL).select_related(
        "prospect"
    )
    numbers = VirtualPhoneNumber.objects.filter(team=request.team)
    return {
        "email_form": email_form or SimulateEmailReplyForm(threads=threads),
        "sms_form": sms_form or SimulateSmsForm(numbers=numbers),
        "threads": threads,
        "numbers": numbers,
    }


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
        context["email_form"] = form
        return render(request, "messaging/dev_simulate.html", context, status=400)
    thread = form.cleaned_data["thread"]
    last = thread.messages.filter(direction=Message.Direction.OUTBOUND).order_by("-id").first()
    history = thread_message_ids(thread_ids=[thread.pk])[thread.pk]
    prospect_address = form.cleaned_data["from_address"] or (
        last.to_addresses[0] if last else thread.prospect.emails.values_list("email", flat=True)[0]
    )
    match_by = form.cleaned_data["match_by"]
    headers = [("Message-ID", make_msgid(domain="prospect.example"))]
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
    messages.success(request, f"Inbound email from {prospect_address} delivered ({match_by}).")
    return redirect("messaging:dev-simulate")


@require_POST
@dev_tools_required
@team_member_required
def dev_simulate_sms(request):
    context = _simulate_forms(request)
    form = SimulateSmsForm(request.POST, numbers=context["numbers"])
    if not form.is_valid():
        context["sms_form"] = form
        return render(request, "messaging/dev_simulate.html", context, status=400)
    path = reverse("messaging:twilio-sms")
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "AccountSid": "ACdevsimulator",
        "From": form.cleaned_data["from_number"].strip(),
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
        messages.success(request, f"Inbound SMS from {params['From']} delivered to the webhook.")
    else:
        messages.error(
            request, f"The webhook answered {response.status_code}: {response.content.decode()}"
        )
    return redirect("messaging:dev-simulate")
