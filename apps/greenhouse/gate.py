"""The switch gate: turning the sync off, disabling it, or pausing a candidate happens either
wholly before a note's POST or wholly after it, never during it.

A worker decides again after every wait (rate budget, token refresh, candidate lookup), but a
decision read a moment before the POST can still miss a switch that commits in that moment: a
team that turned sync off to keep private mail from interviewers saw 4 notes written 3 to 15
seconds later. So each POST is sent while the worker holds the team's gate *shared*, after
reading the switches again under it; every switch change commits while holding it *exclusive*.
A switch therefore waits for POSTs already on the wire (at most the connect + read timeouts),
and any POST after it sees it.

- PostgreSQL: the integration's row lock. Writers take `FOR SHARE` (several at once), a switch
  takes `FOR UPDATE` in the transaction that commits the change.
- SQLite (the embedded default, one machine): row locks do not exist, so an advisory file lock
  per team in settings.GREENHOUSE_SWITCH_LOCK_DIR (flock shared / exclusive) stands in for it,
  held by a switch until its transaction has committed.
"""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from .models import GreenhouseIntegration


def _uses_row_locks() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def _file_lock(team_id: int, mode: int) -> Iterator[None]:
    folder = Path(settings.GREENHOUSE_SWITCH_LOCK_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"team-{int(team_id)}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), mode)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def switch_gate_shared(*, team_id: int) -> Iterator[None]:
    """Held by a worker from its last look at the switches until Greenhouse has answered."""
    if _uses_row_locks():
        with transaction.atomic():
            table = GreenhouseIntegration._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f'SELECT 1 FROM "{table}" WHERE team_id = %s FOR SHARE',  # noqa: S608
                    [team_id],
                )
            yield
    else:
        with _file_lock(team_id, fcntl.LOCK_SH):
            yield


@contextmanager
def switch_change(*, team_id: int) -> Iterator[GreenhouseIntegration | None]:
    """A switch change for the team: waits for the team's POSTs on the wire, then yields the
    integration locked for update (None when the team has none) inside a transaction that
    commits before the gate opens again."""
    # (Inside an outer transaction on SQLite the commit comes after the file lock is released;
    # the services that call this are not run inside one, except by tests.)
    if _uses_row_locks():
        with transaction.atomic():
            yield GreenhouseIntegration.objects.select_for_update().filter(team_id=team_id).first()
    else:
        with _file_lock(team_id, fcntl.LOCK_EX), transaction.atomic():
            yield GreenhouseIntegration.objects.filter(team_id=team_id).first()
