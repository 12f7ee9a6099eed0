"""The outbox base (apps/core/outbox.py) on a model of its own, a table created for these tests:
the claim is exclusive between connections, retries follow the one backoff formula with bounded
attempts, and the sweep queues due rows whose lease ran out, and nothing else. Tasks go to the
real broker of the test run (never consumed here) and are counted there.

Runs on the embedded default (SQLite, filesystem broker) and on PostgreSQL + Redis.
"""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from celery import shared_task
from django.db import connection, models
from django.test.utils import isolate_apps
from django.utils import timezone

from apps.core.backoff import RetryPolicy, backoff_delay
from apps.core.outbox import OutboxBase
from tests.fixtures.worker import broker_messages, broker_purge

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = timedelta(minutes=10)
STALE = timedelta(minutes=5)
SWEEP = {"stale_after": STALE, "lease": LEASE, "gave_up_error": "gave up", "rescued_error": "again"}


@shared_task(name="tests.core.outbox_job")
def outbox_job(job_id: int) -> None:
    """Never run: the tests count its messages in the broker."""


@pytest.fixture
def Job(transactional_db):
    with isolate_apps("apps.core"):

        class Job(OutboxBase):
            class Status(models.TextChoices):
                WAITING = "waiting"
                WORKING = "working"
                DONE = "done"
                BROKEN = "broken"

            OUTBOX_PENDING = Status.WAITING
            OUTBOX_CLAIMED = Status.WORKING
            OUTBOX_FAILED = Status.BROKEN
            OUTBOX_TASK = "tests.core.test_outbox.outbox_job"
            status = models.CharField(max_length=10, default=Status.WAITING)
            error = models.TextField(blank=True)

            class Meta:
                app_label = "core"
                db_table = "test_outbox_job"

            @classmethod
            def outbox_retry_policy(cls):
                return RetryPolicy(max_attempts=3, base_delay=10.0, max_delay=25.0)

    with connection.schema_editor() as editor:
        editor.create_model(Job)
    broker_purge()
    yield Job
    broker_purge()
    with connection.schema_editor() as editor:
        editor.delete_model(Job)


def in_threads(count: int, work) -> list:
    """Run `work(index)` in `count` threads, each with its own database connection."""
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(index):
        try:
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    return results


# --- claim() -----------------------------------------------------------------------------------


def test_a_claim_is_exclusive_between_two_connections(Job):
    ids = [Job.objects.create().pk for _ in range(40)]
    barrier = threading.Barrier(2, timeout=60)

    def claim_all(_):
        won = []
        for pk in ids:
            barrier.wait()  # both connections go for the same row at the same moment
            if Job.claim(pk=pk) is not None:
                won.append(pk)
        return won

    first, second = in_threads(2, claim_all)

    assert sorted(first + second) == ids  # every row claimed once, by exactly one of the two
    assert not set(first) & set(second)
    assert set(Job.objects.values_list("status", "attempts")) == {(Job.Status.WORKING, 1)}


def test_a_claim_takes_only_a_pending_due_row_and_consumes_its_lease(Job):
    now = timezone.now()
    later = Job.objects.create(next_attempt_at=now + timedelta(minutes=1), queued_at=now)
    done = Job.objects.create(status=Job.Status.DONE)
    due = Job.objects.create(next_attempt_at=now - timedelta(seconds=1), queued_at=now)

    assert Job.claim(pk=later.pk, now=now) is None
    assert Job.claim(pk=done.pk, now=now) is None
    assert Job.claim(pk=due.pk, now=now) == now
    assert Job.claim(pk=due.pk, now=now) is None  # a redelivered task does nothing
    due.refresh_from_db()
    assert (due.status, due.attempts, due.claimed_at, due.queued_at) == (
        Job.Status.WORKING,
        1,
        now,
        None,
    )
    assert Job.held(pk=due.pk, claimed_at=now).exists()
    assert not Job.held(pk=due.pk, claimed_at=now - timedelta(seconds=1)).exists()


