"""State changes of prospects, sequences and enrollments.

The scheduler that sends due steps lives in the messaging app (apps/messaging/steps.py): it makes
messages, and this app imports only teams and core, so the arrow points one way.
"""

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.teams.models import Team

from . import signals
from .models import (
    Enrollment,
    Prospect,
    ProspectEmail,
    ProspectPhone,
    Sequence,
    SequenceStep,
    split_addresses,
    validate_address_list,
)

logger = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def normalize_phone(number: str) -> str:
    """'+1 (415) 555-0100' -> '+14155550100'; anything that is not E.164 is refused."""
    cleaned = re.sub(r"[\s().-]", "", number or "")
    if not E164.match(cleaned):
        raise ValidationError(
            f"“{number}” is not a phone number in international format, e.g. +14155550100."
        )
    return cleaned


def normalize_bcc(value: str) -> str:
    validate_address_list(value)
    return ", ".join(split_addresses(value))


# --- Prospects ----------------------------------------------------------------------------------


@transaction.atomic
def prospect_create(
    *,
    team: Team,
    first_name: str,
    last_name: str = "",
    email: str = "",
    phone: str = "",
    owner=None,
) -> Prospect:
    email = email.strip().lower()
    try:
        phone = normalize_phone(phone) if phone.strip() else ""
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages}) from exc
    if email and ProspectEmail.objects.filter(team=team, email__iexact=email).exists():
        raise ValidationError({"email": "Another prospect of the team has this email address."})
    if phone and ProspectPhone.objects.filter(team=team, number=phone).exists():
        raise ValidationError({"phone": "Another prospect of the team has this phone number."})
    prospect = Prospect(team=team, first_name=first_name, last_name=last_name, owner=owner)
    prospect.full_clean()
    prospect.save()
    if email:
        ProspectEmail.objects.create(team=team, prospect=prospect, email=email, is_primary=True)
    if phone:
        ProspectPhone.objects.create(team=team, prospect=prospect, number=phone)
    return prospect


def prospect_phone_set_opt_out(*, team: Team, number: str, opted_out: bool) -> int:
    """STOP (opted_out=True) or START (False) from a number; returns how many phones changed."""
    phones = ProspectPhone.objects.filter(team=team, number=number)
    if opted_out:
        return phones.filter(opted_out_at=None).update(opted_out_at=timezone.now())
    return phones.exclude(opted_out_at=None).update(opted_out_at=None)


# --- Sequences ----------------------------------------------------------------------------------


@transaction.atomic
def sequence_create(
    *, team: Team, owner, name: str, bcc: str | None = None, steps: Iterable[dict] = ()
) -> Sequence:
    """Create a sequence. Its BCC starts as the team default (copied now, never linked)."""
    sequence = Sequence(
        team=team,
        owner=owner,
        name=name,
        bcc=normalize_bcc(team.default_bcc if bcc is None else bcc),
    )
    sequence.full_clean()
    sequence.save()
    for step in steps:
        sequence_step_create(sequence=sequence, **step)
    return sequence


@transaction.atomic
def sequence_update(
    *,
    sequence: Sequence,
    name: str | None = None,
    bcc: str | None = None,
    is_active: bool | None = None,
) -> Sequence:
    """Edit a sequence. A new BCC applies to prospects enrolled from now on: each enrollment
    keeps the BCC it was added with."""
    if name is not None:
        sequence.name = name
    if bcc is not None:
        sequence.bcc = normalize_bcc(bcc)
    if is_active is not None:
        sequence.is_active = is_active
    sequence.full_clean()
    sequence.save()
    return sequence


@transaction.atomic
def sequence_step_create(
    *,
    sequence: Sequence,
    body_template: str,
    delay: timedelta = timedelta(0),
    channel: str = SequenceStep.Channel.EMAIL,
    subject_template: str = "",
) -> SequenceStep:
    # Lock the sequence so two recruiters adding steps at once get distinct positions.
    Sequence.objects.select_for_update().filter(pk=sequence.pk).first()
    last = sequence.steps.aggregate(last=Max("position"))["last"] or 0
    if channel == SequenceStep.Channel.SMS:
        subject_template = ""
    elif not subject_template.strip():
        has_email_step = sequence.steps.filter(channel=SequenceStep.Channel.EMAIL).exists()
        if not has_email_step:
            raise ValidationError(
                {"subject_template": "The first email step needs a subject: it starts the thread."}
            )
    if delay < timedelta(0):
        raise ValidationError({"delay": "The delay cannot be negative."})
    step = SequenceStep(
        sequence=sequence,
        position=last + 1,
        channel=channel,
        delay=delay,
        subject_template=subject_template,
        body_template=body_template,
    )
    step.full_clean()
    step.save()
    return step


