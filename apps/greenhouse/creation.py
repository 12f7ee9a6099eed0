"""Creating a prospect's candidate in Greenhouse (issue 15): from the review queue's "create in
Greenhouse", or automatically for a team that chose to create unknown recipients.

Why it is careful:
- Greenhouse has no duplicate check on `POST /v3/candidates` (a second call with the same email
  makes a second candidate; Auto-Merge, where an org turns it on, is not retroactive: reference
  3.9). So every email address of the prospect is searched first, and a candidate found there is
  linked instead of created (several found: a person chooses).
- Exactly one POST per prospect, however many of its messages wait and however many workers run:
  the prospect's one CandidateCreation row is the lease (a compare-and-set on `claimed_at`), and
  its `post_started_at` is committed before the POST (the project's "log row before the side
  effect"). After a POST with no clear answer the next attempt searches again, and waits for
  Greenhouse's lag (CREATE_LAG) before it would post again.
- Every request goes through the credential's rate budget without waiting for it
  (`try_acquire`: the client is built with max_rate_wait=0): no slot, and the attempt is
  deferred to the slot, nothing sent.
- A credential without the `harvest:candidates:create` scope is said in plain words (Greenhouse
  answers 403); nothing else about the connection is flagged, since notes still work.

Once the candidate is known (created or found), the prospect's CandidateLink says so and the
messages waiting for it go back to pending: the team's lane writes them in message order, each
once (the outbox's claim and read-back rules, writer.py).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import crypto
from apps.sequences.models import Prospect, ProspectEmail, ProspectPhone

from .connection import harvest_client_build, harvest_error_in_plain_words
from .harvest.client import HarvestClient
from .harvest.errors import (
    HarvestAmbiguousWrite,
    HarvestError,
    HarvestPermissionError,
    HarvestRateLimited,
    HarvestServerError,
    HarvestUnavailable,
    HarvestValidationError,
)
from .lanes import sync_lane_wake_on_commit
from .models import (
    CandidateCreation,
    CandidateLink,
    GreenhouseIntegration,
    ProspectSyncIgnore,
    ReviewAction,
    SyncRecord,
)
from .policy import CandidateMatch, Reason, UnknownRecipients

logger = logging.getLogger(__name__)

Status = CandidateCreation.Status
CREATE_SCOPE = "harvest:candidates:create"
# A worker holding the lease longer than this is taken for dead (it makes a few GETs and a POST,
# each bounded by the client's timeouts).
LEASE = timedelta(minutes=2)
# After a POST with no clear answer, how long a search that does not find the candidate is not
# trusted (Greenhouse's record can lag behind the create; reference 3.6).
CREATE_LAG = timedelta(minutes=2)
MAX_AUTOMATIC_ATTEMPTS = 6
RETRY_DELAY = timedelta(minutes=1)
# Records that wait for the prospect's candidate: released once it is known.
WAITING_FOR_CANDIDATE = (
    Reason.NOT_IN_GREENHOUSE_YET,
    Reason.CANDIDATE_TO_CREATE,
    Reason.SEVERAL_CANDIDATES,
    Reason.CANDIDATE_NOT_FOUND,
)
EMAIL_TYPE = "personal"  # the prospect's addresses are the ones recruiters reached them at
PHONE_TYPE = "mobile"  # the app texts them: SMS numbers


@dataclass(frozen=True)
class CreationResult:
    """What happened, in words for the person who asked (or the log)."""

    outcome: str  # created | existed | several | busy | deferred | failed | refused
    message: str
    candidate_id: int | None = None
    retry_after: float | None = None
    released: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome in ("created", "existed")


def candidate_payload(prospect: Prospect, *, tag: str = "") -> dict:
    """The v3 body for the prospect (reference 3.6): names, typed emails and phones, no job."""
    emails = list(
        ProspectEmail.objects.filter(prospect=prospect)
        .order_by("-is_primary", "email")
        .values_list("email", flat=True)
    )
    phones = list(
        ProspectPhone.objects.filter(prospect=prospect)
        .order_by("number")
        .values_list("number", flat=True)
    )
    payload = {
        "first_name": prospect.first_name.strip(),
        "last_name": prospect.last_name.strip(),
        "email_addresses": [{"value": e, "type": EMAIL_TYPE} for e in emails],
        "phone_numbers": [{"value": p, "type": PHONE_TYPE} for p in phones],
    }
    if tag.strip():
        payload["tags"] = [tag.strip()]
    return payload


def waiting_records_release(*, prospect_id: int) -> int:
    """The prospect's records held for its candidate go back to pending, due now; the team's
    lane writes them in message order once this transaction commits. Returns how many."""
    held = SyncRecord.objects.filter(
        prospect_id=prospect_id,
        status=SyncRecord.Status.HELD,
        reason__in=WAITING_FOR_CANDIDATE,
    )
    team_ids = set(held.values_list("team_id", flat=True))
    released = held.update(
        status=SyncRecord.Status.PENDING,
        attempts=0,
        next_attempt_at=None,
        claimed_at=None,
        queued_at=None,
        last_error="",
    )
    for team_id in team_ids:
        sync_lane_wake_on_commit(team_id=team_id)
    return released


def candidate_link_set(
    *, prospect: Prospect, candidate_id: int, source: str, seen: list[int] | None = None
) -> CandidateLink:
    """The prospect is this Greenhouse candidate (kept until Greenhouse says it is gone)."""
    link, _ = CandidateLink.objects.update_or_create(
        prospect=prospect,
        defaults={
            "team_id": prospect.team_id,
            "candidate_id": candidate_id,
            "match": CandidateMatch.ONE,
            "candidate_ids_seen": seen if seen is not None else [candidate_id],
            "emails_searched": [],
            "source": source,
            "resolved_at": timezone.now(),
        },
    )
    return link


def _audit(prospect, action, *, by=None, automatic=False, candidate_id=None, detail=""):
    ReviewAction.objects.create(
        team_id=prospect.team_id,
        prospect=prospect,
        action=action,
        by=by,
        automatic=automatic,
        candidate_id=candidate_id,
        detail=detail[:2000],
    )


# --- The lease -----------------------------------------------------------------------------------


def _row(prospect: Prospect) -> CandidateCreation:
    row = CandidateCreation.objects.filter(prospect=prospect).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return CandidateCreation.objects.create(prospect=prospect, team_id=prospect.team_id)
    except IntegrityError:
        return CandidateCreation.objects.get(prospect=prospect)  # created at the same moment


def _take(row: CandidateCreation, *, now: datetime, by, automatic: bool) -> datetime | None:
    """The lease, by compare-and-set on what was read: of any number of callers, one wins."""
    lease_free = row.claimed_at is None or row.claimed_at < now - LEASE
    if row.status == Status.RUNNING and not lease_free:
        return None
    taken = CandidateCreation.objects.filter(
        pk=row.pk, status=row.status, claimed_at=row.claimed_at
    ).update(
        status=Status.RUNNING,
        claimed_at=now,
        attempts=row.attempts + 1,
        automatic=automatic,
        requested_by=by if by is not None else row.requested_by,
        next_attempt_at=None,
    )
    return now if taken else None


def _mine(row: CandidateCreation, claimed_at: datetime):
    return CandidateCreation.objects.filter(pk=row.pk, status=Status.RUNNING, claimed_at=claimed_at)


def _give_back(row, claimed_at, *, error: str, retry_in: float, post_started_at=None) -> None:
    """Not done, nothing decided: pending again, due in `retry_in` seconds."""
    _mine(row, claimed_at).update(
        status=Status.PENDING,
        claimed_at=None,
        error=error[:2000],
        post_started_at=post_started_at,
        next_attempt_at=timezone.now() + timedelta(seconds=max(1.0, retry_in)),
    )


# --- The service ---------------------------------------------------------------------------------


def candidate_create(prospect: Prospect, *, by=None, automatic: bool = False) -> CreationResult:
    """Create the prospect's candidate in Greenhouse, as a prospect (no job), after a search by
    every one of its email addresses; link the candidate found instead. Safe to call any number
    of times, from any number of processes: one POST per prospect at most (the module says
    how). `by`: the person who asked (None: the team's automatic creation)."""
    integration = GreenhouseIntegration.objects.filter(team_id=prospect.team_id).first()
    if integration is None:
        return CreationResult("refused", "Greenhouse is not connected for this team.")
    if ProspectSyncIgnore.objects.filter(prospect=prospect, ignored=True).exists():
        return CreationResult(
            "refused", f"{prospect} is ignored; stop ignoring them before creating a candidate."
        )
    now = timezone.now()
    row = _row(prospect)
    if row.status in (Status.CREATED, Status.EXISTED) and row.candidate_id:
        # Done before (by another worker or person): make sure the link and the release hold.
        with transaction.atomic():
            link = CandidateLink.objects.filter(prospect=prospect).first()
            if link is None or link.match != CandidateMatch.ONE:
                source = (
                    CandidateLink.Source.CREATED
                    if row.status == Status.CREATED
                    else CandidateLink.Source.EMAIL
                )
                candidate_link_set(prospect=prospect, candidate_id=row.candidate_id, source=source)
            released = waiting_records_release(prospect_id=prospect.pk)
        return CreationResult(
            "existed" if row.status == Status.EXISTED else "created",
            f"{prospect} is already Greenhouse candidate {row.candidate_id}.",
            candidate_id=row.candidate_id,
            released=released,
        )
    claimed_at = _take(row, now=now, by=by, automatic=automatic)
    if claimed_at is None:
        return CreationResult(
            "busy", f"{prospect}'s candidate is being created right now; reload in a moment."
        )
    row.refresh_from_db()
    try:
        return _create(prospect, integration, row, claimed_at, by=by, automatic=automatic)
    except Exception:
        # A bug here: the lease goes back (the sweep tries again later) and the log has it.
        logger.exception("Creating the Greenhouse candidate of prospect %s failed", prospect.pk)
        _give_back(
            row,
            claimed_at,
            error="An unexpected error; see the server log.",
            retry_in=RETRY_DELAY.total_seconds(),
            post_started_at=row.post_started_at,
        )
        raise


def _create(prospect, integration, row, claimed_at, *, by, automatic) -> CreationResult:
    payload = candidate_payload(prospect, tag=integration.candidate_tag)
    emails = [item["value"] for item in payload["email_addresses"]]
    if not emails:
        return _failed(
            prospect, row, claimed_at, by=by, automatic=automatic,
            message=(
                f"{prospect} has no email address, so Greenhouse cannot be searched for an "
                "existing candidate first. Add their email, or link a candidate instead."
            ),
        )  # fmt: skip
    if not payload["first_name"] or not payload["last_name"]:
        return _failed(
            prospect, row, claimed_at, by=by, automatic=automatic,
            message=(
                f"Greenhouse needs a first and a last name for a candidate; {prospect} has "
                "no last name. Add it to the prospect, or link a candidate instead."
            ),
        )  # fmt: skip
    try:
        client = harvest_client_build(integration=integration, max_rate_wait=0)
        found = _search(client, emails)
    except (HarvestError, crypto.SecretDecryptionError) as exc:
        return _harvest_problem(prospect, integration, row, claimed_at, exc, by, automatic)

    if found:
        return _found(prospect, row, claimed_at, found, by=by, automatic=automatic)
    earlier_post = row.post_started_at
    if earlier_post is not None and timezone.now() < earlier_post + CREATE_LAG:
        # An earlier POST may have created it and Greenhouse may not show it yet.
        wait = (earlier_post + CREATE_LAG - timezone.now()).total_seconds()
        _give_back(
            row, claimed_at, retry_in=wait, post_started_at=earlier_post,
            error="An earlier attempt may have created the candidate; searching again first.",
        )  # fmt: skip
        return CreationResult(
            "deferred",
            "An earlier attempt may have created this candidate in Greenhouse; it is searched "
            f"again in {wait:.0f} s before anything is created.",
            retry_after=wait,
        )

    # The log row before the external call: whoever finds this row later knows a candidate
    # may exist, and searches before posting again.
    started = timezone.now()
    if not _mine(row, claimed_at).update(post_started_at=started):
        return CreationResult("busy", "Another worker took over this creation.")
    try:
        candidate = client.candidate_create(
            first_name=payload["first_name"],
            last_name=payload["last_name"],
            email_addresses=payload["email_addresses"],
            phone_numbers=payload["phone_numbers"],
            tags=payload.get("tags"),
        )
    except HarvestAmbiguousWrite as exc:
        _give_back(
            row, claimed_at, retry_in=CREATE_LAG.total_seconds(), post_started_at=started,
            error=f"{exc.message} It is searched for by email before anything else is sent.",
        )  # fmt: skip
        return CreationResult(
            "deferred",
            f"{exc.message} The app searches Greenhouse by email again before creating it.",
            retry_after=CREATE_LAG.total_seconds(),
        )
    except (HarvestError, crypto.SecretDecryptionError) as exc:
        # A clear refusal (or no slot in the budget): nothing was created.
        _mine(row, claimed_at).update(post_started_at=earlier_post)
        row.post_started_at = earlier_post
        return _harvest_problem(prospect, integration, row, claimed_at, exc, by, automatic)

    candidate_id = int(candidate["id"])
    with transaction.atomic():
        if not _mine(row, claimed_at).update(
            status=Status.CREATED,
            candidate_id=candidate_id,
            claimed_at=None,
            finished_at=timezone.now(),
            error="",
        ):
            # Taken for dead meanwhile: the next holder searches first and finds it.
            logger.warning("Candidate creation of prospect %s lost its lease", prospect.pk)
        candidate_link_set(
            prospect=prospect, candidate_id=candidate_id, source=CandidateLink.Source.CREATED
        )
        released = waiting_records_release(prospect_id=prospect.pk)
        _audit(
            prospect, ReviewAction.Action.CREATE, by=by, automatic=automatic,
            candidate_id=candidate_id,
            detail=f"Created with {len(emails)} email address(es) and "
            f"{len(payload['phone_numbers'])} phone number(s)"
            + (f", tagged “{payload['tags'][0]}”." if payload.get("tags") else "."),
        )  # fmt: skip
    logger.info("Created Greenhouse candidate %s for prospect %s", candidate_id, prospect.pk)
    return CreationResult(
        "created",
        f"Created Greenhouse candidate {candidate_id} for {prospect}; "
        f"{_messages(released)} now written to it.",
        candidate_id=candidate_id,
        released=released,
    )


def _messages(count: int) -> str:
    return f"{count} waiting message{'s' if count != 1 else ''}" if count else "new messages are"


def _search(client: HarvestClient, emails: list[str]) -> list[int]:
    """The ids of every candidate that has one of these addresses (each searched once)."""
    seen: list[int] = []
    for email in emails:
        for candidate in client.candidates_by_email(email):
            if int(candidate["id"]) not in seen:
                seen.append(int(candidate["id"]))
    return seen


def _found(prospect, row, claimed_at, found: list[int], *, by, automatic) -> CreationResult:
    """The dedupe check found the candidate (or several): link instead of creating."""
    with transaction.atomic():
        if len(found) == 1:
            candidate_id = found[0]
            _mine(row, claimed_at).update(
                status=Status.EXISTED,
                candidate_id=candidate_id,
                claimed_at=None,
                finished_at=timezone.now(),
                error="",
            )
            candidate_link_set(
                prospect=prospect, candidate_id=candidate_id, source=CandidateLink.Source.EMAIL
            )
            released = waiting_records_release(prospect_id=prospect.pk)
            _audit(
                prospect, ReviewAction.Action.LINK_EXISTING, by=by, automatic=automatic,
                candidate_id=candidate_id,
                detail="Greenhouse already had a candidate with this email; linked, not created.",
            )  # fmt: skip
            return CreationResult(
                "existed",
                f"Greenhouse already has {prospect} as candidate {candidate_id}: linked to it "
                f"instead of creating a duplicate; {_messages(released)} now written to it.",
                candidate_id=candidate_id,
                released=released,
            )
        message = (
            f"Not created: Greenhouse already has {len(found)} candidates with {prospect}'s "
            "email addresses. Choose the right one in the review queue."
        )
        _mine(row, claimed_at).update(
            status=Status.FAILED, claimed_at=None, finished_at=timezone.now(), error=message
        )
        CandidateLink.objects.update_or_create(
            prospect=prospect,
            defaults={
                "team_id": prospect.team_id,
                "candidate_id": None,
                "match": CandidateMatch.SEVERAL,
                "candidate_ids_seen": found,
                "emails_searched": [],
                "source": CandidateLink.Source.EMAIL,
                "resolved_at": timezone.now(),
            },
        )
        # Held for a person to choose now, not for a creation.
        SyncRecord.objects.filter(
            prospect=prospect,
            status=SyncRecord.Status.HELD,
            reason__in=(Reason.NOT_IN_GREENHOUSE_YET, Reason.CANDIDATE_TO_CREATE),
        ).update(reason=Reason.SEVERAL_CANDIDATES)
        _audit(
            prospect, ReviewAction.Action.SEVERAL_FOUND, by=by, automatic=automatic,
            detail=f"Candidates {', '.join(map(str, found))} have these emails.",
        )  # fmt: skip
    return CreationResult("several", message)


def _scope_missing(exc: HarvestError) -> bool:
    detail = " ".join([exc.message, *exc.errors]).lower()
    return isinstance(exc, HarvestPermissionError) and "scope" in detail


def _harvest_problem(prospect, integration, row, claimed_at, exc, by, automatic) -> CreationResult:
    if isinstance(exc, HarvestRateLimited):
        wait = max(1.0, exc.retry_after)
        _give_back(
            row, claimed_at, retry_in=wait, post_started_at=row.post_started_at,
            error="Waiting for Greenhouse's rate allowance.",
        )  # fmt: skip
        return CreationResult(
            "deferred",
            f"Greenhouse's rate allowance is used up for now; try again in {wait:.0f} s."
            if not automatic
            else f"Waiting {wait:.0f} s for Greenhouse's rate allowance.",
            retry_after=wait,
        )
    if (
        isinstance(exc, HarvestPermissionError)
        and _scope_missing(exc)
        and CREATE_SCOPE in (" ".join([exc.message, *exc.errors]))
    ):
        message = (
            f"The Greenhouse credential lacks the {CREATE_SCOPE} scope, so this app cannot "
            "create candidates. In Greenhouse (Configure → Dev Center → API Credentials), edit "
            f"the Harvest V3 credential and grant {CREATE_SCOPE}; or link an existing candidate."
        )
        return _failed(prospect, row, claimed_at, message=message, by=by, automatic=automatic)
    plain = harvest_error_in_plain_words(exc, integration=integration)
    transient = isinstance(exc, HarvestUnavailable | HarvestServerError)
    if transient and (not automatic or row.attempts < MAX_AUTOMATIC_ATTEMPTS):
        _give_back(
            row, claimed_at, retry_in=RETRY_DELAY.total_seconds() * row.attempts,
            post_started_at=row.post_started_at, error=plain,
        )  # fmt: skip
        return CreationResult("deferred", plain, retry_after=RETRY_DELAY.total_seconds())
    if isinstance(exc, HarvestValidationError):
        plain = f"Greenhouse refused the candidate: {exc.message}"
    return _failed(prospect, row, claimed_at, message=plain, by=by, automatic=automatic)


def _failed(prospect, row, claimed_at, *, message: str, by, automatic) -> CreationResult:
    """Nothing was created and trying again will not help until a person changes something."""
    with transaction.atomic():
        _mine(row, claimed_at).update(
            status=Status.FAILED, claimed_at=None, finished_at=timezone.now(), error=message[:2000]
        )
        SyncRecord.objects.filter(
            prospect=prospect, status=SyncRecord.Status.HELD, reason=Reason.CANDIDATE_TO_CREATE
        ).update(last_error=message[:2000])
        _audit(
            prospect, ReviewAction.Action.CREATE_FAILED, by=by, automatic=automatic, detail=message
        )
    logger.warning("Candidate of prospect %s not created: %s", prospect.pk, message)
    return CreationResult("failed", message)


# --- The team's automatic creation (unknown recipients: CREATE) -------------------------------


def candidate_auto_create(*, prospect_id: int) -> CreationResult | None:
    """The task's service: create the candidate of a prospect whose messages are held
    CANDIDATE_TO_CREATE, if the team still creates unknown recipients. None: nothing to do."""
    prospect = Prospect.objects.filter(pk=prospect_id).first()
    if prospect is None:
        return None
    integration = GreenhouseIntegration.objects.filter(team_id=prospect.team_id).first()
    if integration is None or integration.unknown_recipients != UnknownRecipients.CREATE:
        return None
    if not (integration.sync_enabled_by_support and integration.sync_on):
        return None
    row = CandidateCreation.objects.filter(prospect=prospect).first()
    if row is not None and row.status == Status.FAILED:
        return None  # a person has to act first (the review queue says what is wrong)
    if row is not None and row.next_attempt_at and row.next_attempt_at > timezone.now():
        return None  # deferred: its own countdown (or the sweep) comes back then
    waiting = SyncRecord.objects.filter(
        prospect=prospect, status=SyncRecord.Status.HELD, reason=Reason.CANDIDATE_TO_CREATE
    ).exists()
    if not waiting and (row is None or row.status not in (Status.CREATED, Status.EXISTED)):
        return None
    return candidate_create(prospect, by=None, automatic=True)


def candidate_create_queue_on_commit(*, prospect_id: int, countdown: float = 0) -> None:
    """Queue the automatic creation once the current transaction commits. Any number of queued
    tasks for a prospect make one creation at most (the lease); the sweep queues lost ones."""
    from .tasks import candidate_create_task

    def queue():
        candidate_create_task.apply_async(args=(prospect_id,), countdown=max(0, countdown))

    transaction.on_commit(partial(_publish, queue, prospect_id), robust=True)


def _publish(queue, prospect_id: int) -> None:
    try:
        queue()
    except Exception:
        logger.exception("Could not queue the candidate creation of prospect %s", prospect_id)


def candidate_creations_sweep(*, now: datetime | None = None, limit: int = 200) -> int:
    """The beat's safety net for automatic creations: prospects held CANDIDATE_TO_CREATE whose
    creation is due (never started, deferred and due, or a lease that ran out)."""
    from django.db.models import Q

    now = now or timezone.now()
    teams = GreenhouseIntegration.objects.filter(
        unknown_recipients=UnknownRecipients.CREATE, sync_enabled_by_support=True, sync_on=True
    ).values("team_id")
    prospect_ids = (
        SyncRecord.objects.filter(
            team_id__in=teams, status=SyncRecord.Status.HELD, reason=Reason.CANDIDATE_TO_CREATE
        )
        .exclude(
            prospect__greenhouse_creation__status__in=(Status.FAILED,),
        )
        .exclude(prospect__greenhouse_creation__next_attempt_at__gt=now)
        .exclude(
            Q(prospect__greenhouse_creation__status=Status.RUNNING)
            & Q(prospect__greenhouse_creation__claimed_at__gte=now - LEASE)
        )
        .order_by()
        .values_list("prospect_id", flat=True)
        .distinct()[:limit]
    )
    queued = 0
    for prospect_id in prospect_ids:
        candidate_create_queue_on_commit(prospect_id=prospect_id)
        queued += 1
    return queued
