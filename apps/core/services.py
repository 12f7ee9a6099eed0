import socket

from django.db import transaction
from django.utils import timezone

from .models import WorkerPing
from .queue import queue_task_on_commit


@transaction.atomic
def worker_ping_request(*, requested_by: str) -> WorkerPing:
    from .tasks import worker_ping_answer_task

    ping = WorkerPing.objects.create(requested_by=requested_by)
    queue_task_on_commit(worker_ping_answer_task, ping.pk)
    return ping


def worker_ping_answer(*, ping_id: int) -> None:
    # Idempotent: a redelivered message leaves the first answer in place.
    WorkerPing.objects.filter(pk=ping_id, answered_at=None).update(
        answered_at=timezone.now(), answered_by=socket.gethostname()
    )
