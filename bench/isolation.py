"""Issue 13, benchmark 1: a quiet team's commit → note latency while another team drains a backlog.

    .venv/bin/python -m bench.isolation                       # 600 notes, 75 per 10 s, 20 SMS
    .venv/bin/python -m bench.isolation --runs 2 --messages 30

Why: before the queues by kind and the lanes, a quiet team's single notes waited p95 35.5 s
behind another team's 600 notes (issue 13), because sync tasks slept on the rate budget while
holding every worker. A team's backlog must cost another team nothing.

Production's processes: a send worker (1 process), a sync worker (`-Q <prefix>-sync`,
concurrency 2) and `celery beat` (so the sweeps run as deployed). Two teams, each with a
credential of its own, on one sandbox whose limit (per credential) is `--limit` per `--window` s
(75 per 10 s by default, to keep the run short). Each run has two phases, side by side:
- `alone`: the quiet team receives `--messages` inbound SMS, one every `--every` s, through the
  real inbound path (`sms_record_inbound`: message and SyncRecord committed together, the lane
  woken on commit), nothing else pending;
- `backlog`: the noisy team's `--backlog` pending notes are seeded and its lane woken; then the
  quiet team receives the same messages again while the backlog drains at its allowance.
Latency = SyncRecord.written_at - Message.created_at (set in the committing transaction, a few ms
before the commit). Reported per phase: p50/p95/max, and for the backlog phase the noisy
team's notes written while the quiet team was measured and the 429s of both credentials.
"""

import argparse
import os
import sys
import time
import uuid

from bench import common
from bench.drain import _window_stats
from bench.latency import seed_sms_world


def quiet_phase(number, phones, *, messages: int, every: float) -> dict:
    from django.db.models import Max

    from apps.greenhouse.models import SyncRecord
    from apps.messaging.sms.twilio import sms_record_inbound

    ids = []
    started = time.monotonic()
    for i in range(messages):
        delay = started + i * every - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        result = sms_record_inbound(
            from_number=phones[i % len(phones)],
            to_number=number.number,
            sid=f"SM{uuid.uuid4().hex}",
            body=f"Reply {i}: Thursday afternoon is fine.",
        )
        ids.append(result.message.pk)
    records = SyncRecord.objects.filter(message_id__in=ids)
    common.wait_until(
        lambda: records.filter(status=SyncRecord.Status.WRITTEN).count() == messages,
        timeout=300 + messages * every * 2,
        what="every quiet note written",
    )
    latencies = [
        (written - created).total_seconds()
        for written, created in records.values_list("written_at", "message__created_at")
    ]
    first = records.order_by("message__created_at").values_list("message__created_at", flat=True)
    return {
        "messages": messages,
        "p50_s": round(common.percentile(latencies, 0.50), 3),
        "p95_s": round(common.percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies), 3),
        "from": first[0],
        "to": records.aggregate(last=Max("written_at"))["last"],
    }


def run_once(sandbox, quiet, noisy, *, args) -> dict:
    from apps.greenhouse.lanes import sync_lane_wake
    from apps.greenhouse.models import SyncRecord

    _, number, phones = quiet
    alone = quiet_phase(number, phones, messages=args.messages, every=args.every)
    print({"alone": alone}, flush=True)
    ids = common.seed_backlog(noisy, args.backlog, sandbox=sandbox)
    sync_lane_wake(team_id=noisy.team.pk)
    time.sleep(args.every)  # the backlog is draining when the first quiet message comes
    busy = quiet_phase(number, phones, messages=args.messages, every=args.every)
    noisy_records = SyncRecord.objects.filter(pk__in=ids)
    meanwhile = noisy_records.filter(
        written_at__gte=busy["from"], written_at__lte=busy["to"]
    ).count()
    left = noisy_records.exclude(status=SyncRecord.Status.WRITTEN).count()
    busy.update(noisy_notes_written_meanwhile=meanwhile, noisy_notes_still_pending_at_end=left)
    print({"backlog": busy}, flush=True)
    # Let the backlog finish, so the next run starts with nothing pending.
    common.wait_until(
        lambda: not noisy_records.exclude(status=SyncRecord.Status.WRITTEN).exists(),
        timeout=args.backlog / (args.limit / args.window) * 3 + 120,
        interval=1,
        what="the noisy backlog drained",
    )
    for phase in (alone, busy):
        phase["from"], phase["to"] = str(phase["from"]), str(phase["to"])
    return {
        "alone": alone,
        "backlog": busy,
        "p95_ratio_backlog_over_alone": round(busy["p95_s"] / max(alone["p95_s"], 1e-3), 2),
    }


def start_beat(logs):
    schedule = logs / f"celerybeat-schedule-{common.RUN_ID}"
    command = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING"]
    return common.Proc(
        [*command, "--schedule", str(schedule)],
        env=dict(os.environ),
        log_path=logs / f"beat-{common.RUN_ID}.log",
        name="beat",
    )


def main():
    from apps.core.routing import SEND, SYNC

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=600, help="the noisy team's notes")
    parser.add_argument("--limit", type=int, default=75, help="sandbox requests per window")
    parser.add_argument("--window", type=int, default=10, help="seconds")
    parser.add_argument("--messages", type=int, default=20, help="quiet SMS per phase")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between quiet SMS")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    common.setup("isolation")
    common.flush_db()
    logs = common.logs_dir()
    sandbox = common.Sandbox(rate_limit=args.limit, rate_window=args.window, logs=logs)
    pool = common.Workers(logs=logs)
    with common.stopping(sandbox, pool):
        quiet = seed_sms_world(sandbox, prospects=10)
        noisy = common.seed_team(
            slug="noisy",
            sandbox=sandbox,
            client_id="noisy-client",
            client_secret=f"noisy-secret-{common.RUN_ID}",
        )
        pool.start(1, concurrency=1, kinds=(SEND,))
        pool.start(1, concurrency=2, kinds=(SYNC,))
        beat = start_beat(logs)
        with common.stopping(beat):
            runs = [run_once(sandbox, quiet, noisy, args=args) for _ in range(args.runs)]
        clients = {
            "quiet": quiet[0].integration.client_id,
            "noisy": noisy.integration.client_id,
        }
        windows = {
            team: _window_stats(sandbox.control.windows(client), args.limit)
            for team, client in clients.items()
        }
    common.record(
        "isolation",
        {
            "config": vars(args),
            "latency": "SyncRecord.written_at - Message.created_at",
            "median_p95_alone_s": common.median([r["alone"]["p95_s"] for r in runs]),
            "median_p95_backlog_s": common.median([r["backlog"]["p95_s"] for r in runs]),
            "rejected_429": {team: w["rejected_429"] for team, w in windows.items()},
            "noisy_served_per_steady_window": windows["noisy"]["served_per_steady_window"],
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
