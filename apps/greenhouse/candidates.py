"""Which Greenhouse candidate a prospect is: its CandidateLink, found by email and reused.

Every lookup is requests of the credential's rate budget (one per address, more when the
answer has pages), taken from the allowance the notes need. Against the strict sandbox, 40 of
243 requests for 200 notes were lookups, most of them the same "not in Greenhouse" answer asked
again for every message of the same prospect. So a link is reused, not searched again:
- "one" until Greenhouse answers 404 for that candidate (merged away or deleted);
- "none" and "several" for GREENHOUSE_LOOKUP_CACHE_SECONDS (a few minutes; 0: every record
  searches), after which the next record searches again. Issue 15 will add a schedule of
  re-lookups for "not in Greenhouse yet"; a person's retry (`candidate_links_expire`) always
  searches again;
- what a link already knows is not looked up: while its answer is fresh, a prospect who gained
  an address is searched by that address only, and the answer combined with the ids already
  seen. Every address is searched once (it takes all of them to tell "several").

Even so each new prospect cost one search (Harvest v3 searches one address per request). With
the team's candidate directory (directory.py, GREENHOUSE_DIRECTORY_ENABLED) complete, a
prospect is resolved from it instead: fresh, with no request; stale, after one incremental
refresh that answers for every prospect of the team at once. The first record crawls a small
account itself; while a longer first crawl runs the record waits for it (deferred, a while); a
directory that is off, not crawled or given up
leaves the per-address search above. A 404 on the POST (`gone`) always searches by address,
as before, and the directory forgets that candidate.
"""

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from apps.sequences.models import ProspectEmail

from .directory import directory_candidate_forget, directory_candidates
from .harvest.client import HarvestClient
from .models import CandidateLink, GreenhouseIntegration, SyncAttempt
from .policy import CandidateMatch

if TYPE_CHECKING:
    from .outcomes import Claim

# Answers reused for the cache time; "one" is reused until a 404, the others are searched again.
REUSED = (CandidateMatch.NONE, CandidateMatch.SEVERAL)


def _known(link: CandidateLink | None, emails: list[str]) -> list[str] | None:
    """The addresses `link`'s fresh answer already covers (None: nothing to reuse)."""
    if link is None or link.match not in REUSED or link.source != CandidateLink.Source.EMAIL:
        return None
    ttl = settings.GREENHOUSE_LOOKUP_CACHE_SECONDS
    if ttl <= 0 or timezone.now() - link.resolved_at >= timedelta(seconds=ttl):
        return None
    searched = [e for e in link.emails_searched or []]
    if not searched or not set(searched) <= set(emails):
        return None  # an address was removed: the ids it found cannot be told apart
    return searched


def candidate_resolve(
    claim: "Claim", client: HarvestClient, *, gone: int | None = None
) -> tuple[CandidateMatch, int | None]:
    """The prospect's Greenhouse candidate, by all its email addresses (for SMS too: Harvest has
    no phone search). One match is kept and reused; none or several are reused for the cache
    time (see the module docstring), then looked up again.
    `gone`: the linked candidate just answered 404, so the link is not trusted; a search that
    finds nothing then says "gone", and one that finds that same id still "not found"."""
    # The sync log's attempt rows are outcomes.py's (imported here: the writer imports this
    # module, and outcomes.py is the writer's).
    from .outcomes import _attempt_finish, _attempt_start

    record = claim.record
    link = CandidateLink.objects.filter(prospect_id=record.prospect_id).first()
    if gone is None and link is not None and link.match == CandidateMatch.ONE and link.candidate_id:
        return CandidateMatch.ONE, link.candidate_id
    emails = list(
        ProspectEmail.objects.filter(prospect_id=record.prospect_id).values_list("email", flat=True)
    )
    if gone is not None:
        directory_candidate_forget(team_id=record.team_id, candidate_id=gone)
    elif link is None or link.source != CandidateLink.Source.SUPPORT:
        integration = claim.integration or (
            GreenhouseIntegration.objects.filter(team_id=record.team_id).first()
        )
        found = None
        if integration is not None:
            found = directory_candidates(
                integration=integration,
                client=client,
                emails=emails,
                before_request=partial(_lookup_logged, claim),
            )
        if found is not None:
            _attempt_finish(claim, SyncAttempt.Outcome.OK, http_status=200)
            return _link_save(record, found, emails, source=CandidateLink.Source.DIRECTORY)
    known = _known(link, emails) if gone is None else None
    seen: list[int] = []
    if known is not None:
        assert link is not None
        seen = [int(i) for i in link.candidate_ids_seen or []]
        if set(known) == set(emails):
            return CandidateMatch(link.match), None  # nothing new to ask Greenhouse
    _attempt_start(claim, SyncAttempt.Kind.LOOKUP)
    for email in emails:
        if known is not None and email in known:
            continue
        for candidate in client.candidates_by_email(email):
            if int(candidate["id"]) not in seen:
                seen.append(int(candidate["id"]))
    _attempt_finish(claim, SyncAttempt.Outcome.OK, http_status=200)
    if gone is not None and gone in seen:
        seen.remove(gone)
        if not seen:
            seen = [gone]
    if gone is not None and seen == [gone]:
        match = CandidateMatch.NOT_FOUND
    elif not seen:
        match = CandidateMatch.GONE if gone is not None else CandidateMatch.NONE
    elif len(seen) == 1:
        match = CandidateMatch.ONE
    else:
        match = CandidateMatch.SEVERAL
    candidate_id = seen[0] if match == CandidateMatch.ONE else None
    # A partial search extends the older answer: it is as old as that one.
    resolved_at = link.resolved_at if known is not None and link is not None else timezone.now()
    CandidateLink.objects.update_or_create(
        prospect_id=record.prospect_id,
        defaults={
            "team_id": record.team_id,
            "candidate_id": candidate_id,
            "match": match,
            "candidate_ids_seen": seen,
            "emails_searched": emails,
            "source": CandidateLink.Source.EMAIL,
            "resolved_at": resolved_at if match != CandidateMatch.ONE else timezone.now(),
        },
    )
    return match, candidate_id


def _lookup_logged(claim: "Claim") -> None:
    """The record's lookup log row, once, before the directory's first request."""
    from .outcomes import _attempt_start

    if claim.attempt is None:
        _attempt_start(claim, SyncAttempt.Kind.LOOKUP)


def _link_save(
    record, ids: list[int], emails: list[str], *, source: str
) -> tuple[CandidateMatch, int | None]:
    """The directory's answer, kept as the prospect's link like a search's."""
    match = {0: CandidateMatch.NONE, 1: CandidateMatch.ONE}.get(len(ids), CandidateMatch.SEVERAL)
    candidate_id = ids[0] if match == CandidateMatch.ONE else None
    CandidateLink.objects.update_or_create(
        prospect_id=record.prospect_id,
        defaults={
            "team_id": record.team_id,
            "candidate_id": candidate_id,
            "match": match,
            "candidate_ids_seen": ids,
            "emails_searched": emails,
            "source": source,
            "resolved_at": timezone.now(),
        },
    )
    return match, candidate_id


def candidate_links_expire(*, prospect_ids) -> int:
    """The "none" and "several" answers of these prospects are searched again on their next
    record (a person retrying them may have fixed the candidates in Greenhouse)."""
    return (
        CandidateLink.objects.filter(prospect_id__in=prospect_ids, match__in=REUSED)
        .exclude(emails_searched=[])
        .update(emails_searched=[])
    )
