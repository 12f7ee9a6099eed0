"""Receivers of other apps' signals. One line each: the work is in services."""


def enrollment_preflight_warnings(sender, *, sequence, prospects, **kwargs) -> list[str]:
    from .preflight import greenhouse_enrollment_preflight

    return greenhouse_enrollment_preflight(sequence=sequence, prospects=prospects)


def message_recorded_sync(sender, *, message, created, **kwargs) -> None:
    from .sync import sync_record_create

    sync_record_create(message=message)
