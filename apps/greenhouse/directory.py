"""A team's candidate directory: its prospects resolved together, not one search per address.

Why: Harvest v3 searches candidates by one address per request (`GET /v3/candidates?email=`),
so every new prospect cost a request of the rate budget the notes need (120 lookups for 450
notes in docs/benchmarks.md section 1c, which held notes per allowed request at 0.83). Harvest's
listing gives 500 candidates a request: one crawl of the account's candidates, then a refresh
of what changed since (`updated_at=gte|…`, usually one request) answers for every prospect of
the team at once, and between refreshes (GREENHOUSE_DIRECTORY_FRESH_SECONDS) with no request.

Data minimisation: the listing shows us other people's addresses, which we have no business
keeping. Each address is normalised (stripped, lower case) and only its keyed hash is stored
(HMAC-SHA256, a key derived from SECRET_KEY for this purpose alone) with the candidate id(s):
an id is found only for an address we already hold, and a copy of the table gives nobody an
address. `key_id` names the key and the Greenhouse account (host, client id) the hashes are
for; another one (a new SECRET_KEY, another account) drops them and crawls again.

Passes: a crawl (`GET /v3/candidates?per_page=500`, then only the `Link` cursor, which must be
the only query parameter) or a refresh (the same with `updated_at=gte|…` = the last pass's start
less GREENHOUSE_DIRECTORY_SAFETY_MARGIN). One pass at a time per team (a lease on the row),
page by page; the cursor link of the next page is saved after each, so a crashed pass goes on
where it stopped. Every request takes a slot of the credential's rate budget without waiting
(a client built with `max_rate_wait=0`: no slot, HarvestRateLimited with no status, and the
pass goes on at the slot), and has its DirectoryFetch row written before it is sent. Errors
are retried a bounded number of times (GREENHOUSE_DIRECTORY_MAX_FAILURES). Crawls run as a
Celery task on the sync queue (tasks.py); a refresh runs inline in the record that finds the
directory stale (one request answers for the whole team), or in `directory_refresh_if_stale`.

Merged and deleted candidates are simply absent from a listing. A merge updates the candidate
it went into, which then shows the duplicate's addresses: a refresh that finds an address also
held by a candidate it did not list asks Harvest for those ids (`ids=`, one request per 50) and
drops the ones that are gone. A deleted candidate stays until the next full crawl
(GREENHOUSE_DIRECTORY_RECRAWL_SECONDS), a POST's 404 (`directory_candidate_forget`), or an
answer of several candidates, which is checked the same way before it is given.
"""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .harvest.client import MAX_PER_PAGE, HarvestClient
from .harvest.errors import HarvestError, HarvestRateLimited, HarvestValidationError
from .models import (
    CandidateDirectory,
    DirectoryEntry,
    DirectoryFetch,
    GreenhouseIntegration,
)

logger = logging.getLogger(__name__)

KEY_SALT = "apps.greenhouse.directory.address"
CANDIDATES = "/v3/candidates"
# A pass's lease: longer than a page takes, renewed after each page.
LEASE = timedelta(seconds=90)
# A queued pass task not started within this is taken for lost, and queued again.
QUEUED_LEASE = timedelta(seconds=300)
# Pages a record's inline refresh may take; more (a long quiet time) go to the task.
INLINE_PAGES = 3
# One run of the pass task takes no new page after this (then queues itself again).
TASK_SECONDS = 60.0
# The request log of a team's passes is kept this long (a refresh a minute is 1,440 rows a day).
FETCH_LOG_KEPT = timedelta(days=7)
# How long a record waits for a pass another worker is running before it looks again.
BUSY_RETRY = 1.0
Pass = CandidateDirectory.Pass


