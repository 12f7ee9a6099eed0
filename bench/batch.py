"""Issue 13, benchmarks 5-9: the teams' batches (apps/greenhouse/batch.py), side by side in one run.

    .venv/bin/python -m bench.batch                          # as in docs/benchmarks.md
    .venv/bin/python -m bench.batch --notes 200 --fair-notes 60   # quicker

1. Throughput at 0 ms and at 150 ms of sandbox latency (sandbox unthrottled): one worker process
   on the sync queue (as the Procfile's `worker-sync`; `--kinds send,sync` adds the send queue,
   whose bot notice emails then run in it too) writing a backlog through the lanes, against a
   minimal exactly-once loop in this process (the same POSTs over one keep-alive session, with
   its 2 durable commits per note: post_started_at before the POST, note id after), same
   concurrency (1) on both sides. Rounds alternate: loop, worker. Reported per round: both
   rates and their ratio (bench 8, 9), Celery tasks per note counted from the worker's own log
   (bench 7), CPU per note of the worker processes from /proc (bench 6; PostgreSQL's backends:
   the postmaster's reaped children, an upper bound on a shared server, and the live backends
   of the bench database).
   Worker rate: notes ÷ (last written_at - first post_started_at), the loop's clock.
2. Fairness (bench 5): 20 teams with a credential each, 15 requests per 5 s window, 2 worker
   processes (one prefork worker of 2, or `--pool threads`: 2 workers of `--threads` threads),
   a backlog per team that lasts several windows. Each team's share: requests served per
   steady window ÷ 15 (the sandbox's per-window log, first and last windows left out, as
   bench.drain); reported mean and worst team, and the allowance used over the whole run
   (all notes ÷ (elapsed times the teams' allowed rate)), which also counts windows never opened.
3. `--profile N` (instead of 1 and 2): where a note's time goes. The minimal loop on N notes,
   then the team's lane driven in this process (each batch as the task runs it: the lane's
   token, the batch, the release that queues the next one) on N more under pyinstrument, at
   0 ms; the profile goes to bench/results/batch-profile.txt, with the SQL statements per note
   (counted by a Django execute wrapper) and PostgreSQL's CPU beside it.
"""

import argparse
import os
import time
from contextlib import nullcontext
from pathlib import Path

from bench import common
from tests.processes import celery_worker_command


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reaped_cpu(pid: int) -> float:
    """CPU seconds of a process's children it has waited for (cutime + cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return kids


def worker_cpu(proc) -> float:
    pid = proc.proc.pid
    return _proc_cpu(pid) + sum(_proc_cpu(k) for k in _children(pid)) + _reaped_cpu(pid)


def postgres_cpu() -> float:
    """Reaped backends of the whole server (upper bound) plus this database's live ones."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        live = [row[0] for row in cursor.fetchall()]
    postmaster = int(Path(_pg_data_dir(), "postmaster.pid").read_text().split()[0])
    total = _reaped_cpu(postmaster)
    for pid in live:
        try:
            total += _proc_cpu(pid)
        except OSError:
            continue
    return total


def _pg_data_dir() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        return cursor.fetchone()[0]


def start_worker(
    logs: Path, *, concurrency: int, pool: str = "prefork", name: str, kinds=("send", "sync")
):
    command = celery_worker_command(
        prefix=os.environ["CELERY_QUEUE"],
        hostname=f"{name}-{common.RUN_ID}@%h",
        concurrency=concurrency,
        loglevel="INFO",  # one "succeeded" line per task: the task count
        kinds=kinds,
    )
    command[command.index("prefork")] = pool
    proc = common.Proc(
        command,
        env=dict(os.environ),
        log_path=logs / f"worker-{name}-{common.RUN_ID}.log",
        name=name,
    )
    common.Workers.wait_ready(proc)
    return proc


def tasks_run(proc) -> int:
    """Team tasks the worker finished, by its log (one "succeeded" line per task at INFO)."""
    return sum(
        1
        for line in proc.log.splitlines()
        if "sync_team_write_task[" in line and "succeeded" in line
    )


