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
def prospect_lookup_task(lookup_id: int) -> str:
    """One scheduled re-lookup of a prospect not in Greenhouse yet (waiting.py); queued by the
    sweeper when due, or at once when the prospect gains an email address."""
    from .waiting import prospect_lookup_run

    return prospect_lookup_run(lookup_id=lookup_id)


@shared_task(acks_late=True)
def sync_records_sweep_task() -> dict:
    from .sweeper import sync_records_sweep

    return sync_records_sweep()


@shared_task(acks_late=True)
def bot_notice_send_task(thread_id: int) -> str:
    from .bot_notice import bot_notice_send

    return bot_notice_send(thread_id=thread_id)


@shared_task(acks_late=True)
def review_notice_send_task(review_id: int) -> str:
    """The bot email saying a sensitive message waits for the recruiter's review."""
    from .bot_notice import review_notice_send

    return review_notice_send(review_id=review_id)


@shared_task(acks_late=True)
def greenhouse_connections_recheck_task() -> int:
    from .sweeper import greenhouse_connections_recheck

    return greenhouse_connections_recheck()


@shared_task(acks_late=True)
def greenhouse_user_mappings_refresh_task() -> int:
    from .connection import greenhouse_user_mappings_refresh_due

    return greenhouse_user_mappings_refresh_due()


@shared_task(acks_late=True)
def candidate_create_task(prospect_id: int) -> str:
    """The team's automatic creation of one prospect's candidate (creation.py): any number of
    these for a prospect send one POST at most; a deferral queues itself again at its slot."""
    from .creation import candidate_auto_create, candidate_create_queue_on_commit

    result = candidate_auto_create(prospect_id=prospect_id)
    if result is None:
        return "nothing to do"
    if result.outcome == "deferred" and result.retry_after is not None:
        candidate_create_queue_on_commit(prospect_id=prospect_id, countdown=result.retry_after)
    return result.outcome


@shared_task(acks_late=True)
def candidate_directory_pass_task(team_id: int) -> str:
    """A crawl or refresh of the team's candidate directory (directory.py), for a while; it
    queues itself again while it has pages to go. One at a time per team (a lease)."""
    from .directory import directory_pass_run

    return directory_pass_run(team_id=team_id)


@shared_task(acks_late=True)
def team_alerts_evaluate_task() -> int:
    """The beat's alerts run (alerts.py): no Greenhouse call, so on the send queue."""
    from .alerts import team_alerts_evaluate_all

    return team_alerts_evaluate_all()


@shared_task(acks_late=True)
def alert_email_send_task(pk: int) -> str:
    from .alerts import alert_email_send

    return alert_email_send(pk=pk)
