import pytest
from django.db import transaction

from apps.core.models import WorkerPing
from apps.core.services import worker_ping_request
from tests.fixtures.worker import wait_for


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_process_runs_a_task_queued_on_commit(celery_worker_factory):
    celery_worker_factory()

    ping = worker_ping_request(requested_by="test")

    answered = wait_for(
        lambda: WorkerPing.objects.filter(pk=ping.pk, answered_at__isnull=False).first(),
        message="the worker did not answer the ping",
    )
    assert answered.answered_by
    assert answered.latency.total_seconds() >= 0


@pytest.mark.django_db
def test_the_task_is_queued_only_when_the_transaction_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        worker_ping_request(requested_by="test")
    assert len(callbacks) == 1

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        worker_ping_request(requested_by="test")
        raise RuntimeError("roll back")
    assert callbacks == []
    assert WorkerPing.objects.count() == 1