def wake(team_ids) -> None:
    from apps.greenhouse.lanes import sync_lane_wake

    for team_id in team_ids:
        sync_lane_wake(team_id=team_id)


def minimal_loop(sandbox, record_ids) -> float:
    """The floor of an exactly-once write: a durable commit before the POST, the POST, a durable
    commit after (autocommit UPDATEs), over one keep-alive session."""
    from django.utils import timezone

    from apps.greenhouse.models import SyncRecord
    from bench.throughput import _payloads, notes_session

    payloads = _payloads(record_ids)
    ids = list(SyncRecord.objects.filter(pk__in=record_ids).values_list("pk", flat=True))
    session, headers, url = notes_session(sandbox)
    started = time.perf_counter()
    for pk, payload in zip(ids, payloads, strict=True):
        SyncRecord.objects.filter(pk=pk).update(post_started_at=timezone.now())
        response = session.post(url, json=payload, headers=headers, timeout=10)
        response.raise_for_status()
        SyncRecord.objects.filter(pk=pk).update(
            note_id=response.json()["id"], status=SyncRecord.Status.WRITTEN
        )
    return len(ids) / (time.perf_counter() - started)


def throughput(args, logs) -> list[dict]:
    from django.db.models import Max, Min

    from apps.greenhouse.models import SyncRecord

    sandbox = common.Sandbox(rate_limit=10_000_000, rate_window=30, logs=logs)
    rounds = []
    with common.stopping(sandbox):
        world = common.seed_team(slug="batch", sandbox=sandbox)
        # The sync queue's worker, as the Procfile runs it (`worker-sync`): the threads' bot
        # notice emails go to the send queue, another worker's (`--kinds send,sync`: this one's).
        worker = start_worker(logs, concurrency=1, name="tput", kinds=args.kinds.split(","))
        with common.stopping(worker):
            for latency in (0, 150):
                sandbox.control.configure(latency_ms=latency)
                notes = args.notes if latency == 0 else args.slow_notes
                for _ in range(args.rounds):
                    loop_ids = common.seed_backlog(world, notes, sandbox=sandbox)
                    # The loop's records must not be taken by the worker: not pending.
                    SyncRecord.objects.filter(pk__in=loop_ids).update(
                        status=SyncRecord.Status.SKIPPED
                    )
                    loop = minimal_loop(sandbox, loop_ids)
                    ids = common.seed_backlog(world, notes, sandbox=sandbox)
                    tasks_before, cpu_before = tasks_run(worker), worker_cpu(worker)
                    pg_before = postgres_cpu()
                    wake([world.team.pk])
                    records = SyncRecord.objects.filter(pk__in=ids)
                    written, count = records.filter(status=SyncRecord.Status.WRITTEN), len(ids)
                    common.wait_until(
                        lambda written=written, count=count: written.count() == count,
                        timeout=900,
                        what="the worker's notes",
                    )
                    time.sleep(1.5)  # the last task's log line and CPU
                    # From the first POST's commit to the last note's, like the loop's clock
                    # (a batch sets written_at once for all its notes, so the first and last
                    # written_at would leave the first batch's POSTs out).
                    span = records.aggregate(first=Min("post_started_at"), last=Max("written_at"))
                    rate = len(ids) / (span["last"] - span["first"]).total_seconds()
                    tasks = tasks_run(worker) - tasks_before
                    rounds.append(
                        {
                            "latency_ms": latency,
                            "notes": len(ids),
                            "loop_notes_per_s": round(loop, 1),
                            "worker_notes_per_s": round(rate, 1),
                            "ratio": round(rate / loop, 3),
                            "tasks_per_note": round(tasks / len(ids), 3),
                            "worker_cpu_ms_per_note": round(
                                1000 * (worker_cpu(worker) - cpu_before) / len(ids), 2
                            ),
                            "postgres_cpu_ms_per_note_upper_bound": round(
                                1000 * (postgres_cpu() - pg_before) / len(ids), 2
                            ),
                        }
                    )
                    print(rounds[-1], flush=True)
    return rounds


