"""Celery workers keep their database connection from one task to the next.

Celery's Django fixup closes every database connection before and after each task unless
CELERY_DB_REUSE_MAX is set: on PostgreSQL that made two new sessions per task (a TCP and
authentication handshake and a new backend process each time), about half of a small task's
cost. Web requests keep theirs for CONN_MAX_AGE seconds, and Django calls
`close_old_connections()` at each request's start and end. This module gives tasks the same rule:

- settings.CELERY_DB_REUSE_MAX makes the fixup leave connections open between tasks (it still
  closes, without touching the socket, the ones a forked pool child inherited from its parent,
  and it recycles a connection after that many tasks, which bounds a backend's memory);
- before and after each task, `close_old_connections()` closes a connection older than
  CONN_MAX_AGE, or one that had an error and no longer answers, and re-arms CONN_HEALTH_CHECKS,
  so that the next task's first query checks the connection and reconnects if it is gone (a
  PostgreSQL restart or a `pg_terminate_backend` between two tasks costs a reconnect, never a
  failed task).

Eager tasks (`.apply()` in tests) run inside their caller's transaction: like the fixup, we leave
those connections alone. Connected from config/celery.py, so every worker gets it.
"""

from typing import Any

from celery import signals
from django.db import close_old_connections

_DISPATCH_UID = "apps.core.worker_db"


def _between_tasks(sender: Any = None, **kwargs: Any) -> None:
    request = getattr(sender, "request", None)
    if getattr(request, "is_eager", False):
        return
    close_old_connections()


def connect_signals() -> None:
    """Check the connections at each task's start and end (idempotent)."""
    signals.task_prerun.connect(_between_tasks, weak=False, dispatch_uid=f"{_DISPATCH_UID}.pre")
    signals.task_postrun.connect(_between_tasks, weak=False, dispatch_uid=f"{_DISPATCH_UID}.post")
