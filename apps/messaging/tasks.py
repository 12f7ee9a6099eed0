"""Thin Celery tasks: load by id, call a service. Retries wait in the database (see delivery.py)."""

from celery import shared_task


@shared_task(acks_late=True)
def message_send_task(message_id: int) -> str:
    from .delivery import message_deliver

    return message_deliver(message_id=message_id)


@shared_task(acks_late=True)
def messages_sweep_task() -> int:
    """Outbound messages and the inbound inbox: what a lost task or a dead worker left."""
    from .delivery import messages_sweep
    from .inbox import inbound_events_sweep

    return messages_sweep() + inbound_events_sweep()


@shared_task(acks_late=True)
def inbound_events_process_task() -> int:
    """One task serves every stored webhook event (woken coalesced, see inbox.py)."""
    from .inbox import inbound_events_process

    return inbound_events_process()


@shared_task(acks_late=True)
def sequence_steps_dispatch_task() -> int:
    """Beat runs the step scheduler every few seconds (settings.CELERY_BEAT_SCHEDULE)."""
    from .steps import sequence_steps_dispatch

    return sequence_steps_dispatch()
