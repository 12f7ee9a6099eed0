"""The review queue's actions besides creating (creation.py): link a prospect to a chosen
Greenhouse candidate, ignore a prospect (never sync it) and stop ignoring it, and look up the
candidates a person chooses from.

Each action is recorded (ReviewAction: who, when, what, the candidate id). Ignoring commits
through the switch gate, like a pause (gate.py): it lands wholly before or after a note's POST,
and every later POST sees it (the writer's last look under the gate checks it)."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core import crypto
from apps.sequences.models import Prospect

from .connection import harvest_client_build, harvest_error_in_plain_words
from .creation import candidate_link_set, waiting_records_release
from .gate import switch_change
from .harvest.errors import HarvestError
from .models import (
    CandidateLink,
    GreenhouseIntegration,
    ProspectSyncIgnore,
    ReviewAction,
    SyncRecord,
)
from .policy import Reason

MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class CandidateChoice:
    """A Greenhouse candidate as the review queue shows it."""

    id: int
    name: str
    emails: list[str]
    url: str


@dataclass(frozen=True)
class Lookup:
    candidates: list[CandidateChoice]
    error: str = ""


def _choices(integration: GreenhouseIntegration, found: list[dict]) -> list[CandidateChoice]:
    choices = []
    for candidate in found:
        name = " ".join(
            str(candidate.get(k) or "").strip() for k in ("first_name", "last_name")
        ).strip()
        emails = [
            str(e.get("value", ""))
            for e in candidate.get("email_addresses") or []
            if isinstance(e, dict)
        ]
        cid = int(candidate["id"])
        choices.append(
            CandidateChoice(cid, name or "(no name)", emails, integration.candidate_url(cid))
        )
    return choices


def review_candidates_lookup(
    *, integration: GreenhouseIntegration, ids: list[int] | None = None, email: str = ""
) -> Lookup:
    """Candidates by id (`GET /v3/candidates?ids=`) or by one email address, through the rate
    budget without waiting for it. Harvest v3 has no search by name (reference 3.4 lists its
    filters), so a person searches by another address or pastes the id from Greenhouse."""
    try:
        client = harvest_client_build(integration=integration, max_rate_wait=0)
        if email:
            found = client.candidates_by_email(email)
        else:
            found = client.candidates_by_ids(ids or []) if ids else []
    except (HarvestError, crypto.SecretDecryptionError) as exc:
        return Lookup([], harvest_error_in_plain_words(exc, integration=integration))
    return Lookup(_choices(integration, found))


def _candidate_id(value) -> int:
    try:
        candidate_id = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationError("Enter a Greenhouse candidate ID (a number).") from None
    if not 1 <= candidate_id <= MAX_ID:
        raise ValidationError("Enter a Greenhouse candidate ID (a number).")
    return candidate_id


def prospect_candidate_link(*, prospect: Prospect, candidate_id, by) -> int:
    """A person chose the prospect's candidate: the link says so (source MANUAL) and the
    messages waiting for it go to pending, written in order once each. A candidate Greenhouse
    did not already show for the prospect's emails is looked up by id first (it must exist).
    Returns how many messages were released."""
    candidate_id = _candidate_id(candidate_id)
    integration = GreenhouseIntegration.objects.filter(team_id=prospect.team_id).first()
    if integration is None:
        raise ValidationError("Greenhouse is not connected for this team.")
    link = CandidateLink.objects.filter(prospect=prospect).first()
    seen = [int(i) for i in (link.candidate_ids_seen if link else []) or []]
    if candidate_id not in seen:
        lookup = review_candidates_lookup(integration=integration, ids=[candidate_id])
        if lookup.error:
            raise ValidationError(f"Candidate {candidate_id} could not be checked: {lookup.error}")
        if not lookup.candidates:
            raise ValidationError(f"Greenhouse has no candidate {candidate_id}.")
    with transaction.atomic():
        candidate_link_set(
            prospect=prospect,
            candidate_id=candidate_id,
            source=CandidateLink.Source.MANUAL,
            seen=seen or [candidate_id],
        )
        released = waiting_records_release(prospect_id=prospect.pk)
        ReviewAction.objects.create(
            team_id=prospect.team_id,
            prospect=prospect,
            action=ReviewAction.Action.LINK,
            candidate_id=candidate_id,
            by=by,
            detail=f"{released} waiting message(s) released.",
        )
    return released


def prospect_sync_ignore(*, prospect: Prospect, by) -> tuple[bool, int]:
    """Never sync this prospect: its waiting messages are skipped (PROSPECT_IGNORED) and so is
    every later one. Idempotent: (whether it changed, how many were skipped)."""
    with switch_change(team_id=prospect.team_id):
        state, _ = ProspectSyncIgnore.objects.select_for_update().get_or_create(
            prospect=prospect, defaults={"team_id": prospect.team_id}
        )
        if state.ignored:
            return False, 0
        state.ignored, state.changed_by = True, by
        state.save()
        # Records whose note may already exist stay: the worker reads them back first.
        skipped = (
            SyncRecord.objects.filter(
                prospect=prospect,
                status__in=(SyncRecord.Status.PENDING, SyncRecord.Status.HELD),
            )
            .exclude(post_started_at__isnull=False, note_id__isnull=True)
            .update(
                status=SyncRecord.Status.SKIPPED,
                reason=Reason.PROSPECT_IGNORED,
                next_attempt_at=None,
            )
        )
        ReviewAction.objects.create(
            team_id=prospect.team_id,
            prospect=prospect,
            action=ReviewAction.Action.IGNORE,
            by=by,
            detail=f"{skipped} waiting message(s) skipped.",
        )
        return True, skipped


@transaction.atomic
def prospect_sync_unignore(*, prospect: Prospect, by) -> bool:
    """Stop ignoring: later messages are synced again; those skipped while ignored stay so."""
    state = ProspectSyncIgnore.objects.select_for_update().filter(prospect=prospect).first()
    if state is None or not state.ignored:
        return False
    state.ignored, state.changed_by = False, by
    state.save()
    ReviewAction.objects.create(
        team_id=prospect.team_id, prospect=prospect, action=ReviewAction.Action.UNIGNORE, by=by
    )
    return True
