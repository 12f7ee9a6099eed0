"""A worker keeps its database connection between tasks and recovers a broken one
(apps/core/worker_db.py), with a real worker process.

On PostgreSQL the worker's sessions are read from pg_stat_activity (the worker connects with an
application_name of its own), so a new session per task, or a task lost to a terminated
backend, shows. On SQLite (CONN_MAX_AGE 0, nothing to count server-side) the same tasks must
still all be answered.
"""

import uuid

import pytest
from django.db import connection

from apps.core.models import WorkerPing
from apps.core.services import worker_ping_request
from tests.fixtures.worker import database_url_for_children, wait_for

TASKS = 12


def _on_postgres() -> bool:
    return connection.vendor == "postgresql"


def _start_worker(celery_worker_factory) -> str:
    """A worker whose PostgreSQL sessions carry an application_name of their own."""
    name = f"worker-db-{uuid.uuid4().hex[:8]}"
    url = database_url_for_children()
    if _on_postgres():
        url += f"?application_name={name}"
    celery_worker_factory(concurrency=1, extra_env={"DATABASE_URL": url})
    return name


def _sessions(application_name: str) -> set[tuple[int, object]]:
    """(pid, backend_start) of the worker's live PostgreSQL sessions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        )
        return set(cursor.fetchall())


def _ping_answered() -> WorkerPing:
    ping = worker_ping_request(requested_by="test")
    return wait_for(
        lambda: WorkerPing.objects.filter(pk=ping.pk, answered_at__isnull=False).first(),
        message=f"the worker did not answer ping {ping.pk}",
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_tasks_after_the_first_open_no_new_database_session(celery_worker_factory):
    name = _start_worker(celery_worker_factory)
    _ping_answered()  # warm-up: the pool child connects once
    before = _sessions(name) if _on_postgres() else set()

    for _ in range(TASKS):
        _ping_answered()

    assert WorkerPing.objects.filter(answered_at__isnull=False).count() == TASKS + 1
    if _on_postgres():
        after = _sessions(name)
        assert len(before) == 1, before
        # The same backend (pid and start time) served every task: 0 new sessions per task.
        assert after == before


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_terminated_backend_costs_a_reconnect_not_a_task(celery_worker_factory):
    name = _start_worker(celery_worker_factory)
    _ping_answered()

    if _on_postgres():
        (old,) = _sessions(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [old[0]])
        wait_for(lambda: old not in _sessions(name), message="the backend was not terminated")

    second = _ping_answered()  # the first query of this task finds the connection gone

    assert second.answered_by
    if _on_postgres():
        (new,) = _sessions(name)
        assert new != old
        for _ in range(3):
            _ping_answered()
        assert _sessions(name) == {new}
