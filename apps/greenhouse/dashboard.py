"""Support's sync dashboard (a page of the Django admin, wired in admin.py): written, skipped and
failed notes per day per team in one aggregated query, with each team's entitlement, connection
health and what waits. Its own module because it is a report, not a model's admin.
"""

from apps.messaging.models import UnmatchedInbound
from apps.teams.models import Team

from .models import GreenhouseIntegration
from .selectors import sync_daily_counts, sync_waiting_by_team

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
    charts = []
    for team_id in sorted(
        set(counts) | set(integrations), key=lambda t: str(teams.get(t) or integrations[t].team)
    ):
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
                "team": teams.get(team_id) or integrations[team_id].team,
                "integration": integrations.get(team_id),
                "waiting": waiting.get(team_id, {"pending": 0, "held": 0, "failed": 0}),
                "bars": bars,
                "totals": totals,
                "peak": peak,
            }
        )
    return {
        "charts": charts,
        "days": days,
        "day_choices": DASHBOARD_DAYS,
        "first_day": day_list[0],
        "last_day": day_list[-1],
        "unmatched": UnmatchedInbound.objects.filter(resolved_at=None)[:1000].count(),
    }
