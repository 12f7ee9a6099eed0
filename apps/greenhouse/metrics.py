"""The Greenhouse sync's figures for operators: Prometheus (at /metrics, through
apps/core/metrics.py) and the support dashboard read the same selectors here.

Per team, for the teams with a Greenhouse connection (at most METRICS_MAX_TEAMS of them, by team
id; records of any other team are summed under team="other", so totals stay right and a series
per team stays bounded): the backlog (pending, in progress and held records) and how long its
oldest record has waited, the notes written and the 429s Greenhouse answered (counters: the
rows themselves), the rate allowance used in the current window (read from the shared rate budget
state without changing it), and whether the connection needs attention. Across teams: how long
recently written notes took from their message to Greenhouse (quantiles over the last 15 minutes).

Every query is one grouped statement served by an index (migration 0011_metrics_indexes adds
the two that were missing: 429 attempts and written_at), whatever the number of teams.
"""

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Min
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from apps.core.metrics import PREFIX

from .harvest import hosts
from .harvest.ratelimit import RateBudget
from .models import GreenhouseIntegration, SyncAttempt, SyncRecord

OTHER = "other"
LATENCY_WINDOW = timedelta(minutes=15)
LATENCY_SAMPLE_CAP = 10_000  # the newest notes of the window, at most
QUANTILES = (0.5, 0.95, 0.99)
WAITING = (SyncRecord.Status.PENDING, SyncRecord.Status.IN_PROGRESS, SyncRecord.Status.HELD)


@dataclass
class TeamFigures:
    backlog: int = 0
    oldest_waiting_since: datetime | None = None
    written: int = 0
    rate_limited: int = 0


@dataclass
class SyncFigures:
    teams: dict[str, TeamFigures] = field(default_factory=lambda: defaultdict(TeamFigures))
    integrations: dict[str, GreenhouseIntegration] = field(default_factory=dict)


def metrics_team_labels() -> dict[int, str]:
    """{team_id: label} of the teams that get series of their own (their slug)."""
    rows = GreenhouseIntegration.objects.order_by("team_id").values_list("team_id", "team__slug")[
        : settings.METRICS_MAX_TEAMS
    ]
    return dict(rows)


