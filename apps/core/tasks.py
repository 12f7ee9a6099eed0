from celery import shared_task


@shared_task(acks_late=True)
def worker_ping_answer_task(ping_id: int) -> None:
    from .services import worker_ping_answer

    worker_ping_answer(ping_id=ping_id)


@shared_task(acks_late=True)
def worker_ping_scheduled_task() -> None:
    from .services import worker_ping_request

    worker_ping_request(requested_by="beat")
