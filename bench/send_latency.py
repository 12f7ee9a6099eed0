"""Issue 13, benchmark 2: a reply email's send latency while a Greenhouse backlog drains.

    .venv/bin/python -m bench.send_latency                   # 60-note backlog, 10 per 30 s
    .venv/bin/python -m bench.send_latency --backlog 200 --replies 12 --runs 2

Side by side in one run, each mode on a fresh team, a fresh backlog and a flushed Redis, with
the same three worker processes in total:
- `one queue`: as before queues by kind, every task on one queue in order: the backlog's write
  tasks are published to the send queue, and one worker (3 processes) takes both queues;
- `by kind` (apps/core/routing.py): the backlog is routed to the sync queue as the app routes
  it, a send worker (1 process) and a sync worker (2 processes).

While the backlog drains at the sandbox's allowance, a recruiter answers `--replies` threads, one
every `--every` seconds (`thread_reply_create`, the thread page's path: the message is
committed, its send task published on commit). Latency = Message.sent_at - Message.created_at.
The figure is the ratio of the two modes' p95, measured in the same run.
"""

import argparse
import os
import time
import uuid

from bench import common

WORKER_PROCESSES = 3


def run_mode(sandbox, logs, *, mode: str, backlog: int, replies: int, every: float) -> dict:
    from django.db import transaction

    from apps.core.routing import SEND, SYNC, queue_name
    from apps.greenhouse.models import SyncRecord
    from apps.greenhouse.tasks import sync_record_write_task
    from apps.messaging.models import Message, Thread
    from apps.messaging.outbound import thread_reply_create

    common.flush_redis()  # no message or budget of the other mode
    world = common.seed_team(slug=f"sl{uuid.uuid4().hex[:5]}", sandbox=sandbox)
    record_ids = common.seed_backlog(world, backlog, sandbox=sandbox, per_thread=1)
    prefix = os.environ["CELERY_QUEUE"]
    one_queue = queue_name(prefix, SEND)
    for pk in record_ids:  # what the on-commit hooks publish, in message order
        if mode == "one queue":
            sync_record_write_task.apply_async(args=[pk], queue=one_queue)
        else:
            sync_record_write_task.apply_async(args=[pk])

    pool = common.Workers(logs=logs)
    with common.stopping(pool):
        if mode == "one queue":
            pool.start(1, concurrency=WORKER_PROCESSES)
        else:
            pool.start(1, concurrency=1, kinds=(SEND,))
            pool.start(1, concurrency=WORKER_PROCESSES - 1, kinds=(SYNC,))
        started = time.monotonic()
        threads = list(Thread.objects.filter(team=world.team).order_by("pk")[:replies])
        reply_ids = []
        for i, thread in enumerate(threads):
            delay = started + i * every - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with transaction.atomic():
                reply = thread_reply_create(
                    thread=thread, sender=world.user, body=f"Reply {i}: Tuesday works for me."
                )
            reply_ids.append(reply.pk)
        sent = Message.objects.filter(pk__in=reply_ids, status=Message.Status.SENT)
        common.wait_until(
            lambda: sent.count() == len(reply_ids),
            timeout=900 + backlog * 10,
            what="every reply sent",
        )
        took = time.monotonic() - started
        latencies = [
            (sent_at - created).total_seconds()
            for sent_at, created in sent.values_list("sent_at", "created_at")
        ]
        written = SyncRecord.objects.filter(
            team=world.team, status=SyncRecord.Status.WRITTEN
        ).count()
    return {
        "mode": mode,
        "replies": len(latencies),
        "p50_s": round(common.percentile(latencies, 0.50), 3),
        "p95_s": round(common.percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies), 3),
        "notes_written_meanwhile": written,
        "seconds": round(took, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=60, help="pending notes before replies")
    parser.add_argument("--rate-limit", type=int, default=10, help="sandbox requests per window")
    parser.add_argument("--rate-window", type=int, default=30, help="seconds")
    parser.add_argument("--replies", type=int, default=8)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between replies")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--modes",
        default="one queue,by kind",
        help="comma-separated; `--modes 'by kind' --backlog 5000`: the goal's backlog, which the "
        "one-queue mode would take hours to get through",
    )
    args = parser.parse_args()
    common.setup("send_latency")
    common.flush_db()
    logs = common.logs_dir()
    sandbox = common.Sandbox(rate_limit=args.rate_limit, rate_window=args.rate_window, logs=logs)
    runs = []
    with common.stopping(sandbox):
        for _ in range(args.runs):
            pair = {}
            for mode in [m.strip() for m in args.modes.split(",")]:
                pair[mode] = run_mode(
                    sandbox,
                    logs,
                    mode=mode,
                    backlog=args.backlog,
                    replies=args.replies,
                    every=args.every,
                )
                print(pair[mode], flush=True)
            if {"one queue", "by kind"} <= pair.keys():
                pair["p95_ratio_one_queue_over_by_kind"] = round(
                    pair["one queue"]["p95_s"] / max(pair["by kind"]["p95_s"], 1e-3), 1
                )
            runs.append(pair)
    summary: dict = {"config": vars(args)}
    for mode in runs[0]:
        if mode in ("one queue", "by kind"):
            key = mode.replace(" ", "_")
            summary[f"median_p95_{key}_s"] = common.median([r[mode]["p95_s"] for r in runs])
    if "p95_ratio_one_queue_over_by_kind" in runs[0]:
        summary["median_p95_ratio"] = common.median(
            [r["p95_ratio_one_queue_over_by_kind"] for r in runs]
        )
    modes = [m for m in runs[0] if m in ("one queue", "by kind")]
    name = "send_latency" if len(modes) > 1 else f"send_latency_{modes[0].replace(' ', '_')}"
    common.record(name, {**summary, "runs": runs})


if __name__ == "__main__":
    main()
