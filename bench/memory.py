"""Issue 13, benchmark 12: a sync worker's memory over a long run of notes.

    .venv/bin/python -m bench.memory                          # 20,000 notes, 4 teams
    .venv/bin/python -m bench.memory --notes 50000 --max-seconds 1200

Why: a worker that grows with every note (a cache without a bound, a list of results, leaked
connections) is restarted by the kernel's OOM killer in production long after any test ends.
After warm-up its memory must stay flat however many notes it writes.

One production sync worker (`-Q <prefix>-sync`, prefork, concurrency 2) writes `--notes` notes
of `--teams` teams (a credential each) against the sandbox with a generous limit, with links
already resolved (one POST per note). Every `--every` s the VmRSS of the worker's main process
and of each pool child is read from /proc/<pid>/status, with the number of notes written so far.
Reported: RSS per process at the first sample after `--warmup` notes and at the end, the change
per 10,000 notes between them, and the least-squares slope over every sample after warm-up. The
run stops at `--max-seconds` if the backlog is not done by then (the notes done are reported).

`--tracemalloc`: a diagnostic run instead, the worker under tracemalloc (bench/memtrace.py); each
process writes a snapshot after warm-up, at the middle and at the end, and the result lists, per
process, the tracebacks whose memory grew most between the snapshots (traced memory, not RSS:
tracemalloc's own overhead and the slower worker make the RSS figures of such a run not count).
"""

import argparse
import os
import signal
import time
import tracemalloc
from pathlib import Path

from bench import common
from bench.batch import _children, start_worker
from tests.processes import celery_worker_command


def vm_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sample(proc, written: int, started: float) -> dict:
    pid = proc.proc.pid
    return {
        "t_s": round(time.monotonic() - started, 1),
        "notes": written,
        "main_mib": round(vm_rss_mib(pid), 1),
        "children_mib": {str(k): round(vm_rss_mib(k), 1) for k in sorted(_children(pid))},
    }


def slope_per_10k(points: list[tuple[int, float]]) -> float | None:
    """Least-squares MiB per 10,000 notes."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if not sxx:
        return None
    return round(10_000 * sum((x - mx) * (y - my) for x, y in points) / sxx, 2)


def summarise(samples: list[dict], warmup: int) -> dict:
    after = [s for s in samples if s["notes"] >= warmup]
    if len(after) < 2:
        return {"error": "fewer than 2 samples after warm-up"}
    first, last = after[0], after[-1]
    notes = last["notes"] - first["notes"]
    out = {"warm_notes": first["notes"], "end_notes": last["notes"]}
    series = {"main": [(s["notes"], s["main_mib"]) for s in after]}
    for pid in last["children_mib"]:  # a child replaced mid-run would start a new series
        series[f"child {pid}"] = [
            (s["notes"], s["children_mib"][pid]) for s in after if pid in s["children_mib"]
        ]
    for name, points in series.items():
        (x0, y0), (x1, y1) = points[0], points[-1]
        out[name] = {
            "warm_mib": y0,
            "end_mib": y1,
            "peak_mib": max(y for _, y in points),
            "change_per_10k_notes_mib": round(10_000 * (y1 - y0) / (x1 - x0), 2)
            if x1 > x0
            else None,
            "fit_per_10k_notes_mib": slope_per_10k(points),
        }
    out["notes_between"] = notes
    return out


def start_traced_worker(logs: Path, *, concurrency: int, name: str, folder: Path):
    """The worker of `start_worker` under tracemalloc (bench/memtrace.py)."""
    command = celery_worker_command(
        prefix=os.environ["CELERY_QUEUE"],
        hostname=f"{name}-{common.RUN_ID}@%h",
        concurrency=concurrency,
        loglevel="INFO",
    )
    command[command.index("celery")] = "bench.memtrace"
    proc = common.Proc(
        command,
        env={**os.environ, "BENCH_TRACEMALLOC_DIR": str(folder)},
        log_path=logs / f"worker-{name}-{common.RUN_ID}.log",
        name=name,
    )
    common.Workers.wait_ready(proc, timeout=180)
    return proc


def snapshot_all(proc, folder: Path, label: str, notes: int, marks: list) -> None:
    """SIGWINCH to the worker's main process and each pool child: each writes a snapshot."""
    pids = [proc.proc.pid, *sorted(_children(proc.proc.pid))]
    for pid in pids:
        os.kill(pid, signal.SIGWINCH)
    marks.append({"label": label, "notes": notes, "pids": pids})
    time.sleep(3)  # a snapshot of ~100 MiB takes a moment to write