class DirectoryNotReady(HarvestRateLimited):
    """The directory cannot answer yet (its first crawl, or a refresh elsewhere, is running):
    nothing was sent, and the record is deferred like one waiting for a rate slot."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message, retry_after=retry_after, status=None)
        self.waiting_for = message[:1].lower() + message[1:]


@dataclass
class PassResult:
    done: bool = False  # the pass has finished (the directory is as fresh as its start)
    changed: bool = False  # an entry was added or removed
    pages: int = 0


def directory_enabled() -> bool:
    return bool(settings.GREENHOUSE_DIRECTORY_ENABLED)


def address_digest(address: str) -> str:
    """The keyed hash of a normalised address: all the directory ever stores of it."""
    return salted_hmac(KEY_SALT, address.strip().lower(), algorithm="sha256").hexdigest()


def _key_id(integration: GreenhouseIntegration) -> str:
    check = salted_hmac(KEY_SALT, "\n".join(["key-check", integration.host, integration.client_id]))
    return check.hexdigest()[:32]


def _directory_for(integration: GreenhouseIntegration) -> CandidateDirectory:
    """The team's directory row, emptied when its hashes are for another key or account."""
    key_id = _key_id(integration)
    directory, created = CandidateDirectory.objects.get_or_create(
        team_id=integration.team_id, defaults={"key_id": key_id}
    )
    if not created and directory.key_id != key_id:
        with transaction.atomic():
            DirectoryEntry.objects.filter(team_id=integration.team_id).delete()
            CandidateDirectory.objects.filter(pk=directory.pk).update(
                key_id=key_id, complete=False, refreshed_at=None, crawled_at=None,
                pass_kind=Pass.IDLE, next_url="", pages=0, failures=0, last_error="",
                retry_at=None,
            )  # fmt: skip
        directory.refresh_from_db()
        logger.info("Candidate directory of team %s emptied: new key or account", directory.pk)
    return directory


def _fresh(directory: CandidateDirectory, now: datetime) -> bool:
    seconds = settings.GREENHOUSE_DIRECTORY_FRESH_SECONDS
    return (
        directory.complete
        and directory.refreshed_at is not None
        and now - directory.refreshed_at < timedelta(seconds=seconds)
    )


# --- Lease and queueing ------------------------------------------------------------------------


def _lease_take(team_id: int, now: datetime) -> str | None:
    token = secrets.token_hex(8)
    taken = CandidateDirectory.objects.filter(
        Q(lease_until=None) | Q(lease_until__lt=now), pk=team_id
    ).update(lease_token=token, lease_until=now + LEASE)
    return token if taken else None


def _lease_renew(team_id: int, token: str) -> bool:
    return bool(
        CandidateDirectory.objects.filter(pk=team_id, lease_token=token).update(
            lease_until=timezone.now() + LEASE
        )
    )


def _lease_release(team_id: int, token: str) -> None:
    CandidateDirectory.objects.filter(pk=team_id, lease_token=token).update(
        lease_token="", lease_until=None
    )


def directory_pass_queue(*, team_id: int, countdown: float = 0.0) -> bool:
    """Queue the team's pass task (on commit), unless one is on its way already."""
    from .tasks import candidate_directory_pass_task

    now = timezone.now()
    queued = CandidateDirectory.objects.filter(
        Q(queued_at=None) | Q(queued_at__lt=now - QUEUED_LEASE), pk=team_id
    ).update(queued_at=now)
    if queued:
        transaction.on_commit(
            lambda: candidate_directory_pass_task.apply_async(
                (team_id,), countdown=max(0.0, countdown)
            )
        )
    return bool(queued)


# --- A pass, page by page ----------------------------------------------------------------------


def _pass_begin(directory: CandidateDirectory, now: datetime, *, begin: str) -> bool:
    """Go on with the running pass, or begin one of kind `begin`. A crawl (the task's, or a
    record's first pages while the directory is not complete) begins only when one is due
    (not complete, or GREENHOUSE_DIRECTORY_RECRAWL_SECONDS since the last) and goes on with any
    pass; a refresh (a record that finds the directory stale, `directory_refresh_if_stale`)
    begins only on a complete directory and never goes on with a crawl. False: nothing for
    this caller to run."""
    if directory.pass_kind != Pass.IDLE:
        return begin == Pass.CRAWL or directory.pass_kind == Pass.REFRESH
    recrawl = timedelta(seconds=settings.GREENHOUSE_DIRECTORY_RECRAWL_SECONDS)
    crawl_due = not directory.complete or (
        directory.crawled_at is not None and now - directory.crawled_at >= recrawl
    )
    if begin == Pass.REFRESH and not directory.complete:
        return False
    if begin == Pass.CRAWL and not crawl_due:
        return False
    crawl = begin == Pass.CRAWL
    margin = timedelta(seconds=settings.GREENHOUSE_DIRECTORY_SAFETY_MARGIN)
    directory.pass_kind = Pass.CRAWL if crawl else Pass.REFRESH
    directory.pass_started_at = now
    directory.pass_since = None if crawl else (directory.refreshed_at or now) - margin
    directory.next_url = ""
    directory.pages = 0
    directory.failures = 0
    if crawl:
        directory.generation += 1
    directory.save(
        update_fields=[
            "pass_kind", "pass_started_at", "pass_since", "next_url", "pages", "failures",
            "generation",
        ]
    )  # fmt: skip
    return True


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fetch_start(directory: CandidateDirectory, kind: str) -> DirectoryFetch:
    """The log row of one request, committed before it is sent."""
    return DirectoryFetch.objects.create(team_id=directory.pk, kind=kind, page=directory.pages + 1)


