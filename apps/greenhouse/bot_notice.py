"""The bot email: when a thread starts being synced, one email to the recruiter who owns it.

Never to the candidate, never BCC'd. For email threads it is threaded into the conversation
(In-Reply-To/References), so it shows up where the recruiter reads it. It says the thread is
being written to Greenhouse, with which visibility, and carries the pause link. It is not stored
as a Message, so it is never synced itself.

One per thread: the BotNotice row is unique per thread and claimed before sending. Claim,
backoff, lease and sweep are the shared outbox's (apps/core/outbox.py).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from apps.core import outbox
from apps.messaging.addressing import new_message_id, reply_headers
from apps.messaging.models import Channel, Thread
from apps.messaging.outbound import reply_subject
from apps.messaging.selectors import thread_message_ids

from .models import BotNotice, GreenhouseIntegration, NoteVisibility
from .pausing import pause_url
from .visibility import thread_note_visibility

logger = logging.getLogger(__name__)

VISIBILITY_WORDS: dict[str, str] = {
    # Who sees public notes is said once, in the email's own warning paragraph.
    NoteVisibility.PUBLIC: "public notes",
    NoteVisibility.PRIVATE: (
        "private notes, visible to Greenhouse users allowed to see private notes"
    ),
    NoteVisibility.ADMIN_ONLY: "admin-only notes, visible to Job Admins and Site Admins",
}


def bot_notice_queue(*, thread: Thread) -> None:
    """Call in the transaction that marked the thread's first record written."""
    notice, created = BotNotice.objects.get_or_create(
        thread_id=thread.pk,
        defaults={"rfc_message_id": new_message_id(), "queued_at": timezone.now()},
    )
    if created:
        notice.wake_on_commit()


def bot_notices_queue(*, thread_ids: list[int]) -> None:
    """`bot_notice_queue` for the threads of a batch whose first note was just written, in one
    INSERT (the batch's fast path). A thread given its notice meanwhile by another worker makes
    the INSERT fail as a whole: then each is queued as `bot_notice_queue` does, one by one."""
    if not thread_ids:
        return
    now = timezone.now()
    try:
        with transaction.atomic():
            notices = BotNotice.objects.bulk_create(
                [
                    BotNotice(thread_id=pk, rfc_message_id=new_message_id(), queued_at=now)
                    for pk in thread_ids
                ]
            )
    except IntegrityError:
        for pk in thread_ids:
            bot_notice_queue(thread=Thread(pk=pk))
        return
    BotNotice._queue_on_commit([notice.thread_id for notice in notices], now)


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
    # Anymail reads `metadata` from any EmailMessage; it scopes the development outbox.
    email.metadata = {"outreach_team": str(thread.team_id)}  # type: ignore[attr-defined]
    return email


def bot_notice_send(*, thread_id: int) -> str:
    """Send the thread's bot email once. Safe to call any number of times."""
    claimed_at = BotNotice.claim(thread_id=thread_id)
    if claimed_at is None:
        BotNotice.release(thread_id=thread_id)  # not due yet: the sweep queues it when it is
        return "skipped"
    notice = BotNotice.objects.select_related("thread__owner", "thread__prospect").get(
        thread_id=thread_id
    )
    thread = notice.thread
    mine = BotNotice.held(pk=notice.pk, claimed_at=claimed_at)
    if not thread.owner.email:
        mine.update(
            status=BotNotice.Status.FAILED,
            error="The recruiter who owns this conversation has no email address.",
        )
        return "failed"
    team_visibility = (
        GreenhouseIntegration.objects.filter(team_id=thread.team_id)
        .values_list("note_visibility", flat=True)
        .first()
        or NoteVisibility.PUBLIC
    )
    # The thread's own, when stricter (visibility.py: the rule the notes are written with).
    visibility = thread_note_visibility(thread_id=thread.pk, team_default=team_visibility)
    try:
        _render(notice, thread, visibility).send()
    except Exception as exc:
        logger.warning("Bot email for thread %s not sent: %s", thread_id, exc)
        reason = f"Not sent: {exc}"
        next_at = BotNotice.retry_later(
            pk=notice.pk, claimed_at=claimed_at, attempts=notice.attempts, reason=reason
        )
        if next_at is None:
            error = BotNotice.gave_up_error(notice.attempts, reason)
            mine.update(status=BotNotice.Status.FAILED, next_attempt_at=None, error=error[:2000])
            return "failed"
        return "retry"
    mine.update(
        status=BotNotice.Status.SENT, sent_at=timezone.now(), recipient=thread.owner.email, error=""
    )
    return "sent"


def bot_notices_sweep(
    *, now: datetime, stale_after: timedelta, lease: timedelta | None = None
) -> int:
    """Queue bot emails whose retry is due, whose task was lost (its lease ran out), or whose
    worker died (then it is sent again: a rare duplicate notice beats a missing pause link).
    Returns how many tasks were queued; a notice whose task is on its way is left alone."""
    result = BotNotice.sweep(
        now=now,
        stale_after=stale_after,
        lease=lease,
        order_by=("created_at", "id"),
        gave_up_error=outbox.SEND_GAVE_UP,
        rescued_error=outbox.SEND_RESCUED,
    )
    return result.queued
