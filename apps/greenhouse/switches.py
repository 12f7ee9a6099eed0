"""Who may turn what on or off: support enables a team (only while its credential works) and
disables it; the team admin turns the sync on or off and picks the notes' visibility; support
retries records and settles an ambiguous candidate; the team admin chooses what happens to
recipients not in Greenhouse yet (wait, create, skip) and how long they are waited for.
Turning something off skips what was waiting, except a record whose note may already exist,
which the writer reads back first.

Every change of a switch is appended to the switch history (switch_history.py) here, in the
transaction that makes it: `_record` is the one place that writes it. The messages support and
team admins read after a switch (`*_outcome`) are built here too, from the state the change left,
so what they say is what happened.
"""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.teams.models import Team

from .candidates import candidate_links_expire
from .connection import greenhouse_integration_test_connection
from .gate import switch_change
from .lanes import sync_lane_wake_on_commit
from .models import (
    CandidateLink,
    GreenhouseIntegration,
    MaildropOverlap,
    NoteVisibility,
    SwitchEvent,
    SyncRecord,
)
from .policy import CandidateMatch, Reason, UnknownRecipients
from .previews import waiting_to_skip
from .sync import HELD_FOR_CONNECTION, Status
from .transcripts import QUIET_MINUTES_MAX, QUIET_MINUTES_MIN, transcripts_option_off

logger = logging.getLogger(__name__)


def _record(
    integration: GreenhouseIntegration,
    change: SwitchEvent.Change,
    by,
    *,
    value: str = "",
    effect: str = "",
) -> SwitchEvent:
    """One row of the switch history; called inside the transaction of the change."""
    name = (by.get_full_name() or by.get_username()) if by is not None else ""
    return SwitchEvent.objects.create(
        integration=integration,
        change=change,
        value=value[:200],
        effect=effect[:300],
        by=by,
        by_name=name[:200],
    )


def _waiting_skipped(skipped: int) -> str:
    return (
        f"{skipped} waiting message{'s' if skipped != 1 else ''} skipped"
        if skipped
        else "no message was waiting"
    )


def support_enable_outcome(integration: GreenhouseIntegration) -> str:
    """What support's "enable" did, in one sentence: whether sync is on now depends on the team
    admin's switch, which support's switches never move."""
    if integration.sync_on:
        return (
            f"{integration.team}: sync enabled, and on at once: the team admin's switch is on, so "
            "new emails and SMS are written to Greenhouse from now. Messages from while it was "
            "disabled are not written."
        )
    return (
        f"{integration.team}: sync enabled, but still off: a team admin turns it on "
        "(Team settings, Sync). Nothing is written until then."
    )


def support_disable_outcome(integration: GreenhouseIntegration, *, skipped: int) -> str:
    after = (
        "The team admin's switch stays on: enabling again turns sync back on at once."
        if integration.sync_on
        else "The team admin's switch is off too."
    )
    return (
        f"{integration.team}: sync disabled, nothing more is written to Greenhouse; "
        f"{_waiting_skipped(skipped)}. Notes already written stay. {after}"
    )


def sync_records_retry(*, records) -> int:
    """Support's or a team admin's "retry": failed or held records go back to pending (a
    previous POST, if any, is still checked by read-back first). Records held for their team's
    connection are retried only once the connection is tested again now and works; otherwise
    they stay held, with the test's verdict. Returns how many were queued."""
    held_for_connection = records.filter(status=Status.HELD, reason__in=HELD_FOR_CONNECTION)
    for integration in GreenhouseIntegration.objects.filter(
        team_id__in=held_for_connection.values("team_id")
    ):
        check = greenhouse_integration_test_connection(integration=integration)
        if not check.ok:
            held_for_connection.filter(team_id=integration.team_id).update(
                last_error=check.message[:2000]
            )
            records = records.exclude(
                team_id=integration.team_id, status=Status.HELD, reason__in=HELD_FOR_CONNECTION
            )
    ids = list(records.filter(status__in=(Status.FAILED, Status.HELD)).values_list("pk", flat=True))
    with transaction.atomic():
        # A person retrying may have fixed the candidates in Greenhouse: search them again.
        candidate_links_expire(
            prospect_ids=SyncRecord.objects.filter(pk__in=ids).values("prospect_id")
        )
        SyncRecord.objects.filter(pk__in=ids).update(
            status=Status.PENDING, attempts=0, next_attempt_at=None, claimed_at=None, last_error=""
        )
        _lanes_wake(ids)
    return len(ids)