def test_a_task_that_runs_without_claiming_gives_its_lease_back(Job):
    now = timezone.now()
    job = Job.objects.create(next_attempt_at=now + timedelta(minutes=1), queued_at=now)
    assert Job.claim(pk=job.pk) is None
    Job.release(pk=job.pk)
    job.refresh_from_db()
    assert job.queued_at is None and job.status == Job.Status.WAITING


# --- retry_later() -----------------------------------------------------------------------------


def test_the_one_backoff_formula_doubles_up_to_its_cap_with_jitter():
    for attempt, full in [(1, 10), (2, 20), (3, 40), (4, 60), (30, 60)]:
        delays = {backoff_delay(attempt, base=10, cap=60) for _ in range(20)}
        assert all(timedelta(seconds=full / 2) <= d <= timedelta(seconds=full) for d in delays)
        assert len(delays) > 1  # jitter: rows that failed together come back spread out


def test_retry_later_backs_off_with_the_policy_and_gives_up_after_the_last_attempt(Job):
    job = Job.objects.create()
    waits = []
    for attempt in (1, 2):
        claimed_at = Job.claim(pk=job.pk)
        before = timezone.now()
        next_at = Job.retry_later(
            pk=job.pk, claimed_at=claimed_at, attempts=attempt, reason="provider down"
        )
        job.refresh_from_db()
        assert job.status == Job.Status.WAITING and job.claimed_at is None
        assert job.next_attempt_at == next_at
        assert job.error.startswith(f"Attempt {attempt} of 3 failed, trying again at ")
        assert job.error.endswith(": provider down")
        waits.append(next_at - before)
        Job.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())
    assert timedelta(seconds=5) <= waits[0] <= timedelta(seconds=10.5)
    assert timedelta(seconds=10) <= waits[1] <= timedelta(seconds=20.5)

    claimed_at = Job.claim(pk=job.pk)
    assert Job.retry_later(pk=job.pk, claimed_at=claimed_at, attempts=3, reason="x") is None
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.WORKING, 3)  # the caller marks it failed
    assert Job.gave_up_error(3, "x") == "Gave up after 3 attempts. Last error: x"


def test_retry_later_honours_a_longer_wait_and_only_the_current_claim(Job):
    job = Job.objects.create()
    claimed_at = Job.claim(pk=job.pk)
    stale = claimed_at - timedelta(seconds=1)
    Job.retry_later(pk=job.pk, claimed_at=stale, attempts=1, reason="lost claim")
    job.refresh_from_db()
    assert job.status == Job.Status.WORKING  # another worker's claim: not touched

    next_at = Job.retry_later(
        pk=job.pk, claimed_at=claimed_at, attempts=1, reason="429", at_least=timedelta(hours=1)
    )
    assert next_at - timezone.now() > timedelta(minutes=59)


# --- sweep() -----------------------------------------------------------------------------------


def test_the_sweep_queues_due_rows_whose_lease_ran_out_and_nothing_else(Job):
    now = timezone.now()
    expired = now - LEASE - timedelta(seconds=1)
    make = Job.objects.create
    queue = {
        "lease ran out": make(queued_at=expired),
        "never queued": make(),
        "retry due": make(next_attempt_at=now - timedelta(seconds=1)),
        "dead worker": make(status=Job.Status.WORKING, claimed_at=now - STALE * 2, attempts=1),
    }
    leave = {
        "task on its way": make(queued_at=now - LEASE + timedelta(seconds=5)),
        "retry not due": make(next_attempt_at=now + timedelta(minutes=1)),
        "lease ran out, not due": make(queued_at=expired, next_attempt_at=now + timedelta(hours=1)),
        "working": make(status=Job.Status.WORKING, claimed_at=now - timedelta(minutes=1)),
        "done": make(status=Job.Status.DONE),
        "broken": make(status=Job.Status.BROKEN),
    }
    dead_too_often = make(status=Job.Status.WORKING, claimed_at=now - STALE * 2, attempts=3)

    with mock.patch.object(outbox_job, "apply_async", wraps=outbox_job.apply_async) as sent:
        result = Job.sweep(now=now, **SWEEP)

    assert sorted(c.kwargs["args"][0] for c in sent.call_args_list) == sorted(
        j.pk for j in queue.values()
    )
    assert (result.queued, result.rescued, result.gave_up) == (4, 1, 1)
    assert broker_messages() == 4
    for job in queue.values():
        job.refresh_from_db()
        assert (job.status, job.queued_at) == (Job.Status.WAITING, now)
    assert queue["dead worker"].error == "again"
    dead_too_often.refresh_from_db()
    assert (dead_too_often.status, dead_too_often.error) == (Job.Status.BROKEN, "gave up")
    for name, job in leave.items():
        before = (job.status, job.queued_at)
        job.refresh_from_db()
        assert (job.status, job.queued_at) == before, name


