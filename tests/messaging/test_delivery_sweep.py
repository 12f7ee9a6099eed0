"""The delivery sweep and the broker: a backlog of queued messages whose send tasks are still in
the broker is left alone by every sweep (it used to be queued again by each one, so the queue
grew with every sweep for as long as the backlog lasted); a message whose task was lost is
queued again once per expired lease. Messages are counted in the test run's real broker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.messaging.delivery import messages_sweep
from apps.messaging.models import Message
from apps.messaging.outbound import sms_send
from tests.fixtures.worker import broker_messages, broker_purge

pytestmark = pytest.mark.django_db(transaction=True)
BACKLOG = 25


@pytest.fixture
def backlog(world, settings):
    """25 SMS queued by the real service, each with its send task in the broker."""
    broker_purge()
    for n in range(BACKLOG):
        sms_send(sender=world.owner, prospect=world.prospect, body=f"Message {n}")
    assert broker_messages() == BACKLOG
    yield list(Message.objects.filter(status=Message.Status.QUEUED))
    broker_purge()


def test_five_sweeps_while_the_send_tasks_are_queued_add_no_broker_message(backlog, settings):
    now = timezone.now()
    lease = timedelta(seconds=settings.QUEUE_LEASE)
    # Later than the old "lost wake-up" grace (2 min), within the lease.
    for minute in range(3, 8):
        assert messages_sweep(now=now + timedelta(minutes=minute)) == 0
    assert now + timedelta(minutes=7) < now + lease
    assert broker_messages() == BACKLOG


def test_a_lost_send_task_is_queued_again_once_per_expired_lease(backlog, settings):
    lease = timedelta(seconds=settings.QUEUE_LEASE)
    broker_purge()  # the broker lost every task (restarted without persistence)
    queued_at = max(m.queued_at for m in backlog)

    assert messages_sweep(now=queued_at + lease - timedelta(seconds=1)) == 0
    expired = queued_at + lease + timedelta(seconds=1)
    assert messages_sweep(now=expired) == BACKLOG
    for _ in range(4):
        assert messages_sweep(now=expired + timedelta(seconds=30)) == 0
    assert broker_messages() == BACKLOG

    assert messages_sweep(now=expired + lease + timedelta(seconds=1)) == BACKLOG
    assert broker_messages() == 2 * BACKLOG
    assert Message.objects.filter(status=Message.Status.QUEUED).count() == BACKLOG