def _skip_waiting(*, team_id: int, reason: Reason) -> int:
    # Records whose note may already exist stay pending: the worker reads them back first.
    # The same query as the preview's (previews.py), so the preview counts what this skips.
    return waiting_to_skip(team_id=team_id).update(
        status=Status.SKIPPED, reason=reason, next_attempt_at=None
    )


def team_sync_enable_by_support(
    *, integration: GreenhouseIntegration, by, test_connection: bool = True
) -> None:
    """Support staff enable the feature for a team, only while its credentials work.
    (`test_connection=False` is for demo data, loaded before the local sandbox runs.)
    If the team admin's switch is on, sync is on at once: it counts from now, so what was sent
    while the team was disabled is not written afterwards."""
    if integration.sync_enabled_by_support:
        return
    check = (
        greenhouse_integration_test_connection(integration=integration) if test_connection else None
    )
    if check is not None and not check.ok:
        raise ValidationError(
            f"Sync was not enabled for {integration.team}: the connection test failed. "
            f"{check.message}"
        )
    with transaction.atomic():
        locked = GreenhouseIntegration.objects.select_for_update().get(pk=integration.pk)
        if not locked.sync_enabled_by_support:
            now = timezone.now()
            fields = {
                "sync_enabled_by_support": True,
                "sync_enabled_by": by,
                "sync_enabled_at": now,
            }
            if locked.sync_on:
                fields["sync_on_since"] = now
            GreenhouseIntegration.objects.filter(pk=locked.pk).update(**fields)
            locked.refresh_from_db()
            effect = (
                "Sync on at once (the team admin's switch is on)."
                if locked.sync_on
                else "Sync stays off until a team admin turns it on."
            )
            _record(locked, SwitchEvent.Change.SUPPORT_ENABLED, by, effect=effect)
    integration.refresh_from_db()


def team_sync_disable_by_support(*, integration: GreenhouseIntegration, by) -> int:
    """Returns how many waiting records were skipped. Commits after the team's POSTs on the
    wire have been answered; no POST starts after it (gate.py). The team admin's switch is left
    as it is."""
    skipped = 0
    with switch_change(team_id=integration.team_id) as locked:
        was_enabled = locked is not None and locked.sync_enabled_by_support
        GreenhouseIntegration.objects.filter(pk=integration.pk).update(
            sync_enabled_by_support=False, sync_enabled_by=by, sync_enabled_at=timezone.now()
        )
        skipped = _skip_waiting(team_id=integration.team_id, reason=Reason.TEAM_NOT_ENABLED)
        if was_enabled:
            _record(
                integration,
                SwitchEvent.Change.SUPPORT_DISABLED,
                by,
                effect=f"Nothing more written to Greenhouse; {_waiting_skipped(skipped)}.",
            )
    integration.refresh_from_db()
    return skipped


def _integration_for_update(team: Team) -> GreenhouseIntegration:
    integration = GreenhouseIntegration.objects.select_for_update().filter(team=team).first()
    if integration is None:
        raise ValidationError("Greenhouse is not connected for this team yet; ask support.")
    return integration


def _locked(integration: GreenhouseIntegration | None) -> GreenhouseIntegration:
    if integration is None:
        raise ValidationError("Greenhouse is not connected for this team yet; ask support.")
    return integration


@transaction.atomic
def team_sync_turn_on(*, team: Team, by) -> GreenhouseIntegration:
    integration = _integration_for_update(team)
    if not integration.sync_enabled_by_support:
        raise ValidationError(
            "Support has not enabled Greenhouse activity sync for this team yet; contact support."
        )
    if not integration.sync_on:
        now = timezone.now()
        integration.sync_on, integration.sync_on_since = True, now
        integration.sync_changed_by, integration.sync_changed_at = by, now
        integration.save(
            update_fields=["sync_on", "sync_on_since", "sync_changed_by", "sync_changed_at"]
        )
        _record(integration, SwitchEvent.Change.SYNC_ON, by, effect="Written from now on.")
    return integration


