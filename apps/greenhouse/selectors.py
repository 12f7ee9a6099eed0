from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.messaging.models import Channel, Message, Thread
from apps.sequences.models import ProspectEmail, Sequence
from apps.sequences.selectors import prospects_by_name
from apps.teams.bcc import has_greenhouse_maildrop
from apps.teams.models import Membership

from .models import (
    CandidateLink,
    GreenhouseIntegration,
    GreenhouseUserMapping,
    SwitchEvent,
    SyncPauseEvent,
    SyncRecord,
    ThreadVisibilityEvent,
)
from .policy import CandidateMatch


def greenhouse_integration_for_team(*, team_id: int) -> GreenhouseIntegration | None:
    return GreenhouseIntegration.objects.select_related("team").filter(team_id=team_id).first()


def greenhouse_integration_for_team_identifier(identifier: str) -> GreenhouseIntegration | None:
    """By team slug, or by team id when `identifier` is a number (support staff type either)."""
    queryset = GreenhouseIntegration.objects.select_related("team")
    if identifier.isdigit():
        found = queryset.filter(team_id=int(identifier)).first()
        if found:
            return found
    return queryset.filter(team__slug=identifier).first()


@dataclass(frozen=True)
class SyncState:
    """Both switches read together, as the team's pages say them: whether notes are written
    now, since when, and, when they are not, whose switch stops them."""

    on: bool
    since: datetime | None  # on since, or off since (None: never changed)
    support: str  # "enabled", "disabled" (by support, after being enabled) or "not_enabled"
    support_since: datetime | None
    stopped_by: str  # "" when on; "support" or "team" (the team admin's switch)


def sync_state(integration: GreenhouseIntegration | None) -> SyncState:
    if integration is None:
        return SyncState(False, None, "not_enabled", None, "support")
    enabled = integration.sync_enabled_by_support
    support = "enabled" if enabled else "disabled" if integration.sync_enabled_at else "not_enabled"
    if enabled and integration.sync_on:
        moments = [m for m in (integration.sync_on_since, integration.sync_enabled_at) if m]
        return SyncState(True, max(moments, default=None), support, integration.sync_enabled_at, "")
    last_off = (
        SwitchEvent.objects.filter(
            integration=integration,
            change__in=(SwitchEvent.Change.SYNC_OFF, SwitchEvent.Change.SUPPORT_DISABLED),
        )
        .values_list("at", flat=True)
        .first()
    )
    return SyncState(
        False,
        last_off,
        support,
        integration.sync_enabled_at,
        "team" if enabled else "support",
    )


def switch_history(*, integration: GreenhouseIntegration | None, limit: int = 10) -> list:
    """The team's latest switch changes, newest first (the team's sync page shows them)."""
    if integration is None:
        return []
    return list(
        SwitchEvent.objects.filter(integration=integration).select_related("by")[: max(limit, 0)]
    )


def greenhouse_connected_team_slugs() -> list[str]:
    """The slugs `greenhouse_check` accepts, sorted."""
    return list(
        GreenhouseIntegration.objects.order_by("team__slug").values_list("team__slug", flat=True)
    )


def greenhouse_user_id_for(*, integration: GreenhouseIntegration, user) -> int | None:
    """The Greenhouse user a team member's notes are attributed to (None: not mapped)."""
    return (
        GreenhouseUserMapping.objects.filter(integration=integration, user=user)
        .values_list("greenhouse_user_id", flat=True)
        .first()
    )


@dataclass(frozen=True)
class MappingGap:
    user: User
    role: str
    reason: str


def greenhouse_user_mapping_gaps(
    *, integration: GreenhouseIntegration, user_ids: Iterable[int] | None = None
) -> list[MappingGap]:
    """Team members (of `user_ids`, default all) whose notes cannot be attributed to a
    Greenhouse user, with the reason: Greenhouse shows the acting user as their notes' author."""
    mappings = {m.user_id: m for m in integration.user_mappings.all()}
    gaps = []
    memberships = (
        Membership.objects.filter(team_id=integration.team_id)
        .select_related("user")
        .order_by("user__email", "user__username")
    )
    if user_ids is not None:
        memberships = memberships.filter(user_id__in=list(user_ids))
    for membership in memberships:
        mapping = mappings.get(membership.user_id)
        if mapping is None:
            reason = "not looked up yet"
        elif mapping.greenhouse_user_id is None:
            reason = mapping.problem or "no Greenhouse user found"
        else:
            continue
        gaps.append(MappingGap(membership.user, membership.get_role_display(), reason))
    return gaps


def prospect_unmapped_recruiters(
    *, integration: GreenhouseIntegration | None, prospect
) -> list[MappingGap]:
    """The candidate's recruiters (its owner, each thread's owner) not mapped to a Greenhouse
    user: Greenhouse shows the acting user as the author of their notes on this candidate."""
    if integration is None:
        return []
    owners = Thread.objects.filter(prospect=prospect).values_list("owner_id", flat=True)
    user_ids = {prospect.owner_id, *owners} - {None}
    return greenhouse_user_mapping_gaps(integration=integration, user_ids=user_ids)


