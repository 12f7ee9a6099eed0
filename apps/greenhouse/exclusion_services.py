"""Reading a team's exclusions, previewing a change, and saving it (issue 16, items 1 and 6).

Why here and not in the view: the preview ("N waiting messages will not be written") and the
save must count the same records with the same rules, and the sync (facts.py) must read the
lists the same way the page shows them, defaults included. The rules themselves are
exclusions.py's (pure); the stored lists and their history are exclusion_list.py's.

Saving skips, in the same transaction, the waiting records (pending or held) that the new lists
exclude, each with the entry that excluded it, and appends one history row. A record a worker
is writing at that moment (in progress) is not touched: the worker decides again with the lists
it read, so a message already on its way as the admin saves may still be written.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import ngettext

from apps.messaging.models import Channel, Message
from apps.teams.models import Membership, Team

from .exclusion_list import ExclusionChange, TeamExclusions
from .exclusions import (
    ExclusionRules,
    Match,
    default_internal_domains,
    exclusion_match,
)
from .models import SyncRecord
from .policy import Exclusion, Reason

WAITING = (SyncRecord.Status.PENDING, SyncRecord.Status.HELD)
EXCLUSION_REASONS = {
    Exclusion.LISTED: Reason.EXCLUDED_ADDRESS,
    Exclusion.INTERNAL: Reason.INTERNAL_MAIL,
    Exclusion.AUTOMATED: Reason.AUTOMATED_MAIL,
}
LISTS = ("internal_domains", "listed", "automated_senders")
LIST_NAMES = {"internal_domains": "internal", "listed": "listed", "automated_senders": "automated"}


# --- Reads ---------------------------------------------------------------------------------------


def team_member_emails(*, team_id: int) -> list[str]:
    return [
        e
        for e in Membership.objects.filter(team_id=team_id).values_list("user__email", flat=True)
        if e
    ]


def team_exclusion_defaults(*, team_id: int) -> ExclusionRules:
    """What a team that never saved its lists uses: its members' domains as internal mail, the
    common automated senders, and auto-replies and bounces by their headers."""
    return ExclusionRules(
        internal_domains=tuple(default_internal_domains(team_member_emails(team_id=team_id)))
    )


def team_exclusion_rules(*, team_id: int) -> ExclusionRules:
    stored = TeamExclusions.objects.filter(team_id=team_id).first()
    return stored.rules() if stored is not None else team_exclusion_defaults(team_id=team_id)


def team_exclusions_saved(*, team_id: int) -> TeamExclusions | None:
    return TeamExclusions.objects.filter(team_id=team_id).select_related("updated_by").first()


def team_exclusion_history(*, team_id: int, limit: int = 20) -> list[ExclusionChange]:
    return list(ExclusionChange.objects.filter(team_id=team_id)[:limit])


def message_exclusion(message: Message, rules: ExclusionRules | None = None) -> Match:
    """Whether the team's exclusions (`rules`, or the team's as stored now) keep `message` out."""
    if message.channel != Channel.EMAIL:
        return Match()
    if rules is None:
        rules = team_exclusion_rules(team_id=message.team_id)
    return exclusion_match(
        rules=rules,
        channel=message.channel,
        direction=message.direction,
        from_address=message.from_address,
        to_addresses=message.to_addresses,
        cc_addresses=message.cc_addresses,
        automated_by=message.automated_by,
    )


def exclusion_detail(message: Message, reason: str) -> str:
    """The entry to store beside an exclusion reason ("" for every other reason)."""
    if reason not in EXCLUSION_REASONS.values():
        return ""
    return message_exclusion(message).entry[:200]


@dataclass
class Preview:
    """What saving `rules` would do to the team's waiting records."""

    count: int = 0
    by_entry: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (reason, entry)

    @property
    def sentence(self) -> str:
        return ngettext(
            "%(n)d waiting message will not be written.",
            "%(n)d waiting messages will not be written.",
            self.count,
        ) % {"n": self.count}

    @property
    def entries(self) -> list[tuple[str, int]]:
        """(entry, how many waiting messages it excludes), most first."""
        counts: dict[str, int] = {}
        for (_, entry), ids in self.by_entry.items():
            counts[entry] = counts.get(entry, 0) + len(ids)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def exclusions_preview(*, team_id: int, rules: ExclusionRules) -> Preview:
    """The waiting records (pending or held) of the team's email that `rules` exclude."""
    preview = Preview()
    rows = (
        SyncRecord.objects.filter(team_id=team_id, status__in=WAITING, channel=Channel.EMAIL)
        .values_list(
            "pk",
            "direction",
            "message__from_address",
            "message__to_addresses",
            "message__cc_addresses",
            "message__automated_by",
        )
        .order_by("pk")
    )
    for pk, direction, from_address, to, cc, automated_by in rows.iterator(chunk_size=2000):
        match = exclusion_match(
            rules=rules,
            channel=Channel.EMAIL,
            direction=direction,
            from_address=from_address,
            to_addresses=to,
            cc_addresses=cc,
            automated_by=automated_by,
        )
        if match.kind != Exclusion.NONE:
            key = (EXCLUSION_REASONS[match.kind], match.entry[:200])
            preview.by_entry.setdefault(key, []).append(pk)
            preview.count += 1
    return preview