def _fetch_finish(fetch: DirectoryFetch, outcome: str, **values) -> None:
    DirectoryFetch.objects.filter(pk=fetch.pk).update(
        outcome=outcome, finished_at=timezone.now(), **values
    )


def _fetched(fetch: DirectoryFetch, call: Callable[[], object]):
    """Make one request under its log row: its outcome, whatever happens."""
    try:
        result = call()
    except HarvestRateLimited as exc:
        if exc.status is None:
            _fetch_finish(fetch, DirectoryFetch.Outcome.NO_SLOT, error=exc.message[:2000])
        else:
            _fetch_finish(fetch, DirectoryFetch.Outcome.ERROR, http_status=exc.status,
                          error=exc.message[:2000])  # fmt: skip
        raise
    except HarvestError as exc:
        _fetch_finish(fetch, DirectoryFetch.Outcome.ERROR, http_status=exc.status,
                      error=exc.message[:2000])  # fmt: skip
        raise
    return result


def _digests(candidate: dict) -> set[str]:
    return {
        address_digest(value)
        for address in candidate.get("email_addresses") or []
        if isinstance(address, dict) and (value := str(address.get("value") or "").strip())
    }


def _apply(directory: CandidateDirectory, candidates: list[dict]) -> tuple[bool, set[str]]:
    """Each listed candidate's entries become its current addresses. Returns (changed, the
    digests of the page)."""
    by_id = {int(c["id"]): _digests(c) for c in candidates if str(c.get("id", "")).isdigit()}
    team_id = directory.pk
    new = {(cid, digest) for cid, digests in by_id.items() for digest in digests}
    with transaction.atomic():
        old = set(
            DirectoryEntry.objects.filter(
                team_id=team_id, candidate_id__in=list(by_id)
            ).values_list("candidate_id", "digest")
        )
        for cid, digest in old - new:
            DirectoryEntry.objects.filter(team_id=team_id, candidate_id=cid, digest=digest).delete()
        DirectoryEntry.objects.bulk_create(
            [
                DirectoryEntry(
                    team_id=team_id,
                    digest=digest,
                    candidate_id=cid,
                    generation=directory.generation,
                )
                for cid, digest in new - old
            ],
            ignore_conflicts=True,
        )
        DirectoryEntry.objects.filter(team_id=team_id, candidate_id__in=list(by_id)).exclude(
            generation=directory.generation
        ).update(generation=directory.generation)
    return old != new, {digest for _, digest in new}


def _drop_gone(directory: CandidateDirectory, client: HarvestClient, ids: set[int]) -> set[int]:
    """Ask Harvest which of `ids` still exist (one request per 50); forget the others. Returns
    the ids that are gone."""
    if not ids:
        return set()
    fetch = _fetch_start(directory, "verify")
    found = _fetched(fetch, lambda: client.candidates_by_ids(sorted(ids)))
    alive = {int(c["id"]) for c in found}
    _fetch_finish(fetch, DirectoryFetch.Outcome.OK, http_status=200, candidates=len(alive))
    gone = ids - alive
    if gone:
        DirectoryEntry.objects.filter(team_id=directory.pk, candidate_id__in=gone).delete()
        logger.info("Candidate directory of team %s: %s gone", directory.pk, sorted(gone))
    return gone


