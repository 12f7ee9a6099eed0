"""Automatic email and SMS activity sync: creating each message's record and writing its note.

Where a message becomes a Greenhouse note, in order (this module is the entry and the map):
- records.py   `sync_record_create`: the message's SyncRecord, with the policy's verdict;
- lanes.py     one task per team on its way (`sync_lane_wake_on_commit`);
- batch.py     `sync_team_write`: the team's due records, claimed together, in message order;
- fastpath.py  the common records of a batch written together (one commit before the POSTs,
               one after);
- writer.py    the careful path, one record at a time (`_write_claimed`, `sync_record_write`):
               decisions, lookups (candidates.py), read-back, the POST under gate.py's gate;
- outcomes.py  each end a record can have (written, skipped, held, failed, deferred, retry);
- facts.py     what the policy (policy.py) is told, and the thread's message order;
- notes.py     the note's text; harvest/ the Harvest v3 client; sweeper.py what was left.

1. `sync_record_create` runs inside the transaction that recorded the message (the messaging
   app's `message_recorded` signal). It writes one SyncRecord per message with the policy's
   verdict on local facts, and wakes the team's lane on commit when it is pending (lanes.py:
   one task per team on its way, which writes the team's records in batches, batch.py).
2. `sync_record_write` (one record: old broker messages, tests) and the team's batch claim
   records with a conditional UPDATE, then `_write_claimed` decides again with fresh
   facts (switches, pause, connection health, then the resolved candidate), and writes the note.
   Exactly once: `post_started_at` is committed before each POST; if it is set and no note id was
   stored, an earlier attempt may have written the note (ambiguous answer, or a worker that died
   between the POST and the commit), so the candidate's notes are read back and searched for the
   record's reference before anything is posted again.
   No worker sleeps on the rate budget: when the credential has no slot free, the record goes
   back to pending due at the slot, with no attempt counted (`_defer`).
3. Transient errors put the record back to pending with `next_attempt_at` (backoff + jitter);
   `sync_records_sweep` (beat, sweeper.py) wakes the lanes of teams with due records, rescues
   records of dead workers, and releases records held for the connection once it is healthy
   again. Claim, backoff and rescue are the shared outbox's (apps/core/outbox.py); the lease is
   the team's lane (a lane whose task is on its way is not queued again until QUEUE_LEASE).

Notes of one thread reach Greenhouse in message order: a record waits while an older message of
its thread is still on its way (outbound not sent yet, or its record not written yet), for at
most ORDER_WAIT_MAX; each finished record wakes the team's lane for the next one of its thread
(the batch, which writes them in message order, looks again at its end instead). The switches
that turn the sync on or off, and support's retries and candidate choices, are switches.py's.
"""

from .facts import (
    HELD_FOR_CONNECTION,
    ORDER_WAIT_MAX,
    WAITING,
    Status,
    _facts,
    _is_paused,
    _older_than,
    _verdict_status,
    _waits_for_older,
)
from .outcomes import (
    Claim,
    LostClaim,
    SyncStopped,
    _attempt_finish,
    _attempt_start,
    _defer,
    _fail,
    _mark_written,
    _retry_later,
    _settle,
)
from .records import sync_record_create
from .writer import (
    _note_content,
    _switch_check,
    _write_claimed,
    _write_error_outcome,
    sync_record_write,
)

__all__ = [
    "HELD_FOR_CONNECTION",
    "ORDER_WAIT_MAX",
    "WAITING",
    "Claim",
    "LostClaim",
    "Status",
    "SyncStopped",
    "_attempt_finish",
    "_attempt_start",
    "_defer",
    "_facts",
    "_fail",
    "_is_paused",
    "_mark_written",
    "_note_content",
    "_older_than",
    "_retry_later",
    "_settle",
    "_switch_check",
    "_verdict_status",
    "_waits_for_older",
    "_write_claimed",
    "_write_error_outcome",
    "sync_record_create",
    "sync_record_write",
]
