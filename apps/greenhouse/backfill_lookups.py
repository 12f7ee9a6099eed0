"""Looking up, for a backfill's dry run, the prospects of its window never looked up in Greenhouse.

Why: the dry run (backfill.py) reads local rows only, so for a prospect with no candidate link it
can only say "written after a lookup". A team admin may ask for those lookups now (a POST): each
prospect is looked up as the writer would before their first note (candidates.py
`candidate_resolve`, logged on the prospect's oldest record of the window), within the same rate
budget and a time budget, and the links are stored as the sync would store them. The dry run is
then exact for them too.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from apps.core import crypto
from apps.sequences.models import Prospect
from apps.teams.models import Team

from .backfill import BACKFILL_MAX_RECORDS, _in_window
from .candidates import candidate_resolve
from .connection import harvest_client_build, harvest_error_in_plain_words
from .harvest.errors import HarvestError
from .models import GreenhouseIntegration, SyncAttempt, SyncRecord
from .outcomes import Claim, _attempt_finish

# The lookups run while a team admin waits on the page: a time budget, and short waits on the
# rate budget (the same budget the notes use).
LOOKUP_TIME_BUDGET = 20.0
LOOKUP_MAX_RATE_WAIT = 5.0
LOOKUP_TIMEOUT = (3.0, 10.0)


@dataclass(frozen=True)
class Lookups:
    looked_up: int
    left: int  # not looked up within the time budget
    error: str = ""


def backfill_lookups(
    *,
    team: Team,
    since: datetime,
    until: datetime,
    prospect: Prospect | None = None,
    time_budget: float = LOOKUP_TIME_BUDGET,
) -> Lookups:
    """Look up in Greenhouse the prospects of the window that were never looked up, the way the
    writer does before a prospect's first note (candidates.py `candidate_resolve`, logged on the
    prospect's oldest record of the window), so the dry run can count them exactly. A POST: it
    stores the links, as the sync would on the first write."""
    integration = GreenhouseIntegration.objects.filter(team=team).first()
    if integration is None:
        return Lookups(0, 0, "Greenhouse is not connected for this team.")
    records = _in_window(
        team_id=team.pk,
        since=since,
        until=until,
        prospect_id=prospect.pk if prospect is not None else None,
    ).exclude(prospect__greenhouse_link__isnull=False)
    first: dict[int, SyncRecord] = {}
    for record in records.order_by("message__created_at", "message_id")[:BACKFILL_MAX_RECORDS]:
        first.setdefault(record.prospect_id, record)
    deadline = time.monotonic() + time_budget
    done = 0
    claim: Claim | None = None
    try:
        client = harvest_client_build(
            integration=integration,
            max_rate_wait=LOOKUP_MAX_RATE_WAIT,
            timeout=LOOKUP_TIMEOUT,
            read_retries=0,
        )
        for record in first.values():
            if time.monotonic() > deadline:
                break
            claim = Claim(record=record, claimed_at=timezone.now())
            candidate_resolve(claim, client)
            done += 1
    except (HarvestError, crypto.SecretDecryptionError) as exc:
        if claim is not None:  # the lookup's log row says how it ended
            _attempt_finish(claim, SyncAttempt.Outcome.ERROR, error=str(exc))
        return Lookups(
            done, len(first) - done, harvest_error_in_plain_words(exc, integration=integration)
        )
    return Lookups(done, len(first) - done)
