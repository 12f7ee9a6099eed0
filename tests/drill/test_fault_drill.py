"""The fault drill at CI size (bench/drill.py runs it at full size): real worker processes on the
broker this test run uses, the Harvest sandbox over HTTP, ~160 messages while workers are
SIGKILLed, the broker is restarted, and the sandbox answers 5xx, saves then answers 500, bursts
429s and is down for 5 s. Every eligible message must end as exactly one note: 0 lost, 0
duplicated.

The broker restarted: Redis's server when the broker is Redis (every key lost); on RabbitMQ, the
drill's own node (bench/rabbitmq.py, which .ci/run starts on port 5673), never the system one: a
RabbitMQ broker at another port is not restarted. The embedded broker has no server to restart."""

import time
from collections.abc import Callable

import pytest
from django.conf import settings as django_settings

from bench.drill import WORKER_ENV, DrillConfig, Hooks, run_drill
from bench.rabbitmq import RabbitNode
from tests.fixtures.worker import WORKER_DEADLINE

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def worker_env(settings) -> dict:
    """What the worker processes must share with this process."""
    return {
        "DEV_OUTBOX_DIR": str(settings.DEV_OUTBOX_DIR),
        "EMAIL_BACKEND": "apps.messaging.backends.DevOutboxEmailBackend",
        "SMS_BACKEND": "apps.messaging.sms.dev.DevOutboxSmsBackend",
        "EMAIL_DOMAIN": settings.EMAIL_DOMAIN,
        "REPLY_ADDRESS_DOMAIN": settings.REPLY_ADDRESS_DOMAIN,
        "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
        "GREENHOUSE_KEY_PREFIX": settings.GREENHOUSE_KEY_PREFIX,
        "GREENHOUSE_RATE_BUDGET_URL": settings.GREENHOUSE_RATE_BUDGET_URL,
        **WORKER_ENV,
    }


def _restart_redis():
    from bench.common import redis_restart

    # The broker's server (the test run's Redis): every key is lost, queued tasks included.
    url = django_settings.CELERY_BROKER_URL.rsplit("/", 1)[0]
    redis_restart(url, down_for=1.0)


def broker_restart() -> tuple[str, Callable[[], None] | None]:
    """The broker's name and how to restart it (None: it is not restarted)."""
    url = django_settings.CELERY_BROKER_URL
    if url.startswith("redis://"):
        return "Redis", _restart_redis
    if url.startswith(("amqp://", "pyamqp://")):
        node = RabbitNode.from_env()
        return "RabbitMQ", (node.restart if node.serves(url) else None)
    return url.split(":", 1)[0], None


def test_the_fault_drill_loses_nothing_and_duplicates_nothing(
    harvest_sandbox,
    celery_worker_factory,
    settings,
    anymail_outbox,
):
    env = worker_env(settings)
    broker, restart_broker = broker_restart()
    config = DrillConfig(
        prospects=30,
        workers=3,
        chaos=20.0,
        kill_every=6.0,
        broker_restart_at=8.0,
        down_at=11.0,
        down_for=5.0,
        # Sweeps every few seconds; a task queued more than 12 s ago is taken as lost (Redis
        # restarted) and queued once more. Tasks still waiting in a slow queue get at most one
        # duplicate per 12 s, however often the sweeps run.
        sweep_every=3.0,
        lease=12.0,
        settle_timeout=WORKER_DEADLINE,  # ends as soon as everything is written
    )
    hooks = Hooks(
        sandbox=harvest_sandbox,
        start_worker=lambda wait: celery_worker_factory(concurrency=1, extra_env=env, wait=wait),
        restart_broker=restart_broker,
        broker=broker,
    )
    started = time.monotonic()
    result = run_drill(config, hooks)
    print(f"\nfault drill: {result.summary()} in {time.monotonic() - started:.0f} s")

    assert result.eligible >= 150, result.summary()
    assert result.kills >= 3 and result.broker_restarts == (1 if restart_broker else 0)
    assert result.read_backs_found >= 1, result.summary()  # writes saved then answered 500
    assert result.lost == 0 and result.duplicated == 0, result.summary()
    assert result.ok, (result.summary(), result.problems)