def team_sync_turn_off(*, team: Team, by) -> int:
    """Stops further writes at once: records still waiting are skipped, and those a worker
    holds are stopped right before their POST (gate.py: this commits after the POSTs already
    on the wire are answered, and every later POST sees it). Returns how many were skipped."""
    with switch_change(team_id=team.pk) as locked:
        integration = _locked(locked)
        was_on = integration.sync_on
        integration.sync_on = False
        integration.sync_changed_by, integration.sync_changed_at = by, timezone.now()
        integration.save(update_fields=["sync_on", "sync_changed_by", "sync_changed_at"])
        skipped = _skip_waiting(team_id=team.pk, reason=Reason.SYNC_TURNED_OFF)
        if was_on:
            _record(
                integration,
                SwitchEvent.Change.SYNC_OFF,
                by,
                effect=f"Nothing more written to Greenhouse; {_waiting_skipped(skipped)}.",
            )
        return skipped


@transaction.atomic
def team_note_visibility_set(*, team: Team, visibility: str, by) -> GreenhouseIntegration:
    if visibility not in NoteVisibility.values:
        raise ValidationError({"visibility": f"Choose one of: {', '.join(NoteVisibility.values)}."})
    integration = _integration_for_update(team)
    changed = integration.note_visibility != visibility
    integration.note_visibility = visibility
    integration.sync_changed_by, integration.sync_changed_at = by, timezone.now()
    integration.save(update_fields=["note_visibility", "sync_changed_by", "sync_changed_at"])
    if changed:
        _record(
            integration,
            SwitchEvent.Change.VISIBILITY,
            by,
            value=integration.get_note_visibility_display(),
            effect="For notes written from now on; notes already written keep theirs.",
        )
    return integration


@transaction.atomic
def team_maildrop_overlap_set(*, team: Team, choice: str, by) -> GreenhouseIntegration:
    """What the sync does with emails also BCC'd to Greenhouse Maildrop (maildrop.py says why).
    Decided again when each note is written, so records still waiting follow the new choice."""
    if choice not in MaildropOverlap.values:
        raise ValidationError({"maildrop_overlap": f"Choose one of: {', '.join(MaildropOverlap)}."})
    integration = _integration_for_update(team)
    changed = integration.maildrop_overlap != choice
    integration.maildrop_overlap = choice
    integration.sync_changed_by, integration.sync_changed_at = by, timezone.now()
    integration.save(update_fields=["maildrop_overlap", "sync_changed_by", "sync_changed_at"])
    if changed:
        _record(
            integration,
            SwitchEvent.Change.MAILDROP_OVERLAP,
            by,
            value=integration.get_maildrop_overlap_display(),
            effect="Also for the messages still waiting.",
        )
    return integration


WAITING_DAYS_MIN, WAITING_DAYS_MAX = 1, 365


@transaction.atomic
def team_unknown_recipients_set(
    *, team: Team, choice: str, waiting_days: int, by
) -> GreenhouseIntegration:
    """What happens to messages of prospects no Greenhouse candidate matches (issue 15), and how
    many days they wait. Both are decided again for the messages still waiting (waiting.py, at
    their next lookup); choosing "skip" skips them at once."""
    if choice not in {c.value for c in UnknownRecipients}:
        raise ValidationError(
            {"unknown_recipients": f"Choose one of: {', '.join(UnknownRecipients)}."}
        )
    if not WAITING_DAYS_MIN <= int(waiting_days) <= WAITING_DAYS_MAX:
        raise ValidationError(
            {"waiting_days": f"Between {WAITING_DAYS_MIN} and {WAITING_DAYS_MAX} days."}
        )
    integration = _integration_for_update(team)
    choice_changed = integration.unknown_recipients != choice
    days_changed = integration.waiting_days != int(waiting_days)
    if not (choice_changed or days_changed):
        return integration
    integration.unknown_recipients, integration.waiting_days = choice, int(waiting_days)
    integration.sync_changed_by, integration.sync_changed_at = by, timezone.now()
    integration.save(
        update_fields=["unknown_recipients", "waiting_days", "sync_changed_by", "sync_changed_at"]
    )
    if choice_changed:
        effect = "Also for the messages still waiting, at their next lookup."
        if choice == UnknownRecipients.SKIP:
            skipped = SyncRecord.objects.filter(
                team_id=team.pk, status=Status.HELD, reason=Reason.NOT_IN_GREENHOUSE_YET
            ).update(status=Status.SKIPPED, reason=Reason.NO_CANDIDATE, next_attempt_at=None)
            effect = f"Not waited for any more; {_waiting_skipped(skipped)}."
        _record(
            integration,
            SwitchEvent.Change.UNKNOWN_RECIPIENTS,
            by,
            value=integration.get_unknown_recipients_display(),
            effect=effect,
        )
    if days_changed:
        _record(
            integration,
            SwitchEvent.Change.WAITING_DAYS,
            by,
            value=f"{integration.waiting_days} day{'s' if integration.waiting_days != 1 else ''}",
            effect="Also for the messages still waiting: each waits that long from its sending.",
        )
    return integration