def profile(args, logs) -> dict:
    """The lane's batches in this process, beside the minimal loop: once timed, once under
    pyinstrument."""
    from django.db import connection
    from pyinstrument import Profiler

    from apps.greenhouse.batch import sync_team_write
    from apps.greenhouse.lanes import sync_lane_wake
    from apps.greenhouse.models import SyncLane, SyncRecord

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    def backend_cpu() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return _proc_cpu(cursor.fetchone()[0])

    def lane(world, ids, profiler) -> dict:
        team_id = world.team.pk
        pending = SyncRecord.objects.filter(pk__in=ids, status=SyncRecord.Status.PENDING)
        sync_lane_wake(team_id=team_id)
        batches, statements[0] = 0, 0
        pg_before, cpu_before = backend_cpu(), time.process_time()
        started = time.perf_counter()
        with profiler or nullcontext(), connection.execute_wrapper(count):
            while pending.exists():
                token = SyncLane.objects.filter(team_id=team_id).values_list(
                    "queued_at", flat=True
                )[0]
                sync_team_write(team_id=team_id, token=token.isoformat() if token else None)
                batches += 1
        elapsed = time.perf_counter() - started
        n = len(ids)
        return {
            "notes_per_s": round(n / elapsed, 1),
            "batches": batches,
            "cpu_ms_per_note": round(1000 * (time.process_time() - cpu_before) / n, 2),
            "own_backend_cpu_ms_per_note": round(1000 * (backend_cpu() - pg_before) / n, 2),
            # the bench's own `exists()` and token read per batch included
            "sql_statements_per_note": round(statements[0] / n, 2),
        }

    sandbox = common.Sandbox(rate_limit=10_000_000, rate_window=30, logs=logs)
    with common.stopping(sandbox):
        world = common.seed_team(slug="prof", sandbox=sandbox)
        warm = common.seed_backlog(world, 20, sandbox=sandbox)
        SyncRecord.objects.filter(pk__in=warm).update(status=SyncRecord.Status.SKIPPED)
        minimal_loop(sandbox, warm)  # the token, the connections
        result: dict = {"notes": args.profile}
        for run in range(args.rounds):
            loop_ids = common.seed_backlog(world, args.profile, sandbox=sandbox)
            SyncRecord.objects.filter(pk__in=loop_ids).update(status=SyncRecord.Status.SKIPPED)
            loop = minimal_loop(sandbox, loop_ids)
            timed = lane(world, common.seed_backlog(world, args.profile, sandbox=sandbox), None)
            timed["loop_notes_per_s"] = round(loop, 1)
            timed["ratio"] = round(timed["notes_per_s"] / loop, 3)
            result[f"timed_{run}"] = timed
            print(timed, flush=True)
        profiler = Profiler(interval=0.0005)
        ids = common.seed_backlog(world, args.profile, sandbox=sandbox)
        result["profiled"] = lane(world, ids, profiler)
    path = common.RESULTS_DIR / "batch-profile.txt"
    path.write_text(
        profiler.output_text(unicode=False, color=False, show_all=False, short_mode=False)
    )
    result["profile"] = str(path.relative_to(common.BASE_DIR))
    return result


