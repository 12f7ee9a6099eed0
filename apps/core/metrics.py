"""What operators scrape (Prometheus, at /metrics): every figure computed at scrape time from the
database and the broker.

Counters kept in a process's memory would need prometheus-client's multiprocess mode and would
still be wrong across machines (each web process and worker sees its own share). The database
and the broker already hold the truth, so each scrape asks them: a handful of grouped queries
served by indexes, and one passive declare per queue. A counter read this way (notes written,
429s) is the number of rows, so it only falls when rows are deleted, which Prometheus's rate()
treats as a reset.

Apps add their own figures with `metric_source(fn)` (in AppConfig.ready), `fn(now) -> iterable
of metric families`; core never imports them. Core's own figures: queue depths
(apps/core/broker.py), whether the broker answered, the workers' heartbeat (the beat's
WorkerPing every minute), and for each outbox (every OutboxBase model) the rows due now and how
long the oldest has been due.
"""

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from django.apps import apps
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from .broker import configured_queue_names, queue_depths
from .models import WorkerPing
from .outbox import OutboxBase

logger = logging.getLogger(__name__)

PREFIX = "outreach"
MetricSource = Callable[[datetime], Iterable[Metric]]
_sources: list[MetricSource] = []


def metric_source(fn: MetricSource) -> MetricSource:
    """Register `fn(now) -> metric families`, added to every scrape (idempotent)."""
    if fn not in _sources:
        _sources.append(fn)
    return fn


def _seconds(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then else 0.0


def broker_metrics(now: datetime) -> Iterable[Metric]:
    up = GaugeMetricFamily(f"{PREFIX}_broker_up", "1 when the broker answered this scrape.")
    depth = GaugeMetricFamily(
        f"{PREFIX}_queue_messages",
        "Task messages waiting in the broker, per configured queue.",
        labels=["queue"],
    )
    started = time.monotonic()
    try:
        depths = queue_depths(configured_queue_names())
    except Exception as exc:  # the broker is down: say so, the other figures still count
        logger.warning("metrics: the broker did not answer: %s", type(exc).__name__)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    for name, count in sorted(depths.items()):
        depth.add_metric([name], count)
    took = GaugeMetricFamily(
        f"{PREFIX}_broker_scrape_seconds", "How long counting the queues took."
    )
    took.add_metric([], time.monotonic() - started)
    return [up, depth, took]


def worker_metrics(now: datetime) -> Iterable[Metric]:
    pings = WorkerPing.objects.aggregate(
        answered=Max("answered_at"),
        waiting=Min("requested_at", filter=Q(answered_at=None)),
    )
    last = GaugeMetricFamily(
        f"{PREFIX}_worker_ping_answered_timestamp_seconds",
        "When a worker last answered a ping (unix time; beat pings every minute); 0: never.",
    )
    last.add_metric([], pings["answered"].timestamp() if pings["answered"] else 0)
    waiting = GaugeMetricFamily(
        f"{PREFIX}_worker_ping_oldest_unanswered_seconds",
        "Age of the oldest ping no worker has answered yet; 0: none waits.",
    )
    waiting.add_metric([], _seconds(now, pings["waiting"]))
    return [last, waiting]


def outbox_models() -> list[type[OutboxBase]]:
    return sorted(
        (m for m in apps.get_models() if issubclass(m, OutboxBase)), key=lambda m: m._meta.label
    )


def outbox_metrics(now: datetime) -> Iterable[Metric]:
    due = GaugeMetricFamily(
        f"{PREFIX}_outbox_due", "Pending outbox rows that are due now, per kind.", labels=["kind"]
    )
    oldest = GaugeMetricFamily(
        f"{PREFIX}_outbox_oldest_due_seconds",
        "How long the oldest due pending row has been due (its retry time, else its creation).",
        labels=["kind"],
    )
    for model in outbox_models():
        fields = {f.name for f in model._meta.get_fields()}
        since = Coalesce("next_attempt_at", "created_at") if "created_at" in fields else None
        rows = model.objects.filter(model.OUTBOX_SCOPE, status=model.OUTBOX_PENDING).filter(
            Q(next_attempt_at=None) | Q(next_attempt_at__lte=now)
        )
        figures = rows.aggregate(n=Count("pk"), **({"since": Min(since)} if since else {}))
        kind = model._meta.label_lower
        due.add_metric([kind], figures["n"])
        oldest.add_metric([kind], _seconds(now, figures.get("since")))
    return [due, oldest]


for _source in (broker_metrics, worker_metrics, outbox_metrics):
    metric_source(_source)


class _ScrapeCollector:
    """Every registered source, evaluated once per scrape."""

    def collect(self) -> Iterable[Metric]:
        now = timezone.now()
        for source in list(_sources):
            yield from source(now)


def metrics_exposition() -> bytes:
    """The Prometheus text format of every figure, computed now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ScrapeCollector())
    return generate_latest(registry)
