"""The sync sweep and the broker: pending sync records and bot emails whose tasks are still in the
broker are left alone by every sweep (each sweep used to queue them all again: 462 pending
records became 2,772 broker messages in 5 sweeps, a bot-email backlog 3,541 -> 20,235); a task
that was lost is queued again once per expired lease. A team's records have one wake-up between
them (its lane), however many arrive. Counted in the test run's real broker."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.greenhouse.bot_notice import bot_notice_queue
from apps.greenhouse.models import BotNotice, SyncLane, SyncRecord
from apps.greenhouse.sweeper import sync_records_sweep
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.fixtures.worker import broker_messages, broker_purge
from tests.messaging.factories import ThreadFactory

pytestmark = pytest.mark.django_db(transaction=True)
BACKLOG = 20


def sweep_at(now):
    return sync_records_sweep(now=now)


@pytest.fixture
def record_backlog(synced, harvest_sandbox):
    """20 pending records made by the real flow (an SMS sent), with one write task of their team
    in the broker (the sends' tasks are there too)."""
    broker_purge()
    for n in range(BACKLOG):
        sms_send(sender=synced.rob, prospect=synced.grace, body=f"Hello {n}")
    deliver_queued()
    records = list(SyncRecord.objects.filter(status=SyncRecord.Status.PENDING))
    assert len(records) == BACKLOG
    assert SyncLane.objects.get(team=synced.team).queued_at is not None
    assert broker_messages() == BACKLOG + 1  # 20 sends, one wake-up of the team's lane
    yield records
    broker_purge()


@pytest.fixture
def notice_backlog(synced):
    """20 pending bot emails, each queued as the first written note of its thread queues it."""
    broker_purge()
    for _ in range(BACKLOG):
        thread = ThreadFactory(team=synced.team, prospect=synced.grace, owner=synced.rob)
        with transaction.atomic():
            bot_notice_queue(thread=thread)
    notices = list(BotNotice.objects.filter(status=BotNotice.Status.PENDING))
    assert len(notices) == BACKLOG
    assert broker_messages() == BACKLOG
    yield notices
    broker_purge()


def test_five_sweeps_while_the_write_tasks_are_queued_add_no_broker_message(record_backlog):
    now = timezone.now()
    # Later than the old "lost wake-up" grace (60 s), within the lease (10 min).
    for minute in range(2, 7):
        counts = sweep_at(now + timedelta(minutes=minute))
        assert (counts["queued"], counts["bot_notices"]) == (0, 0)
    assert broker_messages() == BACKLOG + 1


def test_a_lost_write_task_is_queued_again_once_per_expired_lease(record_backlog, settings):
    lease = timedelta(seconds=settings.QUEUE_LEASE)
    broker_purge()  # every task lost
    queued_at = SyncLane.objects.get().queued_at

    assert sweep_at(queued_at + lease - timedelta(seconds=1))["queued"] == 0
    expired = queued_at + lease + timedelta(seconds=1)
    assert sweep_at(expired)["queued"] == 1  # the team's one wake-up, for its 20 records
    for _ in range(4):
        assert sweep_at(expired + timedelta(seconds=20))["queued"] == 0
    assert broker_messages() == 1

    assert sweep_at(expired + lease + timedelta(seconds=1))["queued"] == 1
    assert broker_messages() == 2


def test_five_sweeps_while_the_bot_email_tasks_are_queued_add_no_broker_message(notice_backlog):
    now = timezone.now()
    for minute in range(2, 7):
        assert sweep_at(now + timedelta(minutes=minute))["bot_notices"] == 0
    assert broker_messages() == BACKLOG


def test_a_lost_bot_email_task_is_queued_again_once_per_expired_lease(notice_backlog, settings):
    lease = timedelta(seconds=settings.QUEUE_LEASE)
    broker_purge()
    queued_at = max(n.queued_at for n in notice_backlog)

    assert sweep_at(queued_at + lease - timedelta(seconds=1))["bot_notices"] == 0
    expired = queued_at + lease + timedelta(seconds=1)
    assert sweep_at(expired)["bot_notices"] == BACKLOG
    for _ in range(4):
        assert sweep_at(expired + timedelta(seconds=20))["bot_notices"] == 0
    assert broker_messages() == BACKLOG

    assert sweep_at(expired + lease + timedelta(seconds=1))["bot_notices"] == BACKLOG
    assert broker_messages() == 2 * BACKLOG