def candidate_feed_url(
    *, integration: GreenhouseIntegration | None, link: CandidateLink | None
) -> str:
    """The matched candidate's activity feed in Greenhouse (or the sandbox), else ""."""
    if integration is None or link is None or link.match != CandidateMatch.ONE:
        return ""
    return integration.candidate_url(link.candidate_id)


def sequences_bcc_maildrop(*, team_id: int) -> list[Sequence]:
    """The team's active sequences whose BCC for new enrollments is a Greenhouse Maildrop
    address (shown next to the team's choice for such emails)."""
    candidates = Sequence.objects.filter(team_id=team_id, is_active=True, bcc__icontains="maildrop")
    return [s for s in candidates.order_by("name") if has_greenhouse_maildrop(s.bcc_list)]


def sync_records_for_prospect(*, prospect):
    """A prospect's sync log, newest message first ("why was this synced or skipped?")."""
    return (
        SyncRecord.objects.filter(prospect=prospect)
        .select_related("message", "thread", "backfill")
        .order_by("-message__created_at", "-message_id")
    )


def sync_pause_events_for_prospect(*, prospect):
    return SyncPauseEvent.objects.filter(prospect=prospect).select_related("by", "link_recipient")


def thread_visibility_events(*, thread):
    """The history of a thread's own note visibility, newest first."""
    return ThreadVisibilityEvent.objects.filter(thread=thread).select_related("by")


# --- The team's sync log -----------------------------------------------------------------------

SYNC_LOG_PAGE_SIZE = 50
# Counting stops here: a count over a million-row log on every page view would be the slowest
# query of the page, and "more than 1,000" says all a person needs.
SYNC_LOG_COUNT_CAP = 1000
# A name prefix shared by more prospects than this ("a") finds the first ones only: a search
# narrows, and a longer term finds the rest.
SEARCH_PROSPECTS_AT_MOST = 100


def sync_record_search(term: str, *, team_id: int | None = None) -> Q:
    """Records matching a candidate's name (the start of the first or last name, or both), an
    email, a Message-ID, a provider (ESP or Twilio) id, a Greenhouse note id or candidate id:
    exact matches but for the name's prefix, so every part is an index lookup. The matching
    prospects and messages are fetched first (small indexed queries) and passed as literal
    lists, which lets the database combine index scans instead of scanning the log."""
    term = term.strip().strip("<>").strip()
    if not term:
        return Q()
    emails = ProspectEmail.objects.filter(email=term.lower())
    messages = Message.objects.filter(
        Q(message_id=term)
        # The unique index is (channel, provider_message_id): naming both channels uses it.
        | Q(channel__in=Channel.values, provider_message_id=term)
    )
    links = CandidateLink.objects.none()
    if team_id is not None:
        emails, messages = emails.filter(team_id=team_id), messages.filter(team_id=team_id)
    query = Q(prospect_id__in=list(emails.values_list("prospect_id", flat=True)[:100]))
    if "@" not in term:
        named = prospects_by_name(term, team_id=team_id).values_list("pk", flat=True)
        query |= Q(prospect_id__in=list(named[:SEARCH_PROSPECTS_AT_MOST]))
    query |= Q(message_id__in=list(messages.values_list("pk", flat=True)[:100]))
    if term.isdigit() and len(term) < 19:
        number = int(term)
        links = CandidateLink.objects.filter(candidate_id=number)
        if team_id is not None:
            links = links.filter(team_id=team_id)
        query |= Q(note_id=number)
        query |= Q(prospect_id__in=list(links.values_list("prospect_id", flat=True)[:100]))
    return query


@dataclass(frozen=True)
class SyncLogFilters:
    status: str = ""
    reason: str = ""
    channel: str = ""
    prospect_id: int | None = None
    q: str = ""


def sync_log(*, team_id: int, filters: SyncLogFilters) -> QuerySet[SyncRecord]:
    """A team's sync records, newest first, with what a row shows (no query per row)."""
    records = SyncRecord.objects.filter(team_id=team_id)
    if filters.status:
        records = records.filter(status=filters.status)
    if filters.reason:
        records = records.filter(reason=filters.reason)
    if filters.channel:
        records = records.filter(channel=filters.channel)
    if filters.prospect_id:
        records = records.filter(prospect_id=filters.prospect_id)
    if filters.q:
        records = records.filter(sync_record_search(filters.q, team_id=team_id))
    return (
        records.select_related("message", "prospect", "thread", "backfill")
        .defer("message__body_text", "message__body_html", "message__references")
        .order_by("-id")
    )


@dataclass(frozen=True)
class Page:
    rows: list
    next_before: int | None  # the cursor of the next (older) page; None on the last page
    count: int  # capped at SYNC_LOG_COUNT_CAP
    count_capped: bool


