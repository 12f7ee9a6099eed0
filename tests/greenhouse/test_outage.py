"""Long outages lose nothing (issue 12, part 3), against the Harvest sandbox over HTTP: a
record held for an outage is retried only after the connection is tested again, and unhealthy
connections are rechecked fast at first and slower later."""

from datetime import timedelta

from django.utils import timezone

from apps.greenhouse.models import GreenhouseIntegration, SyncRecord
from apps.greenhouse.policy import Reason
from apps.greenhouse.sweeper import greenhouse_connections_recheck, recheck_delay
from apps.greenhouse.switches import sync_records_retry
from apps.greenhouse.sync import sync_record_write
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued

Status = SyncRecord.Status


def held_for_outage(synced, harvest_sandbox, settings):
    settings.GREENHOUSE_SYNC_MAX_ATTEMPTS = 1
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    record = SyncRecord.objects.get()
    harvest_sandbox.set_faults(down=True)
    assert sync_record_write(record_id=record.pk) == Status.HELD
    record.refresh_from_db()
    assert record.reason == Reason.GREENHOUSE_UNREACHABLE
    return record


def test_retry_on_a_record_held_for_an_outage_tests_the_connection_first(
    synced, harvest_sandbox, settings
):
    record = held_for_outage(synced, harvest_sandbox, settings)

    # Still down: the record stays held and says what the test found, not "queued again".
    assert sync_records_retry(records=SyncRecord.objects.filter(pk=record.pk)) == 0
    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.HELD, Reason.GREENHOUSE_UNREACHABLE)
    assert record.last_error.startswith("Host unreachable")
    token_calls = [r for r in harvest_sandbox.requests() if r["path"] == "/token"]

    harvest_sandbox.clear_faults()
    assert sync_records_retry(records=SyncRecord.objects.filter(pk=record.pk)) == 1
    record.refresh_from_db()
    assert record.status == Status.PENDING
    synced.integration.refresh_from_db()
    assert synced.integration.health == GreenhouseIntegration.Health.OK
    assert synced.integration.unreachable_since is None
    assert len([r for r in harvest_sandbox.requests() if r["path"] == "/token"]) > len(token_calls)
    assert sync_record_write(record_id=record.pk) == "written"


def test_the_recheck_is_fast_at_first_and_slower_later(settings):
    settings.GREENHOUSE_RECHECK_MIN_DELAY = 30
    settings.GREENHOUSE_RECHECK_MAX_DELAY = 900
    delays = [
        recheck_delay(unhealthy_for=timedelta(minutes=m)).total_seconds()
        for m in (0, 1, 2, 10, 30, 120)
    ]
    assert delays == [30, 30, 60, 300, 900, 900]


def test_an_unhealthy_connection_is_rechecked_by_its_own_delay(synced, harvest_sandbox, settings):
    settings.GREENHOUSE_RECHECK_MIN_DELAY = 30
    held_for_outage(synced, harvest_sandbox, settings)
    now = timezone.now()
    integration = GreenhouseIntegration.objects.get(pk=synced.integration.pk)
    assert integration.unreachable_since is not None

    # Just checked: not yet. Unhealthy for an hour, checked 10 minutes ago: not yet either
    # (the delay has grown to its maximum, 15 minutes). Checked 31 minutes ago: now.
    assert greenhouse_connections_recheck(now=now) == 0
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(
        unhealthy_since=now - timedelta(hours=1), last_checked_at=now - timedelta(minutes=10)
    )
    assert greenhouse_connections_recheck(now=now) == 0
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(
        last_checked_at=now - timedelta(minutes=31)
    )
    assert greenhouse_connections_recheck(now=now) == 1
