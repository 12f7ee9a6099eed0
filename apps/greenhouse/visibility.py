"""A note's visibility: the team's default, or a thread's own one when it is stricter.

Why one module: Harvest has no edit or delete for a note, so the visibility a note is written
with is final. The careful writer (writer.py) and the batch fast path (fastpath.py) both ask
`note_visibility_for`, so they cannot disagree; a thread's setting can only make its notes
stricter than the team's default, never less strict, and when the team's default later becomes
stricter than a thread's, the team's wins.

Strictness, from Greenhouse's help: a public note is visible to the hiring team, interviewers
included; an admin-only note ("no flag") to Job Admins and above; a private note only to users
with the "can see private notes" permission. So public < admin_only < private.

A change commits under the team's switch gate (gate.py), like the switches: a POST already on the
wire is answered first, and every POST after it is sent with the new visibility (both paths read
it again under the gate, right before sending). Records written before keep theirs.
"""

from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.messaging.models import Thread

from .gate import switch_change
from .models import NoteVisibility, ThreadNoteVisibility, ThreadVisibilityEvent

STRICTNESS = {
    NoteVisibility.PUBLIC.value: 0,
    NoteVisibility.ADMIN_ONLY.value: 1,
    NoteVisibility.PRIVATE.value: 2,
}


class VisibilityChanged(Exception):
    """Raised under the switch gate when a thread's or the team's visibility changed after the
    POST's visibility was chosen: nothing was sent, the caller posts again with the new one."""


def _level(visibility: str | None) -> int:
    return STRICTNESS.get(visibility or NoteVisibility.PUBLIC, 0)


def note_visibility_for(*, team_default: str | None, thread_override: str | None = None) -> str:
    """The visibility a note is written with: the stricter of the team's default (public when
    unset) and the thread's own (None: the team's)."""
    team = team_default or NoteVisibility.PUBLIC.value
    if thread_override and _level(thread_override) > _level(team):
        return thread_override
    return team


def stricter_choices(team_default: str | None) -> list[tuple[str, str]]:
    """The visibilities a thread may choose: only those stricter than the team's default."""
    level = _level(team_default)
    labels = dict(NoteVisibility.choices)
    return [
        (value, labels[value]) for value in sorted(STRICTNESS, key=_level) if _level(value) > level
    ]


def may_change_visibility(membership, thread: Thread) -> bool:
    """The thread's owner and the team's admins may choose its notes' visibility."""
    return membership is not None and (membership.is_admin or thread.owner_id == membership.user_id)


def thread_overrides(*, thread_ids) -> dict[int, str]:
    """Each thread's own visibility (threads without one are left out), in one query."""
    return dict(
        ThreadNoteVisibility.objects.filter(thread_id__in=list(thread_ids)).values_list(
            "thread_id", "visibility"
        )
    )


def thread_note_visibility(*, thread_id: int, team_default: str | None) -> str:
    """The visibility a note of this thread gets now (read fresh)."""
    override = thread_overrides(thread_ids=[thread_id]).get(thread_id)
    return note_visibility_for(team_default=team_default, thread_override=override)


def thread_visibility_set(*, thread: Thread, visibility: str, by) -> ThreadNoteVisibility | None:
    """Set (or, with "", clear) a thread's own visibility for its later notes. It must be
    stricter than the team's default; the records not written yet take it."""
    with switch_change(team_id=thread.team_id) as integration:
        team_default = integration.note_visibility if integration else NoteVisibility.PUBLIC
        current = ThreadNoteVisibility.objects.filter(thread=thread).first()
        previous = current.visibility if current else ""
        if visibility:
            if visibility not in STRICTNESS:
                raise ValidationError(
                    {"visibility": f"Choose one of: {', '.join(NoteVisibility.values)}."}
                )
            if _level(visibility) <= _level(team_default):
                label = NoteVisibility(team_default).label
                raise ValidationError(
                    {
                        "visibility": f"A thread can only be stricter than the team's default "
                        f"({label}); ask a team admin to change the team's visibility instead."
                    }
                )
        if visibility == previous:
            return current
        if visibility:
            current, _ = ThreadNoteVisibility.objects.update_or_create(
                thread=thread,
                defaults={
                    "team_id": thread.team_id,
                    "visibility": visibility,
                    "set_by": by,
                    "set_at": timezone.now(),
                },
            )
        else:
            ThreadNoteVisibility.objects.filter(thread=thread).delete()
            current = None
        name = (by.get_full_name() or by.get_username()) if by is not None else ""
        ThreadVisibilityEvent.objects.create(
            team_id=thread.team_id,
            thread=thread,
            previous=previous,
            visibility=visibility,
            by=by,
            by_name=name[:200],
        )
        return current
