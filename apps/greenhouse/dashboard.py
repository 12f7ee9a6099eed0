"""Support's sync dashboard (a page of the Django admin, wired in admin.py): written, skipped and
failed notes per day per team in one aggregated query, with each team's entitlement, connection
health and what waits. Its own module because it is a report, not a model's admin.

Its summary is the operators' figures (metrics.py, the same selectors as /metrics) summed up:
the backlog and its oldest record, notes and 429s in the last hour, and the broker's queue depths.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from apps.core.broker import queue_depths
from apps.messaging.models import UnmatchedInbound
from apps.teams.models import Team

from .alerts import alerts_open_by_team
from .metrics import sync_figures_by_team, sync_recent_counts
from .models import GreenhouseIntegration
from .selectors import sync_daily_counts, sync_waiting_by_team

logger = logging.getLogger(__name__)
SUMMARY_WINDOW = timedelta(hours=1)


def operations_summary() -> dict:
    """Backlog, oldest waiting, last hour's notes and 429s (all teams), and queue depths."""
    now = timezone.now()
    figures = sync_figures_by_team()
    oldest = min(
        (t.oldest_waiting_since for t in figures.teams.values() if t.oldest_waiting_since),
        default=None,
    )
    try:
        depths: dict[str, int] | None = queue_depths()
    except Exception as exc:  # the page still shows the rest
        logger.warning("dashboard: the broker did not answer: %s", type(exc).__name__)
        depths = None
    return {
        "backlog": sum(t.backlog for t in figures.teams.values()),
        "oldest_waiting": now - oldest if oldest else None,
        "oldest_by_team": {label: t.oldest_waiting_since for label, t in figures.teams.items()},
        "last_hour": sync_recent_counts(now=now, window=SUMMARY_WINDOW),
        "queue_depths": depths,
    }


DASHBOARD_DAYS = (14, 30)
BARS = ("written", "skipped", "failed")


def sync_dashboard(request) -> dict:
    """Synced / skipped / failed per day per team (one aggregated query), and each team's
    entitlement, connection health and what waits."""
    try:
        days = int(request.GET.get("days", DASHBOARD_DAYS[0]))
    except ValueError:
        days = DASHBOARD_DAYS[0]
    days = days if days in DASHBOARD_DAYS else DASHBOARD_DAYS[0]
    day_list, counts = sync_daily_counts(days=days)
    teams = {team.pk: team for team in Team.objects.filter(pk__in=list(counts))}
    integrations = {i.team_id: i for i in GreenhouseIntegration.objects.select_related("team")}
    waiting = sync_waiting_by_team()
    summary = operations_summary()
    now = timezone.now()
    charts = []
    for team_id in sorted(
        set(counts) | set(integrations), key=lambda t: str(teams.get(t) or integrations[t].team)
    ):
        team = teams.get(team_id) or integrations[team_id].team
        per_day = counts.get(team_id, {})
        totals = {key: sum(day[key] for day in per_day.values()) for key in BARS}
        peak = max((sum(day.values()) for day in per_day.values()), default=0)
        bars = []
        for day in day_list:
            values = per_day.get(day, dict.fromkeys(BARS, 0))
            bars.append(
                {
                    "day": day,
                    "total": sum(values.values()),
                    "segments": [
                        (key, values[key], 100 * values[key] / peak if peak else 0) for key in BARS
                    ],
                }
            )
        charts.append(
            {
                "team": team,
                "integration": integrations.get(team_id),
                "waiting": waiting.get(team_id, {"pending": 0, "held": 0, "failed": 0}),
                "oldest_waiting": _age(now, summary["oldest_by_team"].get(team.slug)),
                "bars": bars,
                "totals": totals,
                "peak": peak,
            }
        )
    open_alerts = alerts_open_by_team()
    alert_teams = {t.pk: t for t in Team.objects.filter(pk__in=list(open_alerts))}
    return {
        "summary": summary,
        # The alerts the team admins see in their banner (alerts.py), per team.
        "alerts": [
            {"team": alert_teams[team_id], "alerts": items}
            for team_id, items in sorted(
                open_alerts.items(), key=lambda kv: str(alert_teams[kv[0]])
            )
            if team_id in alert_teams
        ],
        "charts": charts,
        "days": days,
        "day_choices": DASHBOARD_DAYS,
        "first_day": day_list[0],
        "last_day": day_list[-1],
        "unmatched": UnmatchedInbound.objects.filter(resolved_at=None)[:1000].count(),
    }


def _age(now, since):
    return now - since if since else None
