"""Thin Celery tasks: load by id, call a service. Retries wait in the database (see delivery.py)."""

from celery import shared_task


@shared_task(acks_late=True)
def message_send_task(message_id: int) -> str:
    from .delivery import message_deliver

    return message_deliver(message_id=message_id)


@shared_task(acks_late=True)
def messages_sweep_task() -> int:
    from .delivery import messages_sweep

    return messages_sweep()


@shared_task(acks_late=True)
def sequence_steps_dispatch_task() -> int:
    """Beat runs the step scheduler every few seconds (settings.CELERY_BEAT_SCHEDULE)."""
    from .steps import sequence_steps_dispatch

    return sequence_steps_dispatch()
