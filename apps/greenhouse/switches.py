"""Who may turn what on or off: support enables a team (only while its credential works) and
disables it; the team admin turns the sync on or off and picks the notes' visibility; support
retries records and settles an ambiguous candidate. Turning something off skips what was waiting,
except a record whose note may already exist, which the writer reads back first.
"""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.teams.models import Team

from .candidates import candidate_links_expire
from .connection import greenhouse_integration_test_connection
from .gate import switch_change
from .models import (
    CandidateLink,
    GreenhouseIntegration,
    MaildropOverlap,
    NoteVisibility,
    SyncRecord,
)
from .policy import CandidateMatch, Reason
from .sync import HELD_FOR_CONNECTION, WAITING, Status

logger = logging.getLogger(__name__)


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
        SyncRecord.wake(pk__in=ids)
    return len(ids)


def _skip_waiting(*, team_id: int, reason: Reason) -> int:
    # Records whose note may already exist stay pending: the worker reads them back first.
    return (
        SyncRecord.objects.filter(team_id=team_id, status__in=WAITING)
        .exclude(post_started_at__isnull=False, note_id__isnull=True)
        .update(status=Status.SKIPPED, reason=reason, next_attempt_at=None)
    )


def team_sync_enable_by_support(
    *, integration: GreenhouseIntegration, by, test_connection: bool = True
) -> None:
    """Support staff enable the feature for a team, only while its credentials work.
    (`test_connection=False` is for demo data, loaded before the local sandbox runs.)"""
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
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(
        sync_enabled_by_support=True, sync_enabled_by=by, sync_enabled_at=timezone.now()
    )
    integration.refresh_from_db()


def team_sync_disable_by_support(*, integration: GreenhouseIntegration, by) -> int:
    """Returns how many waiting records were skipped. Commits after the team's POSTs on the
    wire have been answered; no POST starts after it (gate.py)."""
    with switch_change(team_id=integration.team_id):
        GreenhouseIntegration.objects.filter(pk=integration.pk).update(
            sync_enabled_by_support=False, sync_enabled_by=by, sync_enabled_at=timezone.now()
        )
        skipped = _skip_waiting(team_id=integration.team_id, reason=Reason.TEAM_NOT_ENABLED)
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
    return integration


def team_sync_turn_off(*, team: Team, by) -> int:
    """Stops further writes at once: records still waiting are skipped, and those a worker
    holds are stopped right before their POST (gate.py: this commits after the POSTs already
    on the wire are answered, and every later POST sees it). Returns how many were skipped."""
    with switch_change(team_id=team.pk) as locked:
        integration = _locked(locked)
        integration.sync_on = False
        integration.sync_changed_by, integration.sync_changed_at = by, timezone.now()
        integration.save(update_fields=["sync_on", "sync_changed_by", "sync_changed_at"])
        return _skip_waiting(team_id=team.pk, reason=Reason.SYNC_TURNED_OFF)


@transaction.atomic
def team_note_visibility_set(*, team: Team, visibility: str, by) -> GreenhouseIntegration:
    if visibility not in NoteVisibility.values:
        raise ValidationError({"visibility": f"Choose one of: {', '.join(NoteVisibility.values)}."})
    integration = _integration_for_update(team)
    integration.note_visibility = visibility
    integration.sync_changed_by, integration.sync_changed_at = by, timezone.now()
    integration.save(update_fields=["note_visibility", "sync_changed_by", "sync_changed_at"])
    return integration


@transaction.atomic
def team_maildrop_overlap_set(*, team: Team, choice: str, by) -> GreenhouseIntegration:
    """What the sync does with emails also BCC'd to Greenhouse Maildrop (maildrop.py says why).
    Decided again when each note is written, so records still waiting follow the new choice."""
    if choice not in MaildropOverlap.values:
        raise ValidationError({"maildrop_overlap": f"Choose one of: {', '.join(MaildropOverlap)}."})
    integration = _integration_for_update(team)
    integration.maildrop_overlap = choice
    integration.sync_changed_by, integration.sync_changed_at = by, timezone.now()
    integration.save(update_fields=["maildrop_overlap", "sync_changed_by", "sync_changed_at"])
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
    SyncRecord.wake(pk__in=ids)
    return len(ids)