def _step(directory: CandidateDirectory, client: HarvestClient) -> tuple[bool, bool]:
    """One page of the running pass: fetched, applied, its cursor saved. (done, changed)."""
    refresh = directory.pass_kind == Pass.REFRESH
    params: dict[str, object] = {"per_page": MAX_PER_PAGE}
    if refresh and directory.pass_since is not None:
        # Harvest v3's documented date filter spelling (reference §4.2): `updated_at=gte|<ISO>`.
        params["updated_at"] = f"gte|{_iso(directory.pass_since)}"
    next_url = directory.next_url or None
    fetch = _fetch_start(directory, directory.pass_kind)
    candidates, following = _fetched(
        fetch, lambda: client.list_page(CANDIDATES, params=params, next_url=next_url)
    )
    _fetch_finish(fetch, DirectoryFetch.Outcome.OK, http_status=200, candidates=len(candidates))
    changed, digests = _apply(directory, candidates)
    if refresh and digests:
        listed = {int(c["id"]) for c in candidates if str(c.get("id", "")).isdigit()}
        others = set(
            DirectoryEntry.objects.filter(team_id=directory.pk, digest__in=list(digests))
            .exclude(candidate_id__in=list(listed))
            .values_list("candidate_id", flat=True)
        )
        # An address now also on a listed candidate: a merge, or a true duplicate.
        changed = bool(_drop_gone(directory, client, others)) or changed
    directory.pages += 1
    directory.next_url = following or ""
    done = following is None
    values: dict[str, object] = {"pages": directory.pages, "next_url": directory.next_url}
    if done:
        with transaction.atomic():
            if directory.pass_kind == Pass.CRAWL:
                stale = DirectoryEntry.objects.filter(
                    team_id=directory.pk, generation__lt=directory.generation
                )
                changed = bool(stale.delete()[0]) or changed
                values.update(complete=True, crawled_at=directory.pass_started_at)
            values.update(
                refreshed_at=directory.pass_started_at, pass_kind=Pass.IDLE, failures=0,
                last_error="", retry_at=None,
            )  # fmt: skip
            CandidateDirectory.objects.filter(pk=directory.pk).update(**values)
            DirectoryFetch.objects.filter(
                team_id=directory.pk, started_at__lt=timezone.now() - FETCH_LOG_KEPT
            ).delete()
    else:
        CandidateDirectory.objects.filter(pk=directory.pk).update(**values)
    return done, changed


def directory_advance(
    *,
    integration: GreenhouseIntegration,
    client: HarvestClient,
    max_pages: int,
    seconds: float = TASK_SECONDS,
    begin: str = Pass.CRAWL,
    before_request: Callable[[], None] | None = None,
) -> PassResult | None:
    """Run the team's pass (beginning one of kind `begin` if none runs, see `_pass_begin`) for
    up to `max_pages` pages or `seconds`. None: another worker holds the pass, or there is
    nothing for this caller to run.
    Raises HarvestRateLimited (no status: no slot; the pass goes on at the slot, with no
    failure counted) and HarvestError (a failure counted; after MAX_FAILURES the pass gives up
    and starts again later). `before_request`: called once, before the first request."""
    now = timezone.now()
    directory = _directory_for(integration)
    token = _lease_take(directory.pk, now)
    if token is None:
        return None
    result = PassResult()
    started = timezone.now()
    try:
        directory.refresh_from_db()
        if not _pass_begin(directory, now, begin=begin):
            return None
        if before_request is not None:
            before_request()
        while result.pages < max_pages:
            if (timezone.now() - started).total_seconds() > seconds:
                break
            try:
                done, changed = _step(directory, client)
            except HarvestRateLimited as exc:
                if exc.status is None:
                    raise  # no slot: nothing was sent
                _failed(directory, exc)
                raise
            except HarvestError as exc:
                _failed(directory, exc)
                raise
            result.pages += 1
            result.changed = result.changed or changed
            if done:
                result.done = True
                break
            _lease_renew(directory.pk, token)
    finally:
        _lease_release(directory.pk, token)
    return result


