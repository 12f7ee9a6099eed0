"""Queue Celery tasks after the surrounding transaction commits.

The row that describes the work is always written first, in the caller's transaction: the Celery
message only wakes a worker up. If the broker is unreachable at commit time the error is logged
(robust=True) and the periodic sweepers find the row later, so the request that did the work
still succeeds. `on_failure` lets the caller say so in the row at once (the outbox clears the
row's lease, so the next sweep queues it instead of waiting for the lease to run out).
"""

import logging
from collections.abc import Callable, Sequence

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


def queue_tasks_on_commit(
    task,
    arg_lists: Sequence[Sequence],
    *,
    on_failure: Callable[[list[Sequence]], None] | None = None,
) -> None:
    """Send `task` once per argument list once the current transaction commits.

    At the first broker error the rest is not attempted (the broker is down: every other send
    would fail too, and log as much); `on_failure` gets the argument lists that were not sent.
    """
    arg_lists = [list(args) for args in arg_lists]
    if not arg_lists:
        return

    def send():
        for index, args in enumerate(arg_lists):
            try:
                task.apply_async(args=args)
            except Exception:
                unsent = arg_lists[index:]
                logger.exception(
                    "Could not queue %s (%d not sent); a sweeper will pick the work up",
                    task.name,
                    len(unsent),
                )
                if on_failure is not None:
                    on_failure(unsent)
                return

    transaction.on_commit(send, robust=True)