# --- Enrolling ----------------------------------------------------------------------------------


def enrollment_preflight(*, sequence: Sequence, prospects: list[Prospect]) -> list[str]:
    """Warnings to show before enrolling: ours, then those of other apps' receivers."""
    warnings: list[str] = []
    steps = list(sequence.steps.all())
    channels = {step.channel for step in steps}
    if not steps:
        warnings.append("This sequence has no steps yet: nothing would be sent.")
    if not sequence.is_active:
        warnings.append("This sequence is paused: no step is sent until it is resumed.")
    ids = [p.pk for p in prospects]
    if SequenceStep.Channel.EMAIL in channels:
        with_email = set(
            ProspectEmail.objects.filter(prospect_id__in=ids).values_list("prospect_id", flat=True)
        )
        missing = [p.full_name for p in prospects if p.pk not in with_email]
        if missing:
            warnings.append(
                f"No email address, so their enrollment will stop at the first email step: "
                f"{', '.join(missing)}."
            )
    if SequenceStep.Channel.SMS in channels:
        reachable = set(
            ProspectPhone.objects.filter(prospect_id__in=ids, opted_out_at=None).values_list(
                "prospect_id", flat=True
            )
        )
        missing = [p.full_name for p in prospects if p.pk not in reachable]
        if missing:
            warnings.append(
                f"No phone number that accepts SMS (missing or opted out), so their enrollment "
                f"will stop at the first SMS step: {', '.join(missing)}."
            )
    for receiver, result in signals.enrollment_preflight.send_robust(
        sender=Sequence, sequence=sequence, prospects=list(prospects)
    ):
        if isinstance(result, Exception):
            # A failing check must not hide its warning silently, nor block the recruiter.
            logger.error("Enrollment preflight receiver %r failed", receiver, exc_info=result)
            warnings.append("One of the pre-enrollment checks could not run; try again later.")
        elif result:
            warnings.extend(str(w) for w in result)
    return warnings


@dataclass
class EnrollResult:
    enrolled: list[Enrollment] = field(default_factory=list)
    already_enrolled: list[Prospect] = field(default_factory=list)


@transaction.atomic
def prospects_enroll(*, sequence: Sequence, prospects: list[Prospect], enrolled_by) -> EnrollResult:
    """Enroll prospects. Each enrollment keeps a copy of the sequence's BCC as it is now."""
    if any(p.team_id != sequence.team_id for p in prospects):
        raise ValidationError("Prospects of another team cannot be enrolled.")
    first_step = sequence.steps.order_by("position").first()
    if first_step is None:
        raise ValidationError("Add a step to the sequence before enrolling prospects.")
    # Read the BCC under a lock, so an edit committed at the same moment is either fully before
    # or fully after this enrollment.
    bcc = Sequence.objects.select_for_update().values_list("bcc", flat=True).get(pk=sequence.pk)
    now = timezone.now()
    result = EnrollResult()
    existing = set(
        Enrollment.objects.filter(sequence=sequence, prospect__in=prospects).values_list(
            "prospect_id", flat=True
        )
    )
    for prospect in prospects:
        if prospect.pk in existing:
            result.already_enrolled.append(prospect)
            continue
        try:
            with transaction.atomic():
                enrollment = Enrollment.objects.create(
                    sequence=sequence,
                    prospect=prospect,
                    enrolled_by=enrolled_by,
                    bcc=bcc,
                    next_step_position=first_step.position,
                    next_step_due_at=now + first_step.delay,
                )
        except IntegrityError:
            # Enrolled by someone else in the meantime.
            result.already_enrolled.append(prospect)
        else:
            result.enrolled.append(enrollment)
    return result


def enrollment_stop(
    *, enrollment: Enrollment, reason: str, status: str = Enrollment.Status.STOPPED
) -> bool:
    """End an active enrollment; later steps are not sent. False if it had already ended."""
    updated = Enrollment.objects.filter(pk=enrollment.pk, status=Enrollment.Status.ACTIVE).update(
        status=status,
        stop_reason=reason[:300],
        next_step_position=None,
        next_step_due_at=None,
        ended_at=timezone.now(),
    )
    if updated:
        enrollment.refresh_from_db()
    return bool(updated)


def enrollments_stop_on_reply(*, enrollment_ids) -> int:
    """The prospect answered: stop the enrollments whose messages they answered."""
    return Enrollment.objects.filter(
        pk__in=list(enrollment_ids), status=Enrollment.Status.ACTIVE
    ).update(
        status=Enrollment.Status.REPLIED,
        stop_reason="The prospect replied.",
        next_step_position=None,
        next_step_due_at=None,
        ended_at=timezone.now(),
    )