def sync_figures_by_team() -> SyncFigures:
    """Backlog, oldest waiting, notes written and 429s per team label: three grouped queries."""
    labels = metrics_team_labels()
    figures = SyncFigures()
    for integration in GreenhouseIntegration.objects.filter(team_id__in=list(labels)):
        figures.integrations[labels[integration.team_id]] = integration
    waiting = (
        SyncRecord.objects.filter(status__in=WAITING)
        .values("team_id")
        .annotate(n=Count("pk"), oldest=Min("created_at"))
        .order_by()
    )
    for row in waiting:
        team = figures.teams[labels.get(row["team_id"], OTHER)]
        team.backlog += row["n"]
        if team.oldest_waiting_since is None or row["oldest"] < team.oldest_waiting_since:
            team.oldest_waiting_since = row["oldest"]
    written = (
        SyncRecord.objects.filter(status=SyncRecord.Status.WRITTEN)
        .values("team_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in written:
        figures.teams[labels.get(row["team_id"], OTHER)].written += row["n"]
    refused = (
        SyncAttempt.objects.filter(http_status=429)
        .values("record__team_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in refused:
        figures.teams[labels.get(row["record__team_id"], OTHER)].rate_limited += row["n"]
    for label in figures.integrations:
        figures.teams.setdefault(label, TeamFigures())  # every connected team has its series
    return figures


def sync_recent_counts(*, now: datetime, window: timedelta) -> dict[str, int]:
    """Notes written and 429s answered in the last `window`, over all teams (the dashboard)."""
    since = now - window
    return {
        "written": SyncRecord.objects.filter(written_at__gte=since).count(),
        "rate_limited": SyncAttempt.objects.filter(http_status=429, started_at__gte=since).count(),
    }


def sync_note_latencies(*, now: datetime, window: timedelta = LATENCY_WINDOW) -> list[float]:
    """Seconds from record to written note, of the notes written in the last `window` (newest
    LATENCY_SAMPLE_CAP), sorted."""
    rows = (
        SyncRecord.objects.filter(written_at__gte=now - window)
        .order_by("-written_at")
        .values_list("created_at", "written_at")[:LATENCY_SAMPLE_CAP]
    )
    return sorted(max(0.0, (written - created).total_seconds()) for created, written in rows)


def quantile(values: list[float], q: float) -> float:
    """The nearest-rank quantile of sorted `values` (0 for none)."""
    if not values:
        return 0.0
    rank = math.ceil(q * len(values) - 1e-9)  # 0.95 * 100 is 95.00000000000001 in floats
    return values[min(len(values), max(1, rank)) - 1]


def rate_budget_state(integration: GreenhouseIntegration) -> dict[str, Any]:
    """The credential's shared rate budget state, read without changing it (a budget's own
    transaction would write it back and make a concurrent worker's compare-and-set retry)."""
    profile = hosts.host_profiles().get(integration.host)
    if profile is None:
        return {}
    budget = RateBudget.for_credential(
        api_base_url=profile.api_base_url, client_id=integration.client_id
    )
    return budget.store.peek(budget.key)


def allowance_used(state: dict[str, Any], now: float) -> tuple[int, int]:
    """(requests granted, limit) in the window still open; (0, limit) between windows."""
    limit = int(state.get("limit") or 0)
    ends = max(state.get("send_until") or 0.0, state.get("opens_at") or 0.0)
    return (int(state.get("used") or 0), limit) if now < ends else (0, limit)


def _per_team(name: str, doc: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_greenhouse_{name}", doc, labels=["team"])


def greenhouse_metrics(now: datetime) -> list[Metric]:
    figures = sync_figures_by_team()
    backlog = _per_team(
        "backlog_records",
        "Sync records pending, in progress or held, per team.",
    )
    oldest = _per_team(
        "oldest_waiting_seconds",
        "Age of the team's oldest pending, in-progress or held record; 0: none waits.",
    )
    written = CounterMetricFamily(
        f"{PREFIX}_greenhouse_notes_written",
        "Notes written to Greenhouse (records in status written), per team.",
        labels=["team"],
    )
    refused = CounterMetricFamily(
        f"{PREFIX}_greenhouse_rate_limited_responses",
        "Harvest answers 429 (logged attempts), per team.",
        labels=["team"],
    )
    for label, team in sorted(figures.teams.items()):
        backlog.add_metric([label], team.backlog)
        since = team.oldest_waiting_since
        oldest.add_metric([label], max(0.0, (now - since).total_seconds()) if since else 0.0)
        written.add_metric([label], team.written)
        refused.add_metric([label], team.rate_limited)

    used = _per_team(
        "allowance_used_requests",
        "Requests granted in the credential's current rate window, per team.",
    )
    limit = _per_team(
        "allowance_limit_requests",
        "The credential's requests per window (X-RateLimit-Limit); 0: not learned yet.",
    )
    attention = _per_team(
        "connection_needs_attention",
        "1 when the team's Greenhouse connection needs attention (its last check failed).",
    )
    sync_on = _per_team("sync_on", "1 when the team's sync is on.")
    clock = time.time()
    for label, integration in sorted(figures.integrations.items()):
        granted, allowed = allowance_used(rate_budget_state(integration), clock)
        used.add_metric([label], granted)
        limit.add_metric([label], allowed)
        attention.add_metric(
            [label], int(integration.health == GreenhouseIntegration.Health.NEEDS_ATTENTION)
        )
        active = integration.sync_on and integration.sync_enabled_by_support
        sync_on.add_metric([label], int(active))

    latencies = sync_note_latencies(now=now)
    latency = GaugeMetricFamily(
        f"{PREFIX}_greenhouse_note_latency_seconds",
        "Seconds from a message's sync record to its note, notes written in the last 15 minutes.",
        labels=["quantile"],
    )
    for q in QUANTILES:
        latency.add_metric([str(q)], quantile(latencies, q))
    recent = GaugeMetricFamily(
        f"{PREFIX}_greenhouse_notes_written_last_15m",
        "Notes written in the last 15 minutes (the latency quantiles' sample).",
    )
    recent.add_metric([], len(latencies))
    return [backlog, oldest, written, refused, used, limit, attention, sync_on, latency, recent]