def growth(folder: Path, marks: list, top: int = 12) -> dict:
    """Per process: traced memory at each mark, and the tracebacks that grew most from the first
    mark to the last."""
    out = {}
    pids = marks[-1]["pids"]
    for pid in pids:
        files = sorted(folder.glob(f"{pid}-*.snap"), key=lambda f: int(f.stem.split("-")[1]))
        if len(files) < 2:
            continue
        snaps = [tracemalloc.Snapshot.load(str(f)) for f in files]
        traced = [round(sum(st.size for st in s.statistics("filename")) / 2**20, 2) for s in snaps]
        diff = snaps[-1].compare_to(snaps[0], "traceback")
        out[str(pid)] = {
            "role": "main" if pid == pids[0] else "child",
            "traced_mib": traced,
            "top_growth": [
                {
                    "size_diff_kib": round(d.size_diff / 1024, 1),
                    "count_diff": d.count_diff,
                    "traceback": [f"{fr.filename}:{fr.lineno}" for fr in d.traceback][-8:],
                }
                for d in diff[:top]
            ],
        }
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=20_000, help="in all, split across teams")
    parser.add_argument("--teams", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2_000, help="notes before the first figure")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--max-seconds", type=float, default=480.0)
    parser.add_argument("--tracemalloc", action="store_true", help="a diagnostic run, see above")
    args = parser.parse_args()
    common.setup("memory")
    from apps.greenhouse.lanes import sync_lane_wake
    from apps.greenhouse.models import SyncRecord

    common.flush_db()
    logs = common.logs_dir()
    sandbox = common.Sandbox(rate_limit=10_000_000, rate_window=30, logs=logs)
    with common.stopping(sandbox):
        worlds = [
            common.seed_team(
                slug=f"mem{t}",
                sandbox=sandbox,
                client_id=f"mem-client-{t}",
                client_secret=f"mem-secret-{t}-{common.RUN_ID}",
            )
            for t in range(args.teams)
        ]
        seeding = time.monotonic()
        for world in worlds:
            common.seed_backlog(world, args.notes // args.teams, sandbox=sandbox)
        seeded_s = round(time.monotonic() - seeding, 1)
        total = args.notes // args.teams * args.teams
        snaps = logs / f"tracemalloc-{common.RUN_ID}"
        marks: list = []
        if args.tracemalloc:
            snaps.mkdir()
            worker = start_traced_worker(logs, concurrency=2, name="mem", folder=snaps)
        else:
            worker = start_worker(logs, concurrency=2, name="mem")
        samples = []
        with common.stopping(worker):
            started = time.monotonic()
            written = SyncRecord.objects.filter(status=SyncRecord.Status.WRITTEN)
            samples.append(sample(worker, 0, started))
            for world in worlds:
                sync_lane_wake(team_id=world.team.pk)
            while time.monotonic() - started < args.max_seconds:
                time.sleep(args.every)
                count = written.count()
                samples.append(sample(worker, count, started))
                print(samples[-1], flush=True)
                if args.tracemalloc and len(marks) == 0 and count >= args.warmup:
                    snapshot_all(worker, snaps, "warm", count, marks)
                if args.tracemalloc and len(marks) == 1 and count >= (args.warmup + total) / 2:
                    snapshot_all(worker, snaps, "middle", count, marks)
                if count >= total:
                    break
            elapsed = time.monotonic() - started
            if args.tracemalloc and marks:
                snapshot_all(worker, snaps, "end", count, marks)
    done = samples[-1]["notes"]
    common.record(
        "memory-tracemalloc" if args.tracemalloc else "memory",
        {
            "config": vars(args),
            "seeding_s": seeded_s,
            "notes_seeded": total,
            "notes_written": done,
            "elapsed_s": round(elapsed, 1),
            "notes_per_s": round(done / elapsed, 1),
            "summary": summarise(samples, args.warmup),
            **({"tracemalloc": {"marks": marks, "growth": growth(snaps, marks)}} if marks else {}),
            "samples": samples,
        },
    )


if __name__ == "__main__":
    main()