def fairness(args, logs) -> dict:
    from apps.greenhouse.models import SyncRecord
    from bench.drain import _window_stats

    limit, window = 15, 5
    sandbox = common.Sandbox(rate_limit=limit, rate_window=window, logs=logs)
    with common.stopping(sandbox):
        if args.fair_latency:
            sandbox.control.configure(latency_ms=args.fair_latency)
        worlds = [
            common.seed_team(
                slug=f"fair{t}",
                sandbox=sandbox,
                client_id=f"fair-client-{t}",
                client_secret=f"fair-secret-{t}-{common.RUN_ID}",
            )
            for t in range(args.teams)
        ]
        ids = [common.seed_backlog(w, args.fair_notes, sandbox=sandbox) for w in worlds]
        if args.pool == "threads":  # 2 processes of `--threads` threads each
            workers = [
                start_worker(logs, concurrency=args.threads, pool="threads", name=f"fair{n}")
                for n in range(2)
            ]
        else:  # one worker, 2 prefork processes
            workers = [start_worker(logs, concurrency=2, name="fair")]

        def tasks_all() -> int:
            return sum(tasks_run(w) for w in workers)

        def cpu_all() -> float:
            return sum(worker_cpu(w) for w in workers)

        with common.stopping(*workers):
            tasks_before, cpu_before = tasks_all(), cpu_all()
            started = time.monotonic()
            wake([w.team.pk for w in worlds])
            total = sum(len(i) for i in ids)
            common.wait_until(
                lambda: (
                    SyncRecord.objects.filter(status=SyncRecord.Status.WRITTEN).count() == total
                ),
                timeout=1800,
                what="every team's notes",
            )
            elapsed = time.monotonic() - started
            time.sleep(1.5)
            tasks = tasks_all() - tasks_before
            cpu = cpu_all() - cpu_before
        stats = [
            _window_stats(sandbox.control.windows(w.integration.client_id), limit) for w in worlds
        ]
    shares = [s["achieved_ratio"] for s in stats if s["achieved_ratio"] is not None]
    return {
        "teams": args.teams,
        "limit_per_window": limit,
        "window_s": window,
        "notes_per_team": args.fair_notes,
        "pool": args.pool,
        "processes": 2,
        "threads_per_process": args.threads if args.pool == "threads" else 1,
        "latency_ms": args.fair_latency,
        # Over the whole run, start to last note (startup and tail included): a team that
        # gets its turn too rarely fills the windows it opens, yet opens too few of them.
        "allowance_used_over_run": round(total / (elapsed * args.teams * limit / window), 3),
        "mean_share": round(sum(shares) / len(shares), 3),
        "worst_share": round(min(shares), 3),
        "rejected_429": sum(s["rejected_429"] for s in stats),
        "tasks_per_note": round(tasks / total, 3),
        "worker_cpu_ms_per_note": round(1000 * cpu / total, 2),
        "elapsed_s": round(elapsed, 1),
        "per_team_share": [round(s, 3) for s in shares],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=400, help="per round at 0 ms")
    parser.add_argument("--slow-notes", type=int, default=100, help="per round at 150 ms")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--fair-notes", type=int, default=120, help="per team (8 windows)")
    parser.add_argument("--fair-latency", type=int, default=0, help="ms, the fairness part")
    parser.add_argument("--pool", default="prefork", choices=("prefork", "threads"))
    parser.add_argument("--threads", type=int, default=8, help="per process, with --pool threads")
    parser.add_argument("--skip", choices=("throughput", "fairness"), default=None)
    parser.add_argument("--profile", type=int, default=0, help="notes; profile only (see 3.)")
    parser.add_argument(
        "--kinds", default="sync", help="queues of the throughput worker: sync, or send,sync"
    )
    args = parser.parse_args()
    common.setup("batch")
    common.flush_db()
    common.flush_redis()
    logs = common.logs_dir()
    from django.conf import settings

    result: dict = {
        "config": vars(args),
        # from the environment, as every worker of the run reads them
        "sync_batch_size": settings.GREENHOUSE_SYNC_BATCH_SIZE,
        "sync_batch_seconds": settings.GREENHOUSE_SYNC_BATCH_SECONDS,
    }
    if args.profile:
        result["profile"] = profile(args, logs)
        common.record("batch-profile", result)
        return
    if args.skip != "throughput":
        rounds = throughput(args, logs)
        result["throughput_rounds"] = rounds
        for latency in (0, 150):
            mine = [r for r in rounds if r["latency_ms"] == latency]
            result[f"median_ratio_{latency}ms"] = common.median([r["ratio"] for r in mine])
            result[f"median_tasks_per_note_{latency}ms"] = common.median(
                [r["tasks_per_note"] for r in mine]
            )
            result[f"median_worker_cpu_ms_per_note_{latency}ms"] = common.median(
                [r["worker_cpu_ms_per_note"] for r in mine]
            )
        common.flush_db()
    if args.skip != "fairness":
        result["fairness"] = fairness(args, logs)
        print(result["fairness"], flush=True)
    common.record("batch", result)


if __name__ == "__main__":
    main()
