"""The bot email: when a thread starts being synced, one email to the recruiter who owns it.

Never to the candidate, never BCC'd. For email threads it is threaded into the conversation
(In-Reply-To/References), so it shows up where the recruiter reads it. It says the thread is
being written to Greenhouse, with which visibility, and carries the pause link. It is not stored
as a Message, so it is never synced itself.

One per thread: the BotNotice row is unique per thread and claimed before sending.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from apps.core.queue import queue_task_on_commit
from apps.messaging.addressing import new_message_id, reply_headers
from apps.messaging.models import Channel, Thread
from apps.messaging.selectors import thread_message_ids
from apps.messaging.services import reply_subject

from .models import BotNotice, GreenhouseIntegration, NoteVisibility
from .pausing import pause_url

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5

VISIBILITY_WORDS = {
    NoteVisibility.PUBLIC: (
        "public notes, visible to everyone with access to this candidate in Greenhouse "
        "(usually including the candidate's interviewers)"
    ),
    NoteVisibility.PRIVATE: (
        "private notes, visible to Greenhouse users allowed to see private notes"
    ),
    NoteVisibility.ADMIN_ONLY: "admin-only notes, visible to Job Admins and Site Admins",
}


def bot_notice_queue(*, thread: Thread) -> None:
    """Call in the transaction that marked the thread's first record written."""
    _, created = BotNotice.objects.get_or_create(
        thread_id=thread.pk, defaults={"rfc_message_id": new_message_id()}
    )
    if created:
        _queue_send(thread.pk)


def _queue_send(thread_id: int) -> None:
    from .tasks import bot_notice_send_task

    queue_task_on_commit(bot_notice_send_task, thread_id)


def _render(notice: BotNotice, thread: Thread, visibility: str) -> EmailMultiAlternatives:
    owner = thread.owner
    prospect = thread.prospect
    is_email = thread.channel == Channel.EMAIL
    context = {
        "thread": thread,
        "prospect": prospect,
        "owner": owner,
        "is_email": is_email,
        "visibility": visibility,
        "visibility_words": VISIBILITY_WORDS.get(visibility, visibility),
        "is_public": visibility == NoteVisibility.PUBLIC,
        "pause_url": pause_url(prospect=prospect, recipient=owner),
    }
    headers = {"Message-ID": f"<{notice.rfc_message_id}>", "Auto-Submitted": "auto-generated"}
    if is_email:
        subject = reply_subject(thread.subject or "your conversation")
        headers.update(reply_headers(thread_message_ids(thread_ids=[thread.pk])[thread.pk]))
    else:
        subject = f"Greenhouse sync: SMS with {prospect.full_name}"
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("greenhouse/email/bot_notice.txt", context),
        from_email=settings.GREENHOUSE_BOT_FROM_EMAIL,
        to=[owner.email],
        headers=headers,
    )
    email.attach_alternative(
        render_to_string("greenhouse/email/bot_notice.html", context), "text/html"
    )
    return email


def bot_notice_send(*, thread_id: int) -> str:
    """Send the thread's bot email once. Safe to call any number of times."""
    now = timezone.now()
    claimed = BotNotice.objects.filter(thread_id=thread_id, status=BotNotice.Status.PENDING).update(
        status=BotNotice.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return "skipped"
    notice = BotNotice.objects.select_related("thread__owner", "thread__prospect").get(
        thread_id=thread_id
    )
    thread = notice.thread
    mine = BotNotice.objects.filter(pk=notice.pk, status=BotNotice.Status.SENDING)
    if not thread.owner.email:
        mine.update(
            status=BotNotice.Status.FAILED,
            error="The recruiter who owns this conversation has no email address.",
        )
        return "failed"
    visibility = (
        GreenhouseIntegration.objects.filter(team_id=thread.team_id)
        .values_list("note_visibility", flat=True)
        .first()
        or NoteVisibility.PUBLIC
    )
    try:
        _render(notice, thread, visibility).send()
    except Exception as exc:
        logger.warning("Bot email for thread %s not sent: %s", thread_id, exc)
        if notice.attempts >= MAX_SEND_ATTEMPTS:
            mine.update(status=BotNotice.Status.FAILED, error=f"Not sent: {exc}"[:2000])
            return "failed"
        mine.update(status=BotNotice.Status.PENDING, error=f"Not sent yet: {exc}"[:2000])
        return "retry"
    mine.update(
        status=BotNotice.Status.SENT, sent_at=timezone.now(), recipient=thread.owner.email, error=""
    )
    return "sent"


def bot_notices_sweep(*, now: datetime, stale_after: timedelta, grace: timedelta) -> int:
    """Queue bot emails whose wake-up was lost, that failed transiently, or whose worker died
    (then it is sent again: a rare duplicate notice beats a missing pause link)."""
    BotNotice.objects.filter(
        status=BotNotice.Status.SENDING, claimed_at__lt=now - stale_after
    ).update(status=BotNotice.Status.PENDING)
    due = list(
        BotNotice.objects.filter(status=BotNotice.Status.PENDING)
        .filter(Q(created_at__lt=now - grace) | Q(attempts__gt=0))
        .values_list("thread_id", flat=True)[:500]
    )
    for thread_id in due:
        from .tasks import bot_notice_send_task

        bot_notice_send_task.apply_async(args=[thread_id])
    return len(due)
