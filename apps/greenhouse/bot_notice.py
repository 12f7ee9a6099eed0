"""The bot email: when a thread starts being synced, one email to the recruiter who owns it.

Never to the candidate, never BCC'd. For email threads it is threaded into the conversation
(In-Reply-To/References), so it shows up where the recruiter reads it. It says the thread is
being written to Greenhouse, with which visibility, and carries the pause link. It is not stored
as a Message, so it is never synced itself.

A sensitive message held for review (review.py) gets a bot email of its own, to the same
recruiter, saying it waits and linking to its review page (ReviewNotice, one per review).

One per thread: the BotNotice row is unique per thread and claimed before sending. Claim,
backoff, lease and sweep are the shared outbox's (apps/core/outbox.py).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.core import outbox
from apps.messaging.addressing import new_message_id, reply_headers
from apps.messaging.models import Channel, Thread
from apps.messaging.outbound import reply_subject
from apps.messaging.selectors import thread_message_ids

from .models import BotNotice, GreenhouseIntegration, NoteVisibility, ReviewNotice
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
        return BotNotice.retry_or_fail(
            mine,
            pk=notice.pk,
            claimed_at=claimed_at,
            attempts=notice.attempts,
            reason=f"Not sent: {exc}",
        )
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


# --- Sensitive mail waiting for the recruiter's review (review.py) ----------------------------


def _review_email(notice: ReviewNotice) -> EmailMultiAlternatives:
    review = notice.review
    thread = review.record.thread
    owner = _reviewer(review)
    context = {
        "review": review,
        "thread": thread,
        "prospect": review.prospect,
        "owner": owner,
        "is_email": thread.channel == Channel.EMAIL,
        "review_url": settings.PUBLIC_BASE_URL.rstrip("/")
        + reverse("greenhouse:sensitive-review", args=[review.pk]),
        "expires_at": review.expires_at,
        "on_expiry": _on_expiry_words(review),
    }
    email = EmailMultiAlternatives(
        subject=f"Review before Greenhouse: a message with {review.prospect.full_name}",
        body=render_to_string("greenhouse/email/review_notice.txt", context),
        from_email=settings.GREENHOUSE_BOT_FROM_EMAIL,
        to=[owner.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    email.attach_alternative(
        render_to_string("greenhouse/email/review_notice.html", context), "text/html"
    )
    email.metadata = {"outreach_team": str(review.team_id)}  # type: ignore[attr-defined]
    return email


def _reviewer(review):
    """The recruiter who decides: the prospect's owner, else the thread's."""
    return review.prospect.owner or review.record.thread.owner


def _on_expiry_words(review) -> str:
    from .models import ReviewExpiry, ReviewRules

    choice = (
        ReviewRules.objects.filter(integration__team_id=review.team_id)
        .values_list("on_expiry", flat=True)
        .first()
    )
    if choice == ReviewExpiry.WRITE:
        return "it is written to Greenhouse as it is"
    return "it is not written to Greenhouse"


def review_notice_send(*, review_id: int) -> str:
    """Send the review's bot email once (not when the review was decided meanwhile)."""
    claimed_at = ReviewNotice.claim(review_id=review_id)
    if claimed_at is None:
        ReviewNotice.release(review_id=review_id)
        return "skipped"
    notice = ReviewNotice.objects.select_related(
        "review__prospect__owner", "review__record__thread__owner"
    ).get(review_id=review_id)
    mine = ReviewNotice.held(pk=notice.pk, claimed_at=claimed_at)
    if not notice.review.is_pending:
        mine.update(status=ReviewNotice.Status.SENT, error="Reviewed before the email was sent.")
        return "not needed"
    owner = _reviewer(notice.review)
    if not owner.email:
        mine.update(status=ReviewNotice.Status.FAILED, error="The recruiter has no email address.")
        return "failed"
    try:
        _review_email(notice).send()
    except Exception as exc:
        logger.warning("Review email for review %s not sent: %s", review_id, exc)
        return ReviewNotice.retry_or_fail(
            mine,
            pk=notice.pk,
            claimed_at=claimed_at,
            attempts=notice.attempts,
            reason=f"Not sent: {exc}",
        )
    mine.update(
        status=ReviewNotice.Status.SENT, sent_at=timezone.now(), recipient=owner.email, error=""
    )
    return "sent"


def review_notices_sweep(
    *, now: datetime, stale_after: timedelta, lease: timedelta | None = None
) -> int:
    """As bot_notices_sweep, for the review emails."""
    result = ReviewNotice.sweep(
        now=now,
        stale_after=stale_after,
        lease=lease,
        order_by=("created_at", "id"),
        gave_up_error=outbox.SEND_GAVE_UP,
        rescued_error=outbox.SEND_RESCUED,
    )
    return result.queued
