"""Recruiter pages: conversations, answering in a thread, one-off SMS. Team-scoped."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.extensions import annotate
from apps.sequences.models import Prospect
from apps.teams.access import get_for_team_or_404, team_member_required

from . import outbound, selectors
from .addressing import reply_address
from .forms import ReplyForm, SmsForm
from .models import Channel, Thread


@team_member_required
def thread_list(request):
    page = Paginator(selectors.thread_list(team=request.team), 50).get_page(request.GET.get("page"))
    return render(request, "messaging/thread_list.html", {"page": page, "threads": page})


def _render_thread(request, thread, form, status=200):
    thread_messages = list(selectors.thread_messages(thread=thread))
    # What other apps say about each message (the Greenhouse app: its sync status and why).
    extras = annotate("thread.messages", request, thread_messages)
    for message in thread_messages:
        message.extras = extras.get(message.pk, "")  # type: ignore[attr-defined]  # for the page
    context = {
        "thread": thread,
        "thread_messages": thread_messages,
        "form": form,
        "reply_address": reply_address(thread.pk) if thread.channel == Channel.EMAIL else "",
        "can_reply": thread.channel == Channel.EMAIL
        or thread.virtual_number.user_id == request.user.pk,
    }
    return render(request, "messaging/thread_detail.html", context, status=status)


@team_member_required
def thread_detail(request, pk):
    thread = get_for_team_or_404(
        Thread.objects.select_related("prospect", "owner", "virtual_number__user", "enrollment"),
        request.team,
        pk=pk,
    )
    return _render_thread(request, thread, ReplyForm())


@require_POST
@team_member_required
def thread_reply(request, pk):
    thread = get_for_team_or_404(
        Thread.objects.select_related("prospect", "virtual_number__user", "enrollment"),
        request.team,
        pk=pk,
    )
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            outbound.thread_reply_create(
                thread=thread, sender=request.user, body=form.cleaned_data["body"]
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, "Your answer is on its way.")
            return redirect("messaging:thread-detail", pk=thread.pk)
    return _render_thread(request, thread, form, status=400)


@team_member_required
def sms_send(request, pk):
    prospect = get_for_team_or_404(Prospect.objects.all(), request.team, pk=pk)
    phones = list(prospect.phones.all())
    form = SmsForm(request.POST or None, numbers=[p.number for p in phones])
    if request.method == "POST" and form.is_valid():
        try:
            message = outbound.sms_send(
                sender=request.user,
                prospect=prospect,
                to_number=form.cleaned_data["to_number"],
                body=form.cleaned_data["body"],
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, f"SMS to {prospect} queued.")
            return redirect("messaging:thread-detail", pk=message.thread_id)
    number = getattr(request.user, "virtual_number", None)
    return render(
        request,
        "messaging/sms_send.html",
        {"prospect": prospect, "phones": phones, "form": form, "number": number},
        status=400 if form.errors else 200,
    )
