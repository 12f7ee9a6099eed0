"""Review before writing, for sensitive mail (issue 16, item 2): the services.

Why: a Greenhouse note cannot be edited or deleted, so a message that contains one of the team's
sensitive words or patterns (sensitive.py) is held until its recruiter approves it (as it is,
or with the note's text edited: the sent mail is never touched) or drops it. Nobody deciding
within the team's review time is a decision too: the team's choice (write or skip) applies.

The review's state is the policy's `review` fact (facts.py reads it, for the careful path and
the fast path alike); every change here goes from PENDING only, by a conditional UPDATE, so two
clicks, a click and the expiry sweep, or two sweepers never both act on one review. The record
is moved in the same transaction: HELD (AWAITING_REVIEW) to PENDING (its lane woken on commit)
when it is to be written, to SKIPPED when not. A record held for another cause (the connection)
is left alone: the writer decides again with the new state when it is released.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.text import html_to_text
from apps.messaging.models import Channel, Message

from .models import (
    GreenhouseIntegration,
    ReviewExpiry,
    ReviewNotice,
    ReviewRules,
    SensitiveReview,
    SwitchEvent,
    SyncRecord,
)
from .notes import MAX_BODY
from .policy import Reason, Review
from .sensitive import DEFAULT_TERMS_TEXT, TermError, parse_terms, sensitive_matches

Status = SyncRecord.Status
MAX_REVIEW_HOURS = 24 * 30
# Room for the reference line and a sender line in the note (notes.py).
MAX_EDITED_TEXT = MAX_BODY - 1000


def review_rules_for(integration: GreenhouseIntegration | None) -> ReviewRules | None:
    if integration is None:
        return None
    return ReviewRules.objects.filter(integration=integration).first()


def message_text(message: Message) -> str:
    """What a note of the message would carry, as the matcher and the reviewer read it."""
    if message.channel == Channel.SMS:
        return message.body_text or ""
    return (
        message.body_text
        if (message.body_text or "").strip()
        else html_to_text(message.body_html or "")
    )


def message_matches(message: Message, rules: ReviewRules | None) -> list[str]:
    """The labels of the team's rules the message (its subject and text) contains."""
    if rules is None or not rules.enabled:
        return []
    subject = message.subject if message.channel == Channel.EMAIL else ""
    return sensitive_matches(rules.terms, subject or "", message_text(message))


def sensitive_review_open(
    *, record: SyncRecord, matched: list[str], rules: ReviewRules, now: datetime | None = None
) -> SensitiveReview:
    """Called in the transaction that created the record: the review row and its bot email."""
    now = now or timezone.now()
    review = SensitiveReview.objects.create(
        record=record,
        team_id=record.team_id,
        prospect_id=record.prospect_id,
        matched=matched,
        expires_at=now + timedelta(hours=rules.review_hours),
    )
    notice = ReviewNotice.objects.create(review=review, queued_at=now)
    notice.wake_on_commit()
    return review


def _name(user) -> str:
    return ((user.get_full_name() or user.get_username()) if user is not None else "")[:200]


def _lanes_wake(record_ids: list[int]) -> None:
    from .switches import _lanes_wake as wake

    wake(record_ids)


def _to_write(record_id: int) -> int:
    """The record, held for its review, goes to the writer (queued on commit)."""
    moved = SyncRecord.objects.filter(
        pk=record_id, status=Status.HELD, reason=Reason.AWAITING_REVIEW
    ).update(status=Status.PENDING, next_attempt_at=None, queued_at=None, last_error="")
    if moved:
        _lanes_wake([record_id])
    return moved


def _to_skip(record_id: int, reason: Reason) -> int:
    """The record, still waiting and never posted, is skipped for good."""
    return (
        SyncRecord.objects.filter(pk=record_id, status__in=(Status.HELD, Status.PENDING))
        .filter(post_started_at=None)
        .update(status=Status.SKIPPED, reason=reason, next_attempt_at=None, last_error="")
    )


ALREADY_REVIEWED = "This message was already reviewed, or its review time ran out."


class ReviewClosed(ValidationError):
    """The review was decided meanwhile (by someone else, or by the expiry)."""


def _decide(review: SensitiveReview, state: Review, by, **extra) -> None:
    now = timezone.now()
    if not SensitiveReview.objects.filter(pk=review.pk, state=Review.PENDING).exists():
        raise ReviewClosed(ALREADY_REVIEWED)
    record = SyncRecord.objects.filter(pk=review.record_id).values("status", "reason").first()
    if record is None or record["status"] not in (Status.HELD, Status.PENDING):
        # Settled meanwhile for another cause (sync turned off, the candidate paused): the
        # review has nothing left to decide.
        reason = Reason(record["reason"]).label.lower() if record else "gone"
        raise ReviewClosed(f"This message is no longer waiting to be written ({reason}).")
    changed = SensitiveReview.objects.filter(pk=review.pk, state=Review.PENDING).update(
        state=state, decided_by=by, decided_by_name=_name(by), decided_at=now, **extra
    )
    if not changed:
        raise ReviewClosed(ALREADY_REVIEWED)