def _failed(directory: CandidateDirectory, exc: HarvestError) -> None:
    """Count a failed page; a saved cursor Harvest refuses (expired) starts the pass again."""
    failures = directory.failures + 1
    values: dict[str, object] = {"failures": failures, "last_error": exc.message[:2000]}
    if isinstance(exc, HarvestValidationError) and directory.next_url:
        values.update(next_url="", pages=0)
    if failures >= settings.GREENHOUSE_DIRECTORY_MAX_FAILURES:
        # Given up: records are searched by address meanwhile; the sweep starts again later.
        values.update(
            pass_kind=Pass.IDLE, next_url="", pages=0,
            retry_at=timezone.now() + timedelta(seconds=settings.GREENHOUSE_RECHECK_MAX_DELAY),
        )  # fmt: skip
        logger.warning(
            "Candidate directory of team %s gave up after %s failures: %s",
            directory.pk, failures, exc.message,
        )  # fmt: skip
    CandidateDirectory.objects.filter(pk=directory.pk).update(**values)
    directory.failures = failures


# --- What the sync asks ------------------------------------------------------------------------


def _given_up(directory: CandidateDirectory, now: datetime) -> bool:
    return directory.retry_at is not None and now < directory.retry_at


def _waits(directory: CandidateDirectory, now: datetime) -> bool:
    """Whether a record should wait for the pass running now rather than search by address."""
    wait = settings.GREENHOUSE_DIRECTORY_CRAWL_WAIT
    started = directory.pass_started_at or now
    return wait > 0 and not _given_up(directory, now) and now - started < timedelta(seconds=wait)


def directory_candidates(
    *,
    integration: GreenhouseIntegration,
    client: HarvestClient,
    emails: list[str],
    before_request: Callable[[], None],
) -> list[int] | None:
    """The ids of the team's candidates with any of `emails`, from the directory; None when it
    cannot answer (off, not crawled, given up: search by address). A stale directory is
    refreshed first (one request, usually, for the whole team); `before_request` is called
    once before the first request (the record's log row). Raises DirectoryNotReady while a
    crawl or another worker's refresh runs, HarvestRateLimited when no slot is free."""
    if not directory_enabled():
        return None
    now = timezone.now()
    directory = _directory_for(integration)
    if not directory.complete:
        if _given_up(directory, now):
            return None
        # The crawl's first pages here (an account of up to 1,500 candidates is crawled at
        # once, with no wait behind the queue); the rest is the task's.
        directory_advance(
            integration=integration, client=client, max_pages=INLINE_PAGES, begin=Pass.CRAWL,
            before_request=before_request,
        )  # fmt: skip
        directory.refresh_from_db()
        if directory.complete:
            return _ids(directory, client, emails, before_request)
        directory_pass_queue(team_id=directory.pk)
        if directory.pass_started_at is None:
            directory.pass_started_at = now  # queued just now: wait for it from now
            CandidateDirectory.objects.filter(pk=directory.pk, pass_started_at=None).update(
                pass_started_at=now
            )
        if _waits(directory, now):
            raise DirectoryNotReady(
                "Waiting for the team's candidate directory (its first crawl is running).",
                retry_after=BUSY_RETRY,
            )
        return None
    if not _fresh(directory, now):
        if _given_up(directory, now):
            return None
        result = directory_advance(
            integration=integration, client=client, max_pages=INLINE_PAGES, begin=Pass.REFRESH,
            before_request=before_request,
        )  # fmt: skip
        if result is not None and not result.done:
            directory_pass_queue(team_id=directory.pk)  # the rest of a long refresh
            raise DirectoryNotReady(
                "Waiting for the team's candidate directory (a long refresh).", retry_after=2.0
            )
        if result is None:
            # Another worker's pass (or a re-crawl) is running: wait for it, a while.
            directory.refresh_from_db()
            if not _fresh(directory, timezone.now()):
                if not _waits(directory, now):
                    return None
                raise DirectoryNotReady(
                    "Waiting for the team's candidate directory (being refreshed).",
                    retry_after=BUSY_RETRY,
                )
    return _ids(directory, client, emails, before_request)


def _ids(
    directory: CandidateDirectory,
    client: HarvestClient,
    emails: list[str],
    before_request: Callable[[], None],
) -> list[int]:
    digests = [address_digest(e) for e in emails if e.strip()]
    ids = sorted(
        set(
            DirectoryEntry.objects.filter(team_id=directory.pk, digest__in=digests).values_list(
                "candidate_id", flat=True
            )
        )
    )
    if len(ids) > 1:
        before_request()
        gone = _drop_gone(directory, client, set(ids))
        ids = [i for i in ids if i not in gone]
    return ids