def sms_notes_label(quiet_seconds: int | None) -> str:
    """The team's SMS notes in words (the settings page and the switch history)."""
    if not quiet_seconds:
        return "One note per SMS"
    minutes, seconds = divmod(quiet_seconds, 60)
    quiet = (
        f"{minutes} minute{'s' if minutes != 1 else ''}" if not seconds else f"{quiet_seconds} s"
    )
    return f"One transcript note per conversation, after {quiet} without a new SMS"


@transaction.atomic
def team_sms_transcript_set(*, team: Team, quiet_minutes: int | None, by) -> GreenhouseIntegration:
    """SMS as one note each (None) or one transcript note per conversation once it has been quiet
    this many minutes (transcripts.py). Records still waiting follow the new choice: a shorter or
    longer quiet time counts from each conversation's last SMS; going back to a note per SMS
    writes the open bursts now, one note each (transcripts being written finish as such)."""
    if quiet_minutes is not None and not (QUIET_MINUTES_MIN <= quiet_minutes <= QUIET_MINUTES_MAX):
        raise ValidationError(
            {
                "sms_quiet_minutes": (
                    f"Choose a quiet time from {QUIET_MINUTES_MIN} to {QUIET_MINUTES_MAX} minutes."
                )
            }
        )
    integration = _integration_for_update(team)
    seconds = quiet_minutes * 60 if quiet_minutes is not None else None
    changed = integration.sms_transcript_quiet_seconds != seconds
    integration.sms_transcript_quiet_seconds = seconds
    integration.sync_changed_by, integration.sync_changed_at = by, timezone.now()
    integration.save(
        update_fields=["sms_transcript_quiet_seconds", "sync_changed_by", "sync_changed_at"]
    )
    if changed:
        effect = "Also for the SMS still waiting."
        if seconds is None and transcripts_option_off(team_id=team.pk):
            effect = "The SMS still waiting for a transcript are written now, one note each."
            sync_lane_wake_on_commit(team_id=team.pk)
        _record(
            integration,
            SwitchEvent.Change.SMS_TRANSCRIPT,
            by,
            value=sms_notes_label(seconds),
            effect=effect,
        )
    return integration


@transaction.atomic
def candidate_link_choose(*, link: CandidateLink, candidate_id: int) -> int:
    """Support settles an ambiguous match: the prospect is this candidate. Records held for the
    choice are queued. Returns how many."""
    if not candidate_id or int(candidate_id) <= 0:
        raise ValidationError({"candidate_id": "Enter a Greenhouse candidate ID."})
    link.candidate_id = candidate_id
    link.match = CandidateMatch.ONE
    link.source = CandidateLink.Source.SUPPORT
    link.resolved_at = timezone.now()
    link.save()
    held = SyncRecord.objects.filter(
        prospect_id=link.prospect_id, status=Status.HELD, reason=Reason.SEVERAL_CANDIDATES
    )
    ids = list(held.values_list("pk", flat=True))
    held.update(status=Status.PENDING, next_attempt_at=None, attempts=0, last_error="")
    _lanes_wake(ids)
    return len(ids)


def _lanes_wake(record_ids: list[int]) -> None:
    """Queue, on commit, the lane of each team these records belong to (lanes.py)."""
    teams = SyncRecord.objects.filter(pk__in=record_ids).order_by().values_list("team_id")
    for (team_id,) in set(teams):
        sync_lane_wake_on_commit(team_id=team_id)