def exclusions_diff(old: ExclusionRules, new: ExclusionRules) -> tuple[list[str], list[str]]:
    """(added, removed), as "list: entry"."""
    added: list[str] = []
    removed: list[str] = []
    for name in LISTS:
        before, after = getattr(old, name), getattr(new, name)
        label = LIST_NAMES[name]
        added += [f"{label}: {e}" for e in after if e not in before]
        removed += [f"{label}: {e}" for e in before if e not in after]
    if old.automated_headers != new.automated_headers:
        (added if new.automated_headers else removed).append("automated: by their headers")
    return added, removed


# --- Writes --------------------------------------------------------------------------------------


def team_exclusions_save(*, team: Team, rules: ExclusionRules, by) -> ExclusionChange | None:
    """Store `rules` as the team's lists, skip the waiting records they exclude, and append the
    change to the history. None when nothing changed (nothing is written then)."""
    with transaction.atomic():
        stored = TeamExclusions.objects.select_for_update().filter(team=team).first()
        old = stored.rules() if stored is not None else team_exclusion_defaults(team_id=team.pk)
        added, removed = exclusions_diff(old, rules)
        if stored is not None and not added and not removed:
            return None
        if stored is None:
            stored = TeamExclusions(team=team)
        stored.internal_domains = list(rules.internal_domains)
        stored.listed = list(rules.listed)
        stored.automated_senders = list(rules.automated_senders)
        stored.automated_headers = rules.automated_headers
        stored.updated_by = by
        stored.updated_at = timezone.now()
        stored.save()
        skipped = 0
        preview = exclusions_preview(team_id=team.pk, rules=rules)
        for (reason, entry), ids in preview.by_entry.items():
            skipped += SyncRecord.objects.filter(pk__in=ids, status__in=WAITING).update(
                status=SyncRecord.Status.SKIPPED,
                reason=reason,
                reason_detail=entry,
                next_attempt_at=None,
                updated_at=timezone.now(),
            )
        effect = "Saved the team's exclusions as proposed." if not (added or removed) else ""
        effect = effect or "Exclusions changed."
        if skipped:
            effect += " " + ngettext(
                "%(n)d waiting message will not be written.",
                "%(n)d waiting messages will not be written.",
                skipped,
            ) % {"n": skipped}
        return ExclusionChange.objects.create(
            team=team,
            added=added,
            removed=removed,
            effect=effect[:300],
            skipped=skipped,
            by=by,
            by_name=(by.get_full_name() or by.get_username()) if by is not None else "",
        )
