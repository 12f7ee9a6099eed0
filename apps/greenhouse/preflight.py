"""The enrollment preflight: before prospects join a sequence that BCCs a Greenhouse Maildrop
address, look them up in Greenhouse so the recruiter learns who would get an empty profile.
It runs while the recruiter waits, so it has a time budget and does not wait long on the rate
budget; it answers on the sequences app's `enrollment_preflight` signal (signals.py).
The prospects it finds unknown, and those the sync already knows are not in Greenhouse yet, are
named once more with a link to the review queue (not_in_greenhouse.py), where a person links,
creates or ignores them before Maildrop makes an empty profile.
"""

import logging
import time

from django.db.models import prefetch_related_objects
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.core import crypto
from apps.teams.bcc import has_greenhouse_maildrop

from .connection import harvest_client_build, harvest_error_in_plain_words
from .harvest.errors import HarvestError
from .models import GreenhouseIntegration
from .not_in_greenhouse import prospects_not_in_greenhouse_yet, review_queue_url
from .selectors import greenhouse_integration_for_team

logger = logging.getLogger(__name__)

# The pre-enrollment check runs while a recruiter waits on the page.
PREFLIGHT_TIME_BUDGET = 20.0
PREFLIGHT_MAX_RATE_WAIT = 5.0
PREFLIGHT_TIMEOUT = (3.0, 10.0)


def greenhouse_enrollment_preflight(*, sequence, prospects) -> list[str]:
    """Warnings before prospects are enrolled in a sequence that BCCs Greenhouse Maildrop: each
    prospect Greenhouse does not know would get an empty profile. Never raises for Greenhouse
    trouble: that becomes a warning too."""
    if not has_greenhouse_maildrop(sequence.bcc_list):
        return []
    integration = greenhouse_integration_for_team(team_id=sequence.team_id)
    if integration is None:
        return []
    unknown_outcome = (
        "Greenhouse creates an empty profile for every prospect it does not know, so check "
        "them in Greenhouse first."
    )
    if integration.health == GreenhouseIntegration.Health.NEEDS_ATTENTION:
        return [
            "This sequence BCCs Greenhouse Maildrop, but the Greenhouse connection needs "
            "attention, so we could not check which prospects are already in Greenhouse. "
            + unknown_outcome
        ]
    prospects = list(prospects)
    prefetch_related_objects(prospects, "emails")
    warnings: list[str] = []
    unknown: list = []  # prospects no address of which Greenhouse knows, as found now
    unchecked = 0
    deadline = time.monotonic() + PREFLIGHT_TIME_BUDGET
    try:
        client = harvest_client_build(
            integration=integration,
            max_rate_wait=PREFLIGHT_MAX_RATE_WAIT,
            timeout=PREFLIGHT_TIMEOUT,
            read_retries=0,
        )
        for prospect in prospects:
            # Ordered primary first: Maildrop matches the address the email is sent to.
            addresses = [e.email for e in prospect.emails.all()]
            if not addresses:
                continue
            if time.monotonic() > deadline:
                unchecked += 1
                continue
            if client.candidates_by_email(addresses[0]):
                continue
            elsewhere = next((a for a in addresses[1:] if client.candidates_by_email(a)), None)
            if elsewhere:
                warnings.append(
                    f"{prospect.full_name}: Greenhouse knows {elsewhere} but not {addresses[0]}, "
                    "the address we send to. Greenhouse would create an empty profile."
                )
            else:
                unknown.append(prospect)
                warnings.append(
                    f"{prospect.full_name} ({addresses[0]}) has no Greenhouse candidate. "
                    "Greenhouse would create an empty profile."
                )
    except (HarvestError, crypto.SecretDecryptionError) as exc:
        reason = harvest_error_in_plain_words(exc, integration=integration)
        return [
            *warnings,
            f"Could not check Greenhouse for existing candidates: {reason} {unknown_outcome}",
        ]
    except Exception:
        logger.exception("Greenhouse enrollment preflight failed for sequence %s", sequence.pk)
        return [*warnings, "Could not check Greenhouse for existing candidates. " + unknown_outcome]
    if unchecked:
        warnings.append(
            f"{unchecked} more prospects could not be checked in time. " + unknown_outcome
        )
    if review := _review_queue_line(sequence.team_id, prospects, unknown):
        warnings.append(review)
    return warnings


def _review_queue_line(team_id: int, prospects: list, unknown: list) -> SafeString | None:
    """One line naming the prospects not in Greenhouse yet (found unknown now, or known so by
    the sync) with the review queue's link; None when there is none. Names are escaped."""
    waiting = prospects_not_in_greenhouse_yet(
        team_id=team_id, prospect_ids=[p.pk for p in prospects]
    )
    found = {p.pk for p in unknown}
    named = [p for p in prospects if p.pk in found or p.pk in waiting]
    if not named:
        return None
    return format_html(
        'Not in Greenhouse yet: {}. <a href="{}">Review queue →</a> to link, create or ignore '
        "them before you enroll.",
        ", ".join(p.full_name for p in named),
        review_queue_url(),
    )
