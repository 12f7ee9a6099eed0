"""Issue 13 item 4 / benchmark 7 (second half): new PostgreSQL sessions per task, and a worker's
CPU and throughput, with Celery's per-task close (before) and with the connection kept across
tasks (after, apps/core/worker_db.py), optionally with psycopg's server-side binding and
prepared statements; the configurations alternate in one run, side by side.

    .venv/bin/python -m bench.connections                   # 300 tasks, 3 rounds
    .venv/bin/python -m bench.connections --tasks 100 --runs 1

Each round of a configuration: one `celery -A config worker --concurrency 1` process, a warm-up
task, then `--tasks` worker-ping tasks queued at once (each one UPDATE, the lightest task there
is, so the connection's own cost shows); it ends when every ping is answered. Figures:
- sessions per task: pg_stat_database.sessions of the bench database over the whole round,
  worker start and stop included (read after the worker stopped, so its counts are flushed),
  divided by the tasks;
- worker CPU per task (user + system of the worker and its pool child, /proc), ms;
- tasks per second (wall clock).
PostgreSQL's own CPU is left out: a backend of the "before" configuration exits within the task
and the postmaster reaps its CPU together with every other engineer's on this shared machine.
"""

import argparse
import contextlib
import os
import time
from pathlib import Path

from bench import common

CONFIGS = {
    "before (close per task)": {"CELERY_DB_REUSE_MAX": "0"},
    "after (kept)": {},
    "after + server-side binding, prepare_threshold=5": {
        "DATABASE_SERVER_SIDE_BINDING": "true",
        "DATABASE_URL_SUFFIX": "?prepare_threshold=5",
    },
}
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _family(root: int) -> list[int]:
    pids = [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(entry.joinpath("stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == root:
                pids.append(int(entry.name))
    return pids


def _family_cpu(root: int) -> float:
    total = 0.0
    for pid in _family(root):
        with contextlib.suppress(OSError):  # a process that exited meanwhile
            total += _cpu_seconds(pid)
    return total


def _sessions(database: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [database])
        return int(cursor.fetchone()[0])


def run_once(config: dict, *, tasks: int, database: str) -> dict:
    from django.db import transaction

    from apps.core.models import WorkerPing
    from apps.core.services import worker_ping_request

    env = {k: v for k, v in config.items() if k != "DATABASE_URL_SUFFIX"}
    env["DATABASE_URL"] = os.environ["DATABASE_URL"] + config.get("DATABASE_URL_SUFFIX", "")
    common.flush_redis()
    WorkerPing.objects.all().delete()
    time.sleep(1.5)  # our own statistics flushed
    sessions_before = _sessions(database)
    workers = common.Workers(logs=common.logs_dir(), extra_env=env)
    with common.stopping(workers):
        (proc,) = workers.start(1)
        warm = worker_ping_request(requested_by="bench-warm-up")
        common.wait_until(
            lambda: WorkerPing.objects.filter(pk=warm.pk, answered_at__isnull=False).exists(),
            timeout=60,
            interval=0.05,
            what="the warm-up ping",
        )
        cpu_before = _family_cpu(proc.proc.pid)
        started = time.monotonic()
        with transaction.atomic():
            for _ in range(tasks):
                worker_ping_request(requested_by="bench")
        common.wait_until(
            lambda: not WorkerPing.objects.filter(answered_at=None).exists(),
            timeout=600,
            interval=0.05,
            what="every ping answered",
        )
        elapsed = time.monotonic() - started
        cpu = _family_cpu(proc.proc.pid) - cpu_before
    time.sleep(1.5)  # the worker's session statistics are flushed at its exit
    sessions = _sessions(database) - sessions_before
    return {
        "sessions": sessions,
        "sessions_per_task": sessions / (tasks + 1),
        "worker_cpu_ms_per_task": 1000 * cpu / tasks,
        "tasks_per_second": tasks / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    common.setup("connections")
    database = "bench_connections"
    rounds: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for _ in range(args.runs):
        for name, config in CONFIGS.items():
            rounds[name].append(run_once(config, tasks=args.tasks, database=database))
            print(name, rounds[name][-1], flush=True)
    summary = {
        name: {
            key: common.median([r[key] for r in runs])
            for key in ("sessions_per_task", "worker_cpu_ms_per_task", "tasks_per_second")
        }
        for name, runs in rounds.items()
    }
    before, after, bound = (summary[name] for name in CONFIGS)
    common.record(
        "connections",
        {
            "tasks": args.tasks,
            "runs": args.runs,
            "rounds": rounds,
            "medians": summary,
            "ratios": {
                "cpu_after_over_before": after["worker_cpu_ms_per_task"]
                / before["worker_cpu_ms_per_task"],
                "throughput_after_over_before": after["tasks_per_second"]
                / before["tasks_per_second"],
                "cpu_bound_over_after": bound["worker_cpu_ms_per_task"]
                / after["worker_cpu_ms_per_task"],
                "throughput_bound_over_after": bound["tasks_per_second"]
                / after["tasks_per_second"],
            },
        },
    )


if __name__ == "__main__":
    main()
