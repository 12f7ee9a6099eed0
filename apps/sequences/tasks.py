"""Thin Celery tasks for sequences. Beat runs the dispatcher every few seconds (settings)."""

from celery import shared_task


@shared_task(acks_late=True)
def sequence_steps_dispatch_task() -> int:
    from .scheduler import sequence_steps_dispatch

    return sequence_steps_dispatch()
