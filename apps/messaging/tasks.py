"""Thin Celery tasks: load by id, call a service. Retries wait in the database (see services)."""

from celery import shared_task


@shared_task(acks_late=True)
def message_send_task(message_id: int) -> str:
    from .services import message_deliver

    return message_deliver(message_id=message_id)


@shared_task(acks_late=True)
def messages_sweep_task() -> int:
    from .services import messages_sweep

    return messages_sweep()
