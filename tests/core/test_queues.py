"""Queues by kind (apps/core/routing.py, config/celery.py): every task goes to the queue of its
kind, a worker of the send queue sends while Greenhouse work waits, and a beat tick that waited
past its expiry is dropped by a real worker instead of run late."""

import time

import pytest
from django.conf import settings

from apps.core.models import WorkerPing
from apps.core.routing import SEND, SYNC, queue_name, task_kind
from apps.greenhouse.tasks import sync_record_write_task
from apps.messaging.models import Message
from apps.messaging.tasks import sequence_steps_dispatch_task
from apps.sequences.services import prospects_enroll, sequence_create
from config.celery import app as celery_app
from tests.fixtures.worker import TEST_QUEUE, broker_messages, broker_purge, wait_for
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory
from tests.teams.factories import TeamFactory, recruiter


@pytest.fixture(autouse=True)
def _every_task_registered():
    celery_app.loader.import_default_modules()  # what a worker imports at start (autodiscovery)


def routed_queue(task_name: str) -> str:
    """The queue a publish of `task_name` goes to, as Celery's router decides it."""
    return celery_app.amqp.router.route({}, task_name)["queue"].name


# Greenhouse's tasks that never call Greenhouse: emails to people, and the alerts' evaluation.
GREENHOUSE_SEND_TASKS = {
    "apps.greenhouse.tasks.bot_notice_send_task",
    "apps.greenhouse.tasks.team_alerts_evaluate_task",
    "apps.greenhouse.tasks.alert_email_send_task",
}


def test_every_task_of_the_apps_goes_to_the_queue_of_its_kind():
    names = sorted(name for name in celery_app.tasks if name.startswith("apps."))
    expected = {
        name: SYNC
        if name.startswith("apps.greenhouse.tasks.") and name not in GREENHOUSE_SEND_TASKS
        else SEND
        for name in names
    }
    assert {name: routed_queue(name) for name in names} == {
        name: queue_name(TEST_QUEUE, kind) for name, kind in expected.items()
    }
    assert expected["apps.greenhouse.tasks.sync_record_write_task"] == SYNC
    assert expected["apps.messaging.tasks.message_send_task"] == SEND
    assert expected["apps.core.tasks.worker_ping_answer_task"] == SEND
    assert expected["apps.greenhouse.tasks.alert_email_send_task"] == SEND


def test_a_new_task_is_routed_by_its_module_without_an_edit():
    assert task_kind("apps.greenhouse.tasks.sync_team_write_task") == SYNC
    assert task_kind("apps.messaging.tasks.inbox_process_task") == SEND
    assert task_kind("apps.core.tasks.anything_task") == SEND
    assert task_kind("apps.greenhouse.tasks.bot_notice_send_task") == SEND
    # A queue given at the call wins over the route.
    route = celery_app.amqp.router.route(
        {"queue": "elsewhere"}, "apps.greenhouse.tasks.sync_record_write_task"
    )
    assert route["queue"].name == "elsewhere"


def test_every_beat_tick_expires_before_the_next_one_is_due():
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        expires = entry["options"]["expires"]
        assert 0 < expires < entry["schedule"], name


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_send_worker_sends_while_greenhouse_work_waits_in_its_own_queue(
    celery_worker_factory, tmp_path
):
    broker_purge()
    backlog = 200
    for n in range(backlog):  # a Greenhouse backlog no sync worker takes
        sync_record_write_task.apply_async(args=[10**9 + n])
    assert broker_messages((SYNC,)) == backlog

    team = TeamFactory()
    owner = recruiter(team)
    sequence = sequence_create(
        team=team,
        owner=owner,
        name="Isolation",
        steps=[{"subject_template": "Hello {{ first_name }}", "body_template": "Step one"}],
    )
    prospect = ProspectFactory(team=team)
    ProspectEmailFactory(prospect=prospect)
    prospects_enroll(sequence=sequence, prospects=[prospect], enrolled_by=owner)
    env = {
        "DEV_OUTBOX_DIR": str(tmp_path / "outbox"),
        "EMAIL_BACKEND": "apps.messaging.backends.DevOutboxEmailBackend",
        "ANYMAIL_ESP": "",
    }
    celery_worker_factory(kinds=(SEND,), extra_env=env)
    sequence_steps_dispatch_task.delay()

    sent = wait_for(
        lambda: Message.objects.filter(status=Message.Status.SENT).first(),
        message="the send worker did not send the step",
    )
    assert sent.enrollment.prospect_id == prospect.pk
    assert len(list((tmp_path / "outbox" / "email").glob("*.eml"))) == 1
    # The send worker took nothing of the sync queue.
    assert broker_messages((SYNC,)) == backlog
    assert broker_messages((SEND,)) == 0
    broker_purge()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_beat_tick_that_expired_in_the_queue_is_discarded_by_a_real_worker(
    celery_worker_factory,
):
    broker_purge()
    entry = settings.CELERY_BEAT_SCHEDULE["worker-ping"]
    task = celery_app.tasks[entry["task"]]
    # A tick that expired while the workers were busy or down (its entry's expiry, made short).
    stale = task.apply_async(expires=1.0)
    time.sleep(1.5)
    fresh = task.apply_async(**entry["options"])  # the next tick, on time

    worker = celery_worker_factory()
    wait_for(
        lambda: WorkerPing.objects.filter(requested_by="beat", answered_at__isnull=False).exists(),
        message="the worker did not run the fresh tick",
    )
    if settings.CELERY_BROKER_URL.startswith(("amqp://", "pyamqp://")):
        pass  # RabbitMQ drops it itself: Celery gives the message a TTL of `expires`
    else:
        wait_for(lambda: f"Discarding revoked task: {entry['task']}[{stale.id}]" in worker.log)
    time.sleep(1)  # the stale tick would have run by now: it came first
    assert WorkerPing.objects.filter(requested_by="beat").count() == 1
    assert f"{entry['task']}[{fresh.id}] succeeded" in worker.log
    assert broker_messages() == 0
