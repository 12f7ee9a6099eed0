"""Thin Celery tasks: load by id, call a service. Retries wait in the database (see sync.py)."""

from celery import shared_task


@shared_task(acks_late=True)
def sync_team_write_task(team_id: int, token: str | None = None) -> dict:
    """One batch of a team's sync records (batch.py); queued through the team's lane."""
    from .batch import sync_team_write

    return sync_team_write(team_id=team_id, token=token)


@shared_task(acks_late=True)
def sync_record_write_task(record_id: int) -> str:
    """One record: messages queued before the lanes (during a deploy), and by hand."""
    from .sync import sync_record_write

    return sync_record_write(record_id=record_id)


@shared_task(acks_late=True)
def sync_records_sweep_task() -> dict:
    from .sweeper import sync_records_sweep

    return sync_records_sweep()


@shared_task(acks_late=True)
def bot_notice_send_task(thread_id: int) -> str:
    from .bot_notice import bot_notice_send

    return bot_notice_send(thread_id=thread_id)


@shared_task(acks_late=True)
def greenhouse_connections_recheck_task() -> int:
    from .sweeper import greenhouse_connections_recheck

    return greenhouse_connections_recheck()


@shared_task(acks_late=True)
def greenhouse_user_mappings_refresh_task() -> int:
    from .connection import greenhouse_user_mappings_refresh_due

    return greenhouse_user_mappings_refresh_due()


@shared_task(acks_late=True)
def team_alerts_evaluate_task() -> int:
    """The beat's alerts run (alerts.py): no Greenhouse call, so on the send queue."""
    from .alerts import team_alerts_evaluate_all

    return team_alerts_evaluate_all()


@shared_task(acks_late=True)
def alert_email_send_task(pk: int) -> str:
    from .alerts import alert_email_send

    return alert_email_send(pk=pk)
