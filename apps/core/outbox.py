"""One outbox mechanism for background work that must happen: the row is the truth, the Celery
message only wakes a worker up.

Message delivery, Greenhouse sync records and bot emails each had their own claim, backoff and
sweep code, and the sweeps shared a bug: every sweep queued every due pending row again, also
while the task queued for it was still waiting in the broker. Nothing was done twice (the claim
is exclusive), but the queue grew with every sweep for as long as a backlog lasted: 462 pending
records became 2,772 broker messages in 5 sweeps, and one bot-email backlog went from 3,541 to
20,235 messages. This base holds the one mechanism, in the spirit of Sentry's `OutboxBase`.

The lifecycle columns live here; each model keeps its own status vocabulary and names the three
states the mechanism needs (`OUTBOX_PENDING`, `OUTBOX_CLAIMED`, `OUTBOX_FAILED`), the task that
works a row (`OUTBOX_TASK`, called with the row's `OUTBOX_TASK_ARG`) and its retry policy.

- **The lease** (`queued_at`): set in the same write that makes a row pending and queues its
  task on commit (`wake_on_commit()`, `wake()`), and by the sweep in the very UPDATE that picks
  the rows it queues (so two sweepers never both queue a row). Until `queued_at + QUEUE_LEASE`
  the row's task is taken to be in the broker and the sweep leaves the row alone; after it, the
  task is taken to be lost and the sweep queues one more. A publish that fails clears the lease,
  so the next sweep does not wait for it to run out.
- **claim()**: the conditional UPDATE pending -> claimed that a worker runs before any work;
  exactly one caller wins. It counts the attempt and consumes the lease. A task that runs but
  does not claim (not due yet, waiting for an older row) gives the lease back: `release()`.
- **retry_later()**: back to pending with `next_attempt_at` from the one backoff formula
  (apps/core/backoff.py), or None once the attempts are used up (the caller marks it failed).
- **sweep()**: rows claimed longer than `stale_after` ago lost their worker and go back to
  pending (or to failed after the last attempt); then pending rows that are due and whose lease
  ran out (or that were never queued) are queued, at most `batch` per sweep.

apps/core imports no domain app: the models subclass this base, and name their task by its path.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, cast

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.sql import UpdateQuery
from django.utils import timezone
from django.utils.module_loading import import_string

from .backoff import RetryPolicy
from .queue import queue_tasks_on_commit

SWEEP_BATCH = 500
# How a sweep describes a send whose worker died, for the outboxes that send something (email,
# bot email); the Greenhouse writer words its own (it reads back before writing again).
SEND_GAVE_UP = "The worker stopped while sending, too many times; not sent again."
SEND_RESCUED = "The worker stopped while sending; sending again."
ERROR_MAX_LENGTH = 2000


def queue_lease() -> timedelta:
    """How long a queued task is trusted to be on its way (settings.QUEUE_LEASE, seconds)."""
    return timedelta(seconds=settings.QUEUE_LEASE)


def _due(now: datetime) -> Q:
    return Q(next_attempt_at=None) | Q(next_attempt_at__lte=now)


def _lease_over(cutoff: datetime) -> Q:
    return Q(queued_at=None) | Q(queued_at__lt=cutoff)


@dataclass
class SweepResult:
    gave_up: int = 0  # claimed by a dead worker once too often: failed
    rescued: int = 0  # claimed by a dead worker: pending again
    queued: int = 0  # tasks queued for due rows whose lease had run out


class OutboxBase(models.Model):
    """Abstract: the delivery lifecycle of a row that a Celery task works on (see the module)."""

    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a task for this row was last handed to the broker (the lease); NULL: none on its way.
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Declared by each model.
    OUTBOX_PENDING: ClassVar[str]
    OUTBOX_CLAIMED: ClassVar[str]
    OUTBOX_FAILED: ClassVar[str]
    OUTBOX_TASK: ClassVar[str]  # dotted path of the Celery task
    OUTBOX_TASK_ARG: ClassVar[str] = "pk"  # the field whose value the task takes
    OUTBOX_ERROR_FIELD: ClassVar[str] = "error"
    OUTBOX_SCOPE: ClassVar[Q] = Q()  # the model's rows that are outbox rows at all
    objects: ClassVar[models.Manager[Any]]  # each concrete model's default manager

    class Meta:
        abstract = True

    @classmethod
    def outbox_retry_policy(cls) -> RetryPolicy:
        raise NotImplementedError(f"{cls.__name__} must say how it retries")

    # --- Workers -------------------------------------------------------------------------------

    @classmethod
    def claim(cls, *, now: datetime | None = None, **lookup) -> datetime | None:
        """Take the pending, due row matching `lookup` for this worker. Returns the claim's
        time (the token `held()` checks) or None when the row is not there to take: done,
        failed, claimed by another worker, or not due yet."""
        now = now or timezone.now()
        won = (
            cls.objects.filter(cls.OUTBOX_SCOPE, status=cls.OUTBOX_PENDING, **lookup)
            .filter(_due(now))
            .update(
                status=cls.OUTBOX_CLAIMED,
                claimed_at=now,
                attempts=F("attempts") + 1,
                queued_at=None,
            )
        )
        return now if won else None

    @classmethod
    def held(cls, *, claimed_at: datetime | None = None, **lookup) -> QuerySet:
        """The claimed row, as long as the claim of `claimed_at` (any claim when None) holds."""
        rows = cls.objects.filter(status=cls.OUTBOX_CLAIMED, **lookup)
        return rows if claimed_at is None else rows.filter(claimed_at=claimed_at)

    @classmethod
    def release(cls, **lookup) -> None:
        """A task ran for a pending row without claiming it: its lease is used up, so the
        sweep may queue the row again once it is due."""
        cls.objects.filter(status=cls.OUTBOX_PENDING, **lookup).exclude(queued_at=None).update(
            queued_at=None
        )

    @classmethod
    def retry_later(
        cls,
        *,
        attempts: int,
        reason: str,
        claimed_at: datetime | None = None,
        at_least: timedelta | None = None,
        now: datetime | None = None,
        **lookup,
    ) -> datetime | None:
        """Put a claimed row back to pending, due after the backoff of `attempts` (or
        `at_least`, if longer: a Retry-After). Returns when it is due, or None when `attempts`
        used up the policy: then nothing is changed and the caller marks the row failed (with
        `gave_up_error()`)."""
        policy = cls.outbox_retry_policy()
        if policy.exhausted(attempts):
            return None
        now = now or timezone.now()
        next_at = now + max(policy.delay(attempts), at_least or timedelta(0))
        error = (
            f"Attempt {attempts} of {policy.max_attempts} failed, trying again at "
            f"{next_at:%H:%M:%S} UTC: {reason}"
        )
        cls.held(claimed_at=claimed_at, **lookup).update(
            status=cls.OUTBOX_PENDING,
            claimed_at=None,
            next_attempt_at=next_at,
            queued_at=None,
            **{cls.OUTBOX_ERROR_FIELD: error[:ERROR_MAX_LENGTH]},
        )
        return next_at

    @staticmethod
    def gave_up_error(attempts: int, reason: str) -> str:
        return f"Gave up after {attempts} attempts. Last error: {reason}"

    @classmethod
    def retry_or_fail(
        cls, mine, *, attempts: int, reason: str, claimed_at: datetime | None, **lookup
    ) -> str:
        """A claimed row's attempt failed: back to pending after the backoff ("retry"), or, once
        the policy is used up, failed with why ("failed"). `mine`: the row, as still claimed."""
        if cls.retry_later(attempts=attempts, reason=reason, claimed_at=claimed_at, **lookup):
            return "retry"
        error = cls.gave_up_error(attempts, reason)
        mine.update(
            **{
                "status": cls.OUTBOX_FAILED,
                "next_attempt_at": None,
                cls.OUTBOX_ERROR_FIELD: error[:ERROR_MAX_LENGTH],
            }
        )
        return "failed"

    # --- Waking rows up ------------------------------------------------------------------------

    def wake_on_commit(self) -> None:
        """Queue this row's task when the transaction commits. The INSERT or UPDATE that made
        the row pending set `queued_at` (the lease) itself: no write is added here."""
        if self.queued_at is None:
            raise ValueError("Set queued_at in the write that makes the row pending.")
        type(self)._queue_on_commit([getattr(self, self._task_arg_attname())], self.queued_at)

    @classmethod
    def wake(cls, *, now: datetime | None = None, **lookup) -> int:
        """Queue, on commit, the task of every pending row matching `lookup`, taking their lease
        (for rows made pending in bulk, or a row woken by another's progress). Returns how many."""
        now = now or timezone.now()
        rows = cls._update_returning(
            cls.objects.filter(cls.OUTBOX_SCOPE, status=cls.OUTBOX_PENDING, **lookup),
            {"queued_at": now},
        )
        cls._queue_on_commit([arg for _, arg in rows], now)
        return len(rows)

    # --- The sweep -----------------------------------------------------------------------------

    @classmethod
    def sweep(
        cls,
        *,
        stale_after: timedelta,
        gave_up_error: str,
        rescued_error: str,
        now: datetime | None = None,
        lease: timedelta | None = None,
        order_by: tuple[str, ...] = ("pk",),
        batch: int = SWEEP_BATCH,
    ) -> SweepResult:
        """Rescue rows of dead workers, then queue due rows whose lease ran out (see module)."""
        now = now or timezone.now()
        result = SweepResult()
        result.gave_up, result.rescued = cls._rescue_stale(
            now=now,
            stale_after=stale_after,
            gave_up_error=gave_up_error,
            rescued_error=rescued_error,
        )
        lease = lease if lease is not None else queue_lease()
        result.queued = cls._queue_due(now=now, lease=lease, order_by=order_by, batch=batch)
        return result

    @classmethod
    def _rescue_stale(
        cls, *, now: datetime, stale_after: timedelta, gave_up_error: str, rescued_error: str
    ) -> tuple[int, int]:
        stale = cls.objects.filter(
            cls.OUTBOX_SCOPE, status=cls.OUTBOX_CLAIMED, claimed_at__lt=now - stale_after
        )
        error = cls.OUTBOX_ERROR_FIELD
        gave_up = stale.filter(attempts__gte=cls.outbox_retry_policy().max_attempts).update(
            status=cls.OUTBOX_FAILED, next_attempt_at=None, **{error: gave_up_error}
        )
        # Back to pending and due now; with no lease, the queueing step below takes them.
        rescued = stale.update(
            status=cls.OUTBOX_PENDING,
            claimed_at=None,
            next_attempt_at=now,
            queued_at=None,
            **{error: rescued_error},
        )
        return gave_up, rescued

    @classmethod
    def _queue_due(
        cls, *, now: datetime, lease: timedelta, order_by: tuple[str, ...], batch: int
    ) -> int:
        ready = Q(_due(now), _lease_over(now - lease), status=cls.OUTBOX_PENDING)
        with transaction.atomic(using=router.db_for_write(cls)):
            candidates = list(
                cls.objects.filter(cls.OUTBOX_SCOPE, ready)
                .order_by(*order_by)
                .values_list("pk", flat=True)[:batch]
            )
            if not candidates:
                return 0
            # The UPDATE checks the conditions again, row by row: a row another sweeper took
            # meanwhile (its queued_at is now fresh) is not returned, so it is not queued twice.
            taken: dict[Any, Any] = dict(
                cls._update_returning(
                    cls.objects.filter(ready, pk__in=candidates), {"queued_at": now}
                )
            )
            cls._queue_on_commit([taken[pk] for pk in candidates if pk in taken], now)
        return len(taken)

    # --- Plumbing ------------------------------------------------------------------------------

    @classmethod
    def _task_arg_attname(cls) -> str:
        if cls.OUTBOX_TASK_ARG == "pk":
            return cls._meta.pk.attname
        return cast("models.Field[Any, Any]", cls._meta.get_field(cls.OUTBOX_TASK_ARG)).attname

    @classmethod
    def _queue_on_commit(cls, args: list, queued_at: datetime) -> None:
        arg = cls._task_arg_attname()

        def unsent(arg_lists):
            # Not in the broker after all: drop the lease, so the next sweep queues them.
            cls.objects.filter(
                **{f"{arg}__in": [a[0] for a in arg_lists]}, queued_at=queued_at
            ).update(queued_at=None)

        queue_tasks_on_commit(
            import_string(cls.OUTBOX_TASK), [[a] for a in args], on_failure=unsent
        )

    @classmethod
    def _update_returning(cls, rows: QuerySet, values: dict) -> list[tuple]:
        """UPDATE `rows` SET `values` ... RETURNING (pk, task argument): one statement, so only
        the rows this UPDATE changed come back (PostgreSQL; SQLite 3.35+)."""
        meta = cls._meta
        connection = connections[router.db_for_write(cls)]
        query = cast(UpdateQuery, rows.query.chain(UpdateQuery))
        query.add_update_values(values)
        try:
            sql, params = query.get_compiler(connection=connection).as_sql()
        except EmptyResultSet:  # e.g. pk__in=[]
            return []
        if not sql:
            return []
        qn = connection.ops.quote_name
        arg_column = meta.pk.column
        if cls.OUTBOX_TASK_ARG != "pk":
            arg_column = cast("models.Field[Any, Any]", meta.get_field(cls.OUTBOX_TASK_ARG)).column
        if meta.pk.column is None or arg_column is None:
            raise ImproperlyConfigured(f"{cls.__name__}.OUTBOX_TASK_ARG must name a column.")
        sql = f"{sql} RETURNING {qn(meta.pk.column)}, {qn(arg_column)}"
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]
