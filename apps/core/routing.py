"""Which Celery queue a task goes to: one queue per kind of work, so sending never waits on sync.

Greenhouse answers slowly and rations requests (a rate budget per credential): a backlog of note
writes may take hours to drain. If email, SMS, the step scheduler and inbound processing shared
that queue, a recruiter's reply would wait behind every note. So there are two kinds:

- `send`: sending email and SMS, scheduling sequence steps, processing inbound messages, the
  bot email to recruiters and the worker ping: everything a person waits for, none of it calls
  Greenhouse;
- `sync`: everything that calls Greenhouse (note writes, the sync sweep, connection rechecks,
  user mappings).

Routing is by the task's module, in this one place, so a new task in a module is routed with
its neighbours without an edit here. Queue names derive from one prefix (settings
CELERY_QUEUE_PREFIX, env CELERY_QUEUE): `<prefix>-send` and `<prefix>-sync`. Tests and benchmarks
give each run a prefix of its own, so their workers never take a developer's tasks.

Pure (no Django, no Celery import): tests/processes.py and the benchmarks build worker command
lines from it.
"""

SEND = "send"
SYNC = "sync"
KINDS = (SEND, SYNC)

# Task-name prefixes and the kind of their tasks; the longest matching prefix wins.
_KIND_BY_PREFIX = {
    "apps.greenhouse.tasks.": SYNC,
    # The bot email tells a recruiter a thread is synced: it is an email, it never calls
    # Greenhouse, and a recruiter should get it while the thread's notes still wait.
    "apps.greenhouse.tasks.bot_notice_send_task": SEND,
    # The alerts to team admins only read the database and send an email (issue 16).
    "apps.greenhouse.tasks.team_alerts_evaluate_task": SEND,
    "apps.greenhouse.tasks.alert_email_send_task": SEND,
    "apps.messaging.tasks.": SEND,
    "apps.core.tasks.": SEND,
}
# Tasks of other modules (Celery's own, tests' tasks) go with the quick work.
DEFAULT_KIND = SEND


def queue_name(prefix: str, kind: str) -> str:
    """The broker queue of one kind of work, e.g. `outreach-sync`."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of queue {kind!r}; kinds: {', '.join(KINDS)}")
    return f"{prefix}-{kind}"


def queue_names(prefix: str, kinds: tuple[str, ...] | list[str] = KINDS) -> list[str]:
    return [queue_name(prefix, kind) for kind in kinds]


def task_kind(task_name: str) -> str:
    """The kind of work of a task, by its dotted name."""
    matches = [prefix for prefix in _KIND_BY_PREFIX if task_name.startswith(prefix)]
    if not matches:
        return DEFAULT_KIND
    return _KIND_BY_PREFIX[max(matches, key=len)]
