"""Alerts to team admins: the connection needs attention, notes failed, or messages have waited
for review for over a day. One email (a digest when several causes are open) and a banner on
every page for the team's admins; support sees the same open alerts on the sync dashboard.

Why this shape: a failure storm (100 records failing in a minute) must give one email that says
100, not 100 emails, and two evaluations at once (a beat tick and a slow previous tick, or two
beats during a deploy) must not both send it. So the email is never sent by the event itself:
an evaluation counts each cause, keeps one `TeamAlert` row per team and cause up to date (open
or resolved, which is what the banner shows), and claims the causes to email with a conditional
UPDATE that exactly one evaluation wins. The claims and the email's outbox row are written in
one transaction; the email is queued on commit (apps/core/outbox.py), retried and swept.

The email rule, per cause: it is named in an email when it opens, and again on a later day only
if it got worse (its count grew since the email); never twice on one day, even if it resolves
and opens again. Evaluation is the beat task `team_alerts_evaluate_task` (every
ALERTS_EVALUATE_INTERVAL seconds), so an alert appears within that time of its cause.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count, F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.core import outbox
from apps.teams.models import Membership, Team

from .alert_models import AlertCause, AlertEmail, TeamAlert
from .models import GreenhouseIntegration, SyncRecord
from .policy import Reason

logger = logging.getLogger(__name__)

# Messages held for review longer than this are an alert (issue 16: "longer than a day").
REVIEW_ALERT_AFTER = timedelta(hours=24)
CAUSE_ORDER = (AlertCause.CONNECTION, AlertCause.FAILED_RECORDS, AlertCause.REVIEW_WAITING)


def alert_link(cause: str) -> str:
    """The page that fixes a cause (a path; emails prefix settings.PUBLIC_BASE_URL)."""
    if cause == AlertCause.CONNECTION:
        return reverse("greenhouse:connection")
    if cause == AlertCause.FAILED_RECORDS:
        return reverse("greenhouse:log") + f"?status={SyncRecord.Status.FAILED}"
    # The sync log's held messages waiting for review: where they are approved or dropped.
    return (
        reverse("greenhouse:log")
        + f"?status={SyncRecord.Status.HELD}&reason={Reason.AWAITING_REVIEW}"
    )


def alert_words(cause: str, count: int) -> str:
    """One line saying what is wrong, with the count."""
    if cause == AlertCause.CONNECTION:
        return "The Greenhouse connection needs attention: notes wait until it is fixed."
    if cause == AlertCause.FAILED_RECORDS:
        return f"{count} note{'s' if count != 1 else ''} failed to sync to Greenhouse."
    return (
        f"{count} message{'s' if count != 1 else ''} "
        f"{'have' if count != 1 else 'has'} waited for review for over a day."
    )


@dataclass(frozen=True)
class OpenAlert:
    """What a banner or the dashboard shows of one open alert."""

    team_id: int
    cause: str
    count: int
    opened_at: datetime
    words: str
    url: str
    tone: str


def _as_open(alert: TeamAlert) -> OpenAlert:
    return OpenAlert(
        team_id=alert.team_id,
        cause=alert.cause,
        count=alert.count,
        opened_at=alert.opened_at,
        words=alert_words(alert.cause, alert.count),
        url=alert_link(alert.cause),
        tone=alert.tone,
    )


def _sorted(alerts) -> list[TeamAlert]:
    return sorted(alerts, key=lambda a: (a.team_id, CAUSE_ORDER.index(AlertCause(a.cause))))


# --- Selectors -----------------------------------------------------------------------------------


def team_alerts_open(*, team_id: int) -> list[OpenAlert]:
    """A team's open alerts, in a fixed order (the banner's)."""
    alerts = TeamAlert.objects.filter(team_id=team_id, resolved_at=None)
    return [_as_open(a) for a in _sorted(alerts)]


def alerts_open_by_team() -> dict[int, list[OpenAlert]]:
    """Every team's open alerts (support's dashboard): one query."""
    result: dict[int, list[OpenAlert]] = {}
    for alert in _sorted(TeamAlert.objects.filter(resolved_at=None)):
        result.setdefault(alert.team_id, []).append(_as_open(alert))
    return result


def alert_counts_observe(*, now: datetime, team_ids=None) -> dict[int, dict[str, int]]:
    """What is wrong now, per team and cause (three grouped queries for all teams)."""
    observed: dict[int, dict[str, int]] = {}

    def put(team_id: int, cause: str, count: int) -> None:
        if count:
            observed.setdefault(team_id, {})[cause] = count

    scope = Q() if team_ids is None else Q(team_id__in=list(team_ids))
    for team_id in GreenhouseIntegration.objects.filter(
        scope, health=GreenhouseIntegration.Health.NEEDS_ATTENTION
    ).values_list("team_id", flat=True):
        put(team_id, AlertCause.CONNECTION, 1)
    failed = (
        SyncRecord.objects.filter(scope, status=SyncRecord.Status.FAILED)
        .values("team_id")
        .annotate(n=Count("id"))
    )
    for row in failed:
        put(row["team_id"], AlertCause.FAILED_RECORDS, row["n"])
    waiting = (
        SyncRecord.objects.filter(
            scope,
            status=SyncRecord.Status.HELD,
            reason=Reason.AWAITING_REVIEW,
            created_at__lt=now - REVIEW_ALERT_AFTER,
        )
        .values("team_id")
        .annotate(n=Count("id"))
    )
    for row in waiting:
        put(row["team_id"], AlertCause.REVIEW_WAITING, row["n"])
    return observed


# --- Services ------------------------------------------------------------------------------------


def _alert_update(*, team_id: int, cause: str, count: int, now: datetime) -> None:
    """Open, update or resolve one team's alert for one cause (safe against a concurrent twin:
    get_or_create rides the unique constraint, the updates are conditional)."""
    rows = TeamAlert.objects.filter(team_id=team_id, cause=cause)
    if not count:
        rows.filter(resolved_at=None).update(resolved_at=now, updated_at=now)
        return
    _, created = TeamAlert.objects.get_or_create(
        team_id=team_id, cause=cause, defaults={"count": count, "opened_at": now}
    )
    if created:
        return
    # Reopened: a new episode, not yet emailed at any count (the day's email still counts).
    rows.exclude(resolved_at=None).update(
        resolved_at=None, opened_at=now, count=count, emailed_count=0, updated_at=now
    )
    rows.filter(resolved_at=None).exclude(count=count).update(count=count, updated_at=now)


def team_alerts_evaluate(
    *, team_id: int, now: datetime | None = None, observed: dict[str, int] | None = None
) -> AlertEmail | None:
    """Bring a team's alerts up to date and queue one email for the causes not yet emailed
    (today, at this count or more). Returns the email queued, or None. Idempotent: a second run
    at once, or later the same day, queues nothing more."""
    now = now or timezone.now()
    if observed is None:
        observed = alert_counts_observe(now=now, team_ids=[team_id]).get(team_id, {})
    today = timezone.localdate(now)
    with transaction.atomic():
        for cause in CAUSE_ORDER:
            _alert_update(team_id=team_id, cause=cause, count=observed.get(cause, 0), now=now)
        claimed = []
        for alert in _sorted(TeamAlert.objects.filter(team_id=team_id, resolved_at=None)):
            won = (
                TeamAlert.objects.filter(
                    pk=alert.pk, resolved_at=None, count__gt=F("emailed_count")
                )
                .filter(Q(emailed_on=None) | Q(emailed_on__lt=today))
                .update(emailed_on=today, emailed_count=F("count"))
            )
            if won:
                claimed.append(alert)
        if not claimed:
            return None
        email = AlertEmail.objects.create(
            team_id=team_id,
            causes=[{"cause": a.cause, "count": a.count} for a in claimed],
            queued_at=now,
        )
        email.wake_on_commit()
    return email


def _settled(alerts: list[TeamAlert], observed: dict[str, int], today) -> bool:
    """True when an evaluation of the team would change nothing: its open alerts are exactly
    what is observed, and none of them is due an email (the beat's run skips such teams, so a
    tick costs three grouped queries and one more, not a transaction per team)."""
    if {a.cause: a.count for a in alerts} != observed:
        return False
    return all(
        a.count <= a.emailed_count or (a.emailed_on is not None and a.emailed_on >= today)
        for a in alerts
    )


def team_alerts_evaluate_all(*, now: datetime | None = None) -> int:
    """The beat's run: every team with something wrong or an alert still open. Returns how many
    emails were queued."""
    now = now or timezone.now()
    observed = alert_counts_observe(now=now)
    today = timezone.localdate(now)
    open_alerts: dict[int, list[TeamAlert]] = {}
    for alert in TeamAlert.objects.filter(resolved_at=None):
        open_alerts.setdefault(alert.team_id, []).append(alert)
    queued = 0
    for team_id in sorted(set(observed) | set(open_alerts)):
        if _settled(open_alerts.get(team_id, []), observed.get(team_id, {}), today):
            continue  # the banner already says what is wrong and nothing is left to email
        try:
            if team_alerts_evaluate(team_id=team_id, now=now, observed=observed.get(team_id, {})):
                queued += 1
        except Exception:  # one team's trouble never stops the others' alerts
            logger.exception("Alerts of team %s not evaluated", team_id)
    return queued


def _admin_emails(team_id: int) -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(
                team_id=team_id, role=Membership.Role.ADMIN, user__is_active=True
            )
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def _render(email: AlertEmail, team: Team, recipients: list[str]) -> EmailMultiAlternatives:
    items = [
        {
            "cause": item["cause"],
            "label": AlertCause(item["cause"]).label,
            "words": alert_words(item["cause"], item["count"]),
            "url": settings.PUBLIC_BASE_URL + alert_link(item["cause"]),
        }
        for item in email.causes
    ]
    context = {"team": team, "items": items, "digest": len(items) > 1}
    if len(items) == 1:
        subject = f"Greenhouse sync: {alert_words(items[0]['cause'], email.causes[0]['count'])}"
    else:
        subject = f"Greenhouse sync: {len(items)} things need your attention"
    message = EmailMultiAlternatives(
        subject=subject.rstrip("."),
        body=render_to_string("greenhouse/email/alert.txt", context),
        from_email=settings.GREENHOUSE_BOT_FROM_EMAIL,
        to=recipients,
        headers={"Auto-Submitted": "auto-generated"},
    )
    html = render_to_string("greenhouse/email/alert.html", context)
    message.attach_alternative(html, "text/html")
    message.metadata = {"outreach_team": str(team.pk)}  # type: ignore[attr-defined]
    return message


def alert_email_send(*, pk: int) -> str:
    """Send one alert email once. Safe to call any number of times."""
    claimed_at = AlertEmail.claim(pk=pk)
    if claimed_at is None:
        AlertEmail.release(pk=pk)
        return "skipped"
    email = AlertEmail.objects.select_related("team").get(pk=pk)
    mine = AlertEmail.held(pk=pk, claimed_at=claimed_at)
    recipients = _admin_emails(email.team_id)
    if not recipients:
        mine.update(status=AlertEmail.Status.FAILED, error="The team has no admin with an email.")
        return "failed"
    try:
        _render(email, email.team, recipients).send()
    except Exception as exc:
        logger.warning("Alert email %s not sent: %s", pk, type(exc).__name__)
        return AlertEmail.retry_or_fail(
            mine, pk=pk, claimed_at=claimed_at, attempts=email.attempts, reason=f"Not sent: {exc}"
        )
    mine.update(
        status=AlertEmail.Status.SENT,
        sent_at=timezone.now(),
        recipients=", ".join(recipients),
        error="",
    )
    return "sent"


def alert_emails_sweep(
    *, now: datetime, stale_after: timedelta, lease: timedelta | None = None
) -> int:
    """Queue alert emails whose retry is due, whose task was lost, or whose worker died."""
    return AlertEmail.sweep(
        now=now,
        stale_after=stale_after,
        lease=lease,
        order_by=("created_at", "id"),
        gave_up_error=outbox.SEND_GAVE_UP,
        rescued_error=outbox.SEND_RESCUED,
    ).queued
