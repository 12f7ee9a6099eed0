"""SMS as one transcript note per conversation, once it has been quiet (issue 16, team option).

A note per text message clutters the candidate's activity feed. A team may set a quiet time
(GreenhouseIntegration.sms_transcript_quiet_seconds): then every SMS record of a thread waits,
pending, until no SMS came for that long (`next_attempt_at`, pushed on by each new one), and the
burst becomes ONE note. The policy still decides each message (its reason: "SMS transcript").

Exactly once, when N records share one note: the burst's oldest record is the transcript's lead
and owns the note. Its `note_ref` is the transcript's one reference and its `post_started_at`
the read-back's cue, so the careful writer's rule (writer.py: read back before posting again)
covers the transcript unchanged. The other members point at the lead (`transcript_lead`) and
wait HELD, so no worker claims them; the lead's outcome settles them in the same transaction
(outcomes.py): written, they are written with its note; skipped, held or failed, they go back
to pending and are decided again. A message that arrives while the transcript is being written
is not a member (members are fixed when the lead collects them): it starts the next burst.

The fast path (fastpath.py) leaves transcript records to the careful path."""

from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from .facts import Status
from .models import GreenhouseIntegration, SyncRecord
from .notes import NoteContent, TranscriptLine, sms_transcript_note
from .outcomes import Claim
from .policy import Reason

# The quiet times a team may choose, in minutes (the settings page validates them).
QUIET_MINUTES_MIN = 1
QUIET_MINUTES_MAX = 24 * 60


def transcript_quiet(integration: GreenhouseIntegration | None) -> timedelta | None:
    """The team's quiet time, or None: one note per SMS."""
    seconds = integration.sms_transcript_quiet_seconds if integration else None
    return timedelta(seconds=seconds) if seconds else None


def transcript_record_joined(*, record: SyncRecord, quiet: timedelta, now: datetime) -> datetime:
    """A new pending SMS record of a transcript team: it waits for the quiet time, and so does
    the rest of its thread's open burst (not the members of a transcript being written).
    Returns when the burst is due. Called in the message's transaction (records.py)."""
    due = now + quiet
    SyncRecord.objects.filter(pk=record.pk).update(in_transcript=True, next_attempt_at=due)
    _open_burst(record.thread_id).exclude(pk=record.pk).update(next_attempt_at=due)
    record.in_transcript = True
    record.next_attempt_at = due
    return due


def _open_burst(thread_id: int):
    """The thread's transcript records not yet in a transcript, waiting."""
    return SyncRecord.objects.filter(
        thread_id=thread_id, in_transcript=True, transcript_lead=None, status=Status.PENDING
    )


def transcript_collect(claim: Claim, quiet: timedelta | None, now: datetime):
    """The members of the claimed lead's transcript, in message order (the lead first), or the
    moment the conversation will have been quiet long enough (not yet: the caller waits).

    Once the lead's POST may have started, its members are fixed: the ones it holds. Otherwise
    they are the thread's open burst: pending records, or records claimed with the lead by the
    same batch (batch.py claims a team's due records together)."""
    lead = claim.record
    if lead.post_started_at is None:
        rows = SyncRecord.objects.filter(
            thread_id=lead.thread_id, in_transcript=True, channel=lead.channel
        ).filter(
            Q(transcript_lead=None) | Q(transcript_lead_id=lead.pk),
            Q(status=Status.PENDING)
            | Q(status=Status.IN_PROGRESS, claimed_at=claim.claimed_at)
            | Q(status=Status.HELD, transcript_lead_id=lead.pk),
        )
        newest = max(
            (r.message.created_at for r in rows.select_related("message")),
            default=lead.message.created_at,
        )
        if quiet is not None and newest + quiet > now:
            return newest + quiet
        others = rows.exclude(pk=lead.pk)
        others.update(
            status=Status.HELD,
            reason=Reason.SMS_TRANSCRIPT,
            transcript_lead_id=lead.pk,
            claimed_at=None,
            next_attempt_at=None,
        )
        if not claim.mine().update(transcript_lead_id=lead.pk):
            from .outcomes import LostClaim

            raise LostClaim
        lead.transcript_lead_id = lead.pk
    members = SyncRecord.objects.filter(Q(pk=lead.pk) | Q(transcript_lead_id=lead.pk))
    return list(
        members.select_related("message__sender", "thread__owner", "prospect").order_by(
            "message__created_at", "message_id"
        )
    )