def directory_candidate_forget(*, team_id: int, candidate_id: int) -> int:
    """Greenhouse answered 404 for this candidate (merged away or deleted): forget it."""
    return DirectoryEntry.objects.filter(team_id=team_id, candidate_id=candidate_id).delete()[0]


def directory_refresh_if_stale(*, team_id: int) -> bool:
    """One refresh of the team's directory if it is complete and not fresh; whether anything
    changed (a new candidate, an address added or removed, one gone). Cheap to call often
    (issue 15's re-lookups of prospects not in Greenhouse yet): a fresh directory costs no
    request, a stale one usually one. False when the directory is off, not complete (its
    crawl is queued) or another worker is refreshing it. Raises HarvestRateLimited (no status)
    when the rate budget has no slot now, and HarvestError when Greenhouse fails."""
    from .connection import harvest_client_build

    if not directory_enabled():
        return False
    integration = GreenhouseIntegration.objects.filter(team_id=team_id).first()
    if integration is None:
        return False
    directory = _directory_for(integration)
    now = timezone.now()
    if not directory.complete:
        if not _given_up(directory, now):
            directory_pass_queue(team_id=team_id)
        return False
    if _fresh(directory, now):
        return False
    client = harvest_client_build(integration=integration, max_rate_wait=0)
    result = directory_advance(
        integration=integration, client=client, max_pages=INLINE_PAGES, begin=Pass.REFRESH
    )
    if result is None:
        return False
    if not result.done:
        directory_pass_queue(team_id=team_id)
    return result.changed


def directory_pass_run(*, team_id: int) -> str:
    """The pass task's work: run the team's pass for a while, then queue it again if it has
    more to do (at the rate slot, after a failure's delay, or at once). Returns what happened."""
    from .connection import harvest_client_build

    CandidateDirectory.objects.filter(pk=team_id).update(queued_at=None)
    if not directory_enabled():
        return "off"
    integration = GreenhouseIntegration.objects.filter(team_id=team_id).first()
    if integration is None:
        return "no connection"
    try:
        client = harvest_client_build(integration=integration, max_rate_wait=0)
        result = directory_advance(integration=integration, client=client, max_pages=10_000)
    except HarvestRateLimited as exc:
        if exc.status is None:
            directory_pass_queue(team_id=team_id, countdown=exc.retry_after)
            return "waiting for a rate slot"
        return _after_failure(team_id)
    except HarvestError:
        return _after_failure(team_id)
    except Exception:
        logger.exception("Candidate directory pass of team %s failed", team_id)
        raise
    if result is None:
        return "nothing to do"  # another worker holds the pass, or none is needed
    if not result.done:
        directory_pass_queue(team_id=team_id)
        return "continues"
    return "done"


def _after_failure(team_id: int) -> str:
    directory = CandidateDirectory.objects.get(pk=team_id)
    if directory.pass_kind == Pass.IDLE:
        return "gave up"
    delay = min(
        settings.GREENHOUSE_RECHECK_MAX_DELAY,
        settings.GREENHOUSE_RECHECK_MIN_DELAY * 2 ** max(0, directory.failures - 1),
    )
    directory_pass_queue(team_id=team_id, countdown=delay)
    return "retry"


def directories_sweep(*, now: datetime | None = None) -> int:
    """Queue the pass of every synced team whose directory needs one and has none on its way:
    a pass a crash left unfinished (its lease ran out), a crawl that is due again, one that gave
    up and may try again. Idempotent. Returns the number queued."""
    if not directory_enabled():
        return 0
    now = now or timezone.now()
    recrawl = now - timedelta(seconds=settings.GREENHOUSE_DIRECTORY_RECRAWL_SECONDS)
    synced = GreenhouseIntegration.objects.filter(
        sync_enabled_by_support=True, sync_on=True
    ).values("team_id")
    due = (
        CandidateDirectory.objects.filter(pk__in=synced)
        .filter(Q(lease_until=None) | Q(lease_until__lt=now))
        .filter(Q(retry_at=None) | Q(retry_at__lte=now))
        .filter(~Q(pass_kind=Pass.IDLE) | Q(complete=False) | Q(crawled_at__lt=recrawl))
        .values_list("pk", flat=True)
    )
    return sum(directory_pass_queue(team_id=team_id) for team_id in due)