def test_sweeps_while_tasks_are_queued_add_no_message_and_a_lost_task_is_queued_once_per_lease(
    Job,
):
    now = timezone.now()
    jobs = [Job.objects.create() for _ in range(30)]
    assert Job.sweep(now=now, **SWEEP).queued == 30
    assert broker_messages() == 30

    for minute in range(1, 6):  # 5 sweeps while the tasks wait in the broker: nothing added
        assert Job.sweep(now=now + timedelta(minutes=minute), **SWEEP).queued == 0
    assert broker_messages() == 30

    broker_purge()  # the tasks are lost (a broker restarted without persistence)
    assert Job.sweep(now=now + LEASE - timedelta(seconds=1), **SWEEP).queued == 0
    after_lease = now + LEASE + timedelta(seconds=1)
    for _ in range(3):
        Job.sweep(now=after_lease, **SWEEP)
    assert broker_messages() == 30  # once for the expired lease, not once per sweep

    for _ in range(3):
        Job.sweep(now=after_lease + LEASE + timedelta(seconds=1), **SWEEP)
    assert broker_messages() == 60  # the next expired lease: once more
    assert {j.pk for j in jobs} == set(Job.objects.values_list("pk", flat=True))


def test_two_sweepers_at_once_queue_each_row_once(Job):
    Job.objects.bulk_create([Job() for _ in range(200)])
    now = timezone.now()
    barrier = threading.Barrier(2, timeout=60)

    def sweep(_):
        queued = 0
        for _ in range(5):  # 5 rounds of 50, both sweepers starting each round together
            barrier.wait()
            queued += Job.sweep(now=now, batch=50, **SWEEP).queued
        return queued

    counts = in_threads(2, sweep)

    assert sum(counts) == 200
    assert broker_messages() == 200
    assert not Job.objects.filter(queued_at=None).exists()


def test_a_publish_that_fails_drops_the_lease_so_the_next_sweep_queues_the_rows(Job):
    now = timezone.now()
    [Job.objects.create() for _ in range(3)]
    with mock.patch.object(outbox_job, "apply_async", side_effect=OSError("broker down")):
        assert Job.sweep(now=now, **SWEEP).queued == 3
    assert not Job.objects.exclude(queued_at=None).exists()
    assert broker_messages() == 0

    assert Job.sweep(now=now + timedelta(seconds=20), **SWEEP).queued == 3
    assert broker_messages() == 3


def test_waking_a_row_takes_its_lease_and_queues_it_on_commit(Job):
    job = Job.objects.create()
    done = Job.objects.create(status=Job.Status.DONE)
    assert Job.wake(pk__in=[job.pk, done.pk]) == 1
    assert broker_messages() == 1
    job.refresh_from_db()
    assert job.queued_at is not None
    assert Job.sweep(**SWEEP).queued == 0  # its task is on its way

    fresh = Job.objects.create(queued_at=timezone.now())
    fresh.wake_on_commit()
    assert broker_messages() == 2
    with pytest.raises(ValueError, match="queued_at"):
        Job.objects.create().wake_on_commit()