def transcript_member_claimed(claim: Claim) -> str | None:
    """A member of another record's transcript was claimed (a person retried it, say). Returns
    its outcome, or None when its lead gave it up and it is to be written as any record."""
    record = claim.record
    lead = SyncRecord.objects.filter(pk=record.transcript_lead_id).first()
    if lead is not None and lead.status == Status.WRITTEN:
        claim.mine().update(
            status=Status.WRITTEN,
            reason=Reason.SMS_TRANSCRIPT,
            note_id=lead.note_id,
            candidate_id=lead.candidate_id,
            written_at=timezone.now(),
            next_attempt_at=None,
            last_error="",
        )
        return "written"
    if lead is not None and lead.status in (Status.PENDING, Status.IN_PROGRESS):
        claim.mine().update(status=Status.HELD, reason=Reason.SMS_TRANSCRIPT, claimed_at=None)
        return Status.HELD  # the lead's outcome settles it
    claim.mine().update(transcript_lead=None)
    record.transcript_lead_id = None
    return None


def transcript_wait(claim: Claim, until: datetime) -> str:
    """Not quiet yet: the lead goes back to pending, due when it will be (no attempt counted)."""
    from .lanes import sync_lane_wake_on_commit

    claim.mine().update(
        status=Status.PENDING, claimed_at=None, next_attempt_at=until, attempts=F("attempts") - 1
    )
    if not claim.in_batch:
        sync_lane_wake_on_commit(team_id=claim.record.team_id, at=until)
    return "waiting"


def transcript_content(members: list[SyncRecord], *, reference: str, sender: str) -> NoteContent:
    lines = []
    for record in members:
        message = record.message
        if message.direction == "outbound":
            person = message.sender or record.thread.owner
            name = (person.get_full_name() or person.get_username()) if person else ""
        else:
            name = record.prospect.full_name
        who = f"{name} {message.from_address}".strip()
        lines.append(
            TranscriptLine(
                at=timezone.localtime(message.created_at),
                direction=message.direction,
                who=who,
                text=message.body_text,
            )
        )
    return sms_transcript_note(lines=lines, reference=reference, sender=sender)


def transcript_members_written(
    *, lead: SyncRecord, note_id: int, candidate_id: int, at: datetime
) -> int:
    """The lead's note is written: so are its members (in the lead's transaction)."""
    # Skipped too: a switch-off or a pause skips what waits, but not a lead whose note may exist
    # (switches.py, pausing.py); when the read-back finds it, its members are in it. Pending: a
    # member a person retried meanwhile.
    return (
        SyncRecord.objects.filter(
            transcript_lead_id=lead.pk,
            status__in=(Status.HELD, Status.SKIPPED, Status.PENDING),  # pending: retried
        )
        .exclude(pk=lead.pk)
        .update(
            status=Status.WRITTEN,
            reason=Reason.SMS_TRANSCRIPT,
            note_id=note_id,
            candidate_id=candidate_id,
            written_at=at,
            last_error="",
        )
    )


def transcript_members_release(*, lead: SyncRecord) -> int:
    """The lead was skipped, held or failed: its members are decided again, each on its own
    facts (back to pending, due now; the oldest of them leads the next transcript)."""
    return (
        SyncRecord.objects.filter(transcript_lead_id=lead.pk, status=Status.HELD)
        .exclude(pk=lead.pk)
        .update(status=Status.PENDING, transcript_lead=None, next_attempt_at=None)
    )


def transcripts_option_off(*, team_id: int) -> int:
    """The team went back to a note per SMS: the open bursts are due now, one note each (the
    transcripts being written finish as transcripts: their note may exist already)."""
    return SyncRecord.objects.filter(
        team_id=team_id, in_transcript=True, transcript_lead=None, status=Status.PENDING
    ).update(next_attempt_at=None)