@transaction.atomic
def sensitive_review_approve(*, review: SensitiveReview, by, edited_text: str = "") -> None:
    """Write the note: as the message is, or with `edited_text` as its text (the reference line
    is still added; the sent mail is not changed)."""
    text = (edited_text or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_EDITED_TEXT:
        raise ValidationError({"edited_text": f"At most {MAX_EDITED_TEXT} characters."})
    if text == message_text(review.record.message).strip():
        text = ""  # not edited
    _decide(review, Review.APPROVED, by, edited_text=text)
    _to_write(review.record_id)


@transaction.atomic
def sensitive_review_drop(*, review: SensitiveReview, by) -> None:
    """Never write this message's note."""
    _decide(review, Review.DROPPED, by)
    _to_skip(review.record_id, Reason.REVIEW_DROPPED)


def sensitive_reviews_expire(*, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """Apply the team's choice to the reviews whose time ran out (the sweeper calls it on every
    beat; idempotent). Returns how many were written and skipped, and how many records decided
    meanwhile were still held (`caught_up`)."""
    now = now or timezone.now()
    counts = {"written": 0, "skipped": 0, "caught_up": _catch_up()}
    due = list(
        SensitiveReview.objects.filter(state=Review.PENDING, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", "record_id", "team_id")[:batch]
    )
    choices = dict(
        ReviewRules.objects.filter(
            integration__team_id__in={team_id for _, _, team_id in due}
        ).values_list("integration__team_id", "on_expiry")
    )
    for pk, record_id, team_id in due:
        write = choices.get(team_id, ReviewExpiry.SKIP) == ReviewExpiry.WRITE
        state = Review.EXPIRED_WRITE if write else Review.EXPIRED_SKIP
        with transaction.atomic():
            if not SensitiveReview.objects.filter(pk=pk, state=Review.PENDING).update(
                state=state, decided_at=now
            ):
                continue  # decided meanwhile
            if write:
                _to_write(record_id)
            else:
                _to_skip(record_id, Reason.REVIEW_EXPIRED)
        counts["written" if write else "skipped"] += 1
    return counts


def _catch_up() -> int:
    """Records still held for a review that was decided: a decision that came while a worker was
    settling the record (it had read the review as pending) found nothing to move. Moved now."""
    held = SyncRecord.objects.filter(status=Status.HELD, reason=Reason.AWAITING_REVIEW)
    to_write = list(
        held.filter(review__state__in=(Review.APPROVED, Review.EXPIRED_WRITE)).values_list(
            "pk", flat=True
        )
    )
    moved = sum(_to_write(pk) for pk in to_write)
    for state, reason in (
        (Review.DROPPED, Reason.REVIEW_DROPPED),
        (Review.EXPIRED_SKIP, Reason.REVIEW_EXPIRED),
    ):
        moved += held.filter(review__state=state, post_started_at=None).update(
            status=Status.SKIPPED, reason=reason, next_attempt_at=None, last_error=""
        )
    return moved


# --- The team's rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class RulesChange:
    enabled: bool
    terms: str
    review_hours: int
    on_expiry: str


def _summary(change: RulesChange) -> str:
    if not change.enabled:
        return "Off"
    count = len(parse_terms(change.terms))
    hours = change.review_hours
    wait = f"{hours // 24} days" if hours % 24 == 0 and hours >= 48 else f"{hours} hours"
    then = "then written" if change.on_expiry == ReviewExpiry.WRITE else "then skipped"
    return f"On: {count} words and patterns, {wait} to review, {then}"


@transaction.atomic
def team_review_rules_set(
    *, integration: GreenhouseIntegration, change: RulesChange, by
) -> ReviewRules:
    """Save the team's review rules (a row of the switch history when they change). New
    messages follow them; messages already waiting keep their review and its time."""
    try:
        parse_terms(change.terms)
    except TermError as exc:
        raise ValidationError({"terms": str(exc)}) from exc
    if not 1 <= change.review_hours <= MAX_REVIEW_HOURS:
        raise ValidationError({"review_hours": f"Between 1 and {MAX_REVIEW_HOURS} hours."})
    if change.on_expiry not in ReviewExpiry.values:
        raise ValidationError({"on_expiry": "Choose write or skip."})
    rules, _ = ReviewRules.objects.select_for_update().get_or_create(
        integration=integration, defaults={"terms": DEFAULT_TERMS_TEXT}
    )
    before = RulesChange(rules.enabled, rules.terms, rules.review_hours, rules.on_expiry)
    if before == change:
        return rules
    rules.enabled, rules.terms = change.enabled, change.terms.strip()
    rules.review_hours, rules.on_expiry = change.review_hours, change.on_expiry
    rules.changed_by, rules.changed_at = by, timezone.now()
    rules.save()
    from .switches import _record

    _record(
        integration,
        SwitchEvent.Change.REVIEW_RULES,
        by,
        value=_summary(change),
        effect="For new messages; messages already waiting keep their review.",
    )
    return rules


# --- Reads ----------------------------------------------------------------------------------


def reviews_visible_to(*, membership) -> QuerySet[SensitiveReview]:
    """The reviews a member may see and decide: a recruiter those of their own prospects (or of
    threads they own), a team admin the whole team's."""
    reviews = SensitiveReview.objects.filter(team_id=membership.team_id).select_related(
        "prospect", "record__message", "record__thread__owner"
    )
    if membership.is_admin:
        return reviews
    user = membership.user
    return reviews.filter(Q(prospect__owner=user) | Q(record__thread__owner=user))
