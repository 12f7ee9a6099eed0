"""What a team admin's switch will do, said before it is saved (issue 16, item 6).

A note in Greenhouse cannot be edited or deleted, so turning the sync off or changing the notes'
visibility shows its effect first, and the settings page saves only once it is confirmed. These
are reads only: each preview counts with the very query the save runs (`waiting_to_skip` is
switches.py's own filter for what turning the sync off skips), so what the preview says is
what the save does, and the tests check it by saving and counting.
"""

from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils.translation import ngettext

from apps.messaging.models import Channel

from .facts import WAITING
from .models import GreenhouseIntegration, NoteVisibility, SwitchEvent, SyncRecord


def waiting_to_skip(*, team_id: int):
    """The records turning the sync off skips. Those whose note may already exist (a POST
    started, no note id stored) stay pending: the writer reads them back first."""
    return SyncRecord.objects.filter(team_id=team_id, status__in=WAITING).exclude(
        post_started_at__isnull=False, note_id__isnull=True
    )


def _channels(queryset) -> dict[str, int]:
    rows = queryset.order_by().values("channel").annotate(n=Count("pk"))
    return {row["channel"]: row["n"] for row in rows}


def _messages(n: int) -> str:
    return ngettext("%(n)d waiting message", "%(n)d waiting messages", n) % {"n": n}


def _by_channel(counts: dict[str, int]) -> str:
    parts = []
    if emails := counts.get(Channel.EMAIL, 0):
        parts.append(ngettext("%(n)d email", "%(n)d emails", emails) % {"n": emails})
    if sms := counts.get(Channel.SMS, 0):
        parts.append(f"{sms} SMS")
    return ", ".join(parts)


@dataclass(frozen=True)
class SyncOffPreview:
    skipped: int
    skipped_by_channel: dict[str, int]
    read_back_first: int
    in_progress: int

    @property
    def lines(self) -> list[str]:
        if self.skipped:
            first = (
                f"{_messages(self.skipped)} will not be written: "
                f"{_by_channel(self.skipped_by_channel)}."
            )
        else:
            first = "No message is waiting: nothing is skipped."
        lines = [first]
        if self.read_back_first:
            lines.append(
                ngettext(
                    "%(n)d message was already sent to Greenhouse once without an answer: it is "
                    "looked for there first, and not sent again.",
                    "%(n)d messages were already sent to Greenhouse once without an answer: they "
                    "are looked for there first, and not sent again.",
                    self.read_back_first,
                )
                % {"n": self.read_back_first}
            )
        if self.in_progress:
            lines.append(
                ngettext(
                    "%(n)d message being written right now is stopped before it is sent, "
                    "unless it is already on its way.",
                    "%(n)d messages being written right now are stopped before they are sent, "
                    "unless they are already on their way.",
                    self.in_progress,
                )
                % {"n": self.in_progress}
            )
        lines.append(
            "Notes already written stay in Greenhouse. Messages sent while the sync is off are "
            "never written, even after it is turned on again."
        )
        return lines


def sync_off_preview(*, team_id: int) -> SyncOffPreview:
    """What turning the team's sync off skips (switches.team_sync_turn_off), counted now."""
    skipped = waiting_to_skip(team_id=team_id)
    by_channel = _channels(skipped)
    records = SyncRecord.objects.filter(team_id=team_id)
    return SyncOffPreview(
        skipped=sum(by_channel.values()),
        skipped_by_channel=by_channel,
        read_back_first=records.filter(
            status__in=WAITING, post_started_at__isnull=False, note_id__isnull=True
        ).count(),
        in_progress=records.filter(status=SyncRecord.Status.IN_PROGRESS).count(),
    )


_SHORT = {
    NoteVisibility.PUBLIC: "public",
    NoteVisibility.PRIVATE: "private",
    NoteVisibility.ADMIN_ONLY: "admin only",
}


@dataclass(frozen=True)
class VisibilityPreview:
    old: str
    new: str
    waiting: int
    written_since_change: int
    written_before: int

    @property
    def lines(self) -> list[str]:
        new, old = _SHORT[NoteVisibility(self.new)], _SHORT[NoteVisibility(self.old)]
        first = f"New notes will be {new}"
        written = self.written_since_change
        if written:
            first += "; " + (
                ngettext(
                    "%(n)d note already written stays %(old)s",
                    "%(n)d notes already written stay %(old)s",
                    written,
                )
                % {"n": written, "old": old}
            )
            first += " (Greenhouse cannot edit them)."
        else:
            first += "; no note was written as " + old + " yet."
        lines = [first]
        if self.written_before:
            lines.append(
                ngettext(
                    "%(n)d older note keeps the visibility it was written with.",
                    "%(n)d older notes keep the visibility they were written with.",
                    self.written_before,
                )
                % {"n": self.written_before}
            )
        if self.waiting:
            lines.append(
                ngettext(
                    "%(n)d waiting message will be written %(new)s too: the visibility is read "
                    "when each note is written.",
                    "%(n)d waiting messages will be written %(new)s too: the visibility is read "
                    "when each note is written.",
                    self.waiting,
                )
                % {"n": self.waiting, "new": new}
            )
        return lines


def visibility_preview(*, integration: GreenhouseIntegration, visibility: str) -> VisibilityPreview:
    """What changing the team's note visibility does: notes already written keep theirs (no
    Harvest endpoint edits a note); waiting messages get the new one, read at write time.
    Notes written since the last visibility change were written with the current one."""
    records = SyncRecord.objects.filter(team_id=integration.team_id)
    written = records.filter(status=SyncRecord.Status.WRITTEN)
    last_change = (
        SwitchEvent.objects.filter(integration=integration, change=SwitchEvent.Change.VISIBILITY)
        .order_by("-at", "-id")
        .values_list("at", flat=True)
        .first()
    )
    since = written if last_change is None else written.filter(written_at__gte=last_change)
    # A note stores the visibility it was written with (visibility.py); a thread's own, stricter
    # choice is not the team's, so it does not count as "written with the current one".
    since = since.filter(Q(visibility="") | Q(visibility=integration.note_visibility))
    total = written.count()
    written_since = since.count()
    return VisibilityPreview(
        old=integration.note_visibility,
        new=visibility,
        waiting=records.filter(status__in=WAITING).count(),
        written_since_change=written_since,
        written_before=total - written_since,
    )
