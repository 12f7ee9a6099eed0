"""Queue Celery tasks after the surrounding transaction commits.

The row that describes the work is always written first, in the caller's transaction: the Celery
message only wakes a worker up. If the broker is unreachable at commit time the error is logged
(robust=True) and the periodic sweepers find the row later, so the request that did the work
still succeeds.
"""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def queue_task_on_commit(task, *args, **kwargs) -> None:
    """Send `task` with the given arguments once the current transaction commits."""

    def send():
        try:
            task.apply_async(args=args, kwargs=kwargs)
        except Exception:
            logger.exception("Could not queue %s; a sweeper will pick the work up", task.name)

    transaction.on_commit(send, robust=True)
