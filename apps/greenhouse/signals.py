"""Receivers of other apps' signals. One line each: the work is in services."""


def enrollment_preflight_warnings(sender, *, sequence, prospects, **kwargs) -> list[str]:
    from .preflight import greenhouse_enrollment_preflight

    return greenhouse_enrollment_preflight(sequence=sequence, prospects=prospects)


def message_recorded_sync(sender, *, message, created, **kwargs) -> None:
    from .sync import sync_record_create

    sync_record_create(message=message)


def prospect_email_saved(sender, *, instance, created, **kwargs) -> None:
    """A prospect gained an email address: if messages of theirs wait for a Greenhouse
    candidate, look them up at once (waiting.py)."""
    if created:
        from .waiting import prospect_lookup_now

        prospect_lookup_now(prospect_ids=[instance.prospect_id])