def sync_log_page(
    records: QuerySet[SyncRecord], *, before: int | None = None, size: int = SYNC_LOG_PAGE_SIZE
) -> Page:
    """Keyset pagination on the id: every page costs the same, however deep (no OFFSET)."""
    count = records.order_by()[: SYNC_LOG_COUNT_CAP + 1].count()
    if before:
        records = records.filter(id__lt=before)
    rows = list(records[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(
        rows=rows,
        next_before=rows[-1].pk if more else None,
        count=min(count, SYNC_LOG_COUNT_CAP),
        count_capped=count > SYNC_LOG_COUNT_CAP,
    )


# --- The backlog -------------------------------------------------------------------------------

BACKLOG_WINDOW = timedelta(minutes=15)
BACKLOG_COUNT_CAP = 100_000


@dataclass(frozen=True)
class Backlog:
    waiting: int  # pending or being written: drains by itself
    held: int  # waits for a person or for the connection
    written_recently: int  # in the last `window`
    window: timedelta
    rate_per_minute: float  # observed over `window`
    max_rate_per_minute: float  # what the Greenhouse rate limit allows at best
    eta: timedelta | None  # None: nothing waiting
    eta_basis: str  # "recent" (the observed rate) or "rate_limit" (nothing written lately)

    @property
    def capped(self) -> bool:
        return self.waiting >= BACKLOG_COUNT_CAP


def sync_max_rate_per_minute() -> float:
    """Records per minute the rate limit allows at best: each note is at least one request
    (its POST); candidate lookups and read-backs only slow it down."""
    return settings.GREENHOUSE_RATE_DEFAULT_LIMIT * 60 / settings.GREENHOUSE_RATE_DEFAULT_WINDOW


def sync_backlog(
    *, team_id: int, now: datetime | None = None, window: timedelta = BACKLOG_WINDOW
) -> Backlog:
    """What waits to be written for a team, and when it should be done: at the rate of the last
    `window` if anything was written in it, else at the best rate the rate limit allows."""
    now = now or timezone.now()
    Status = SyncRecord.Status
    team_records = SyncRecord.objects.filter(team_id=team_id).order_by()
    waiting = (
        team_records.filter(status__in=(Status.PENDING, Status.IN_PROGRESS))
        .values("pk")[:BACKLOG_COUNT_CAP]
        .count()
    )
    held = team_records.filter(status=Status.HELD).values("pk")[:BACKLOG_COUNT_CAP].count()
    written = team_records.filter(written_at__gte=now - window, written_at__lte=now).count()
    minutes = window.total_seconds() / 60
    rate = written / minutes
    max_rate = sync_max_rate_per_minute()
    eta, basis = None, "recent" if rate else "rate_limit"
    if waiting:
        eta = timedelta(minutes=waiting / (rate or max_rate))
    return Backlog(
        waiting=waiting,
        held=held,
        written_recently=written,
        window=window,
        rate_per_minute=rate,
        max_rate_per_minute=max_rate,
        eta=eta,
        eta_basis=basis,
    )


# --- Support dashboard -------------------------------------------------------------------------

DASHBOARD_BUCKETS = {
    SyncRecord.Status.WRITTEN: "written",
    SyncRecord.Status.SKIPPED: "skipped",
    SyncRecord.Status.FAILED: "failed",
}


def sync_daily_counts(*, days: int, now: datetime | None = None, team_id: int | None = None):
    """{team_id: {date: {"written": n, "skipped": n, "failed": n}}} for the last `days` days,
    in one aggregated query (served by the (created_at, team, status) index)."""
    now = now or timezone.now()
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=days - 1)
    rows = SyncRecord.objects.filter(created_at__gte=start)
    if team_id is not None:
        rows = rows.filter(team_id=team_id)
    rows = (
        rows.filter(status__in=list(DASHBOARD_BUCKETS))
        .annotate(day=TruncDate("created_at"))
        .values("team_id", "day", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, dict] = defaultdict(
        lambda: defaultdict(lambda: dict.fromkeys(DASHBOARD_BUCKETS.values(), 0))
    )
    for row in rows:
        counts[row["team_id"]][row["day"]][DASHBOARD_BUCKETS[row["status"]]] += row["n"]
    day_list = [(start + timedelta(days=i)).date() for i in range(days)]
    return day_list, counts


def sync_waiting_by_team() -> dict[int, dict[str, int]]:
    """{team_id: {"pending": n, "held": n, "failed": n}} over all teams, one grouped query."""
    Status = SyncRecord.Status
    result: dict[int, dict[str, int]] = defaultdict(lambda: {"pending": 0, "held": 0, "failed": 0})
    rows = (
        SyncRecord.objects.filter(status__in=(Status.PENDING, Status.HELD, Status.FAILED))
        .values("team_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        result[row["team_id"]][row["status"]] += row["n"]
    return result


# --- Per message (the thread and candidate pages) ----------------------------------------------


def sync_records_by_message(*, message_ids) -> dict[int, SyncRecord]:
    records = (
        SyncRecord.objects.filter(message_id__in=list(message_ids))
        .select_related("backfill")
        .only(
            "id",
            "message_id",
            "status",
            "reason",
            "reason_detail",
            "note_id",
            "candidate_id",
            "last_error",
            "backfill__created_at",
            "backfill__requested_by_name",
        )
    )
    return {record.message_id: record for record in records}
