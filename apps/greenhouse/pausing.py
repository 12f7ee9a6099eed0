"""Pausing the sync for one candidate (prospect), from the bot email's link or from the app.

The link carries a signed, timestamped token (its own salt) with the prospect, the pause state's
`resume_version` and the recruiter it was sent to. A GET only shows a confirmation (mail
scanners open links); the POST pauses. A resume bumps `resume_version`, so links sent before
it no longer pause.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.sequences.models import Prospect

from .gate import switch_change
from .models import PauseVia, ProspectSyncPause, SyncPauseEvent, SyncRecord
from .policy import Reason

PAUSE_SALT = "greenhouse.pause-sync"
MAX_ID = 2**63 - 1  # what a database id column holds


class PauseLinkInvalid(Exception):
    """Tampered with, cut short or expired: the message says which, in plain words."""


class PauseLinkOutdated(Exception):
    """Valid, but sync was resumed after the link was sent: it no longer pauses."""


@dataclass(frozen=True)
class PauseLink:
    prospect_id: int
    version: int
    recipient_id: int | None


def pause_token_make(*, prospect_id: int, version: int, recipient_id: int | None) -> str:
    return signing.dumps({"p": prospect_id, "v": version, "u": recipient_id}, salt=PAUSE_SALT)


def pause_token_read(token: str) -> PauseLink:
    max_age = timedelta(days=settings.GREENHOUSE_PAUSE_LINK_MAX_AGE_DAYS)
    try:
        data = signing.loads(token, salt=PAUSE_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise PauseLinkInvalid(
            "This pause link has expired. Pause the sync for this candidate in the app instead."
        ) from exc
    except signing.BadSignature as exc:
        raise PauseLinkInvalid(
            "This pause link is not valid. It may have been cut short when it was copied."
        ) from exc
    try:
        recipient = data.get("u")
        link = PauseLink(
            prospect_id=int(data["p"]),
            version=int(data["v"]),
            recipient_id=int(recipient) if recipient is not None else None,
        )
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
        raise PauseLinkInvalid("This pause link is not valid.") from exc
    ids = [link.prospect_id] + ([link.recipient_id] if link.recipient_id is not None else [])
    if not all(1 <= i <= MAX_ID for i in ids) or not 0 <= link.version <= MAX_ID:
        raise PauseLinkInvalid("This pause link is not valid.")
    return link


def pause_url(*, prospect: Prospect, recipient) -> str:
    """The absolute pause link for a bot email sent to `recipient`."""
    version = (
        ProspectSyncPause.objects.filter(prospect=prospect)
        .values_list("resume_version", flat=True)
        .first()
        or 0
    )
    token = pause_token_make(
        prospect_id=prospect.pk, version=version, recipient_id=getattr(recipient, "pk", None)
    )
    return settings.PUBLIC_BASE_URL + reverse("greenhouse:pause-link", args=[token])


def _state_for_update(prospect: Prospect) -> ProspectSyncPause:
    state, _ = ProspectSyncPause.objects.select_for_update().get_or_create(
        prospect=prospect, defaults={"team_id": prospect.team_id}
    )
    return state


def prospect_sync_pause(
    *,
    prospect: Prospect,
    via: str,
    by=None,
    link: PauseLink | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
) -> tuple[ProspectSyncPause, bool]:
    """Pause sync for one prospect, email and SMS. Idempotent: (state, whether it changed).
    With a `link`, raises PauseLinkOutdated when sync was resumed after the link was sent.
    Commits after the team's POSTs on the wire are answered; no later POST misses it (gate.py)."""
    with switch_change(team_id=prospect.team_id):
        return _pause(prospect, via=via, by=by, link=link, ip_address=ip_address, ua=user_agent)


def _pause(prospect, *, via, by, link, ip_address, ua) -> tuple[ProspectSyncPause, bool]:
    state = _state_for_update(prospect)
    if link is not None and link.version != state.resume_version:
        raise PauseLinkOutdated
    if state.paused:
        return state, False
    now = timezone.now()
    state.paused, state.paused_at, state.paused_by, state.paused_via = True, now, by, via
    state.save()
    recipient_id = link.recipient_id if link else None
    if recipient_id is not None and not get_user_model().objects.filter(pk=recipient_id).exists():
        recipient_id = None  # the account the link was sent to was deleted since
    SyncPauseEvent.objects.create(
        team_id=prospect.team_id,
        prospect=prospect,
        action=SyncPauseEvent.Action.PAUSE,
        via=via,
        by=by,
        link_recipient_id=recipient_id,
        ip_address=ip_address,
        user_agent=(ua or "")[:300],
    )
    # What is still waiting is skipped now (the worker's re-decision would skip it too).
    SyncRecord.objects.filter(
        prospect=prospect, status__in=(SyncRecord.Status.PENDING, SyncRecord.Status.HELD)
    ).update(status=SyncRecord.Status.SKIPPED, reason=Reason.CANDIDATE_PAUSED, next_attempt_at=None)
    return state, True


@transaction.atomic
def prospect_sync_resume(
    *, prospect: Prospect, by, ip_address: str | None = None, user_agent: str = ""
) -> tuple[ProspectSyncPause, bool]:
    """Resume sync for one prospect: later messages sync again (earlier skips stay skipped), and
    pause links sent before now stop working."""
    state = _state_for_update(prospect)
    if not state.paused:
        return state, False
    state.paused = False
    state.resume_version += 1
    state.resumed_at, state.resumed_by = timezone.now(), by
    state.save()
    SyncPauseEvent.objects.create(
        team_id=prospect.team_id,
        prospect=prospect,
        action=SyncPauseEvent.Action.RESUME,
        via=PauseVia.APP,
        by=by,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:300],
    )
    return state, True
