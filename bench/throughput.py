"""Item 2, per-worker throughput: notes per second of one worker process (concurrency 1) with the
sandbox unthrottled, as a ratio to a bare `requests.Session` loop posting the same notes to the
same sandbox in the same run (rounds alternate: bare, worker, bare, worker, ...). Then a profile
(pyinstrument) of `sync_record_write` called in this process, the code path a worker runs.

    .venv/bin/python -m bench.throughput                 # 3 rounds of 600 notes
    .venv/bin/python -m bench.throughput --rounds 1 --notes 300

Worker rate: (notes - 1) ÷ (last written_at - first written_at): the time between the first and
the last note, so starting the worker and publishing the tasks are not counted.
"""

import argparse
import time

from bench import common


def _payloads(record_ids) -> list[dict]:
    """The exact JSON bodies the sync would post for these records."""
    from apps.greenhouse.models import CandidateLink, SyncRecord
    from apps.greenhouse.sync import _note_content

    records = SyncRecord.objects.select_related(
        "message__sender", "thread__owner", "prospect"
    ).filter(pk__in=record_ids)
    links = dict(CandidateLink.objects.values_list("prospect_id", "candidate_id"))
    payloads = []
    for record in records:
        content = _note_content(record).as_kwargs()
        payload = {
            "candidate_id": links[record.prospect_id],
            "body": content["body"],
            "note_type": content.get("note_type", "NOTE"),
            "visibility": "public",
        }
        for name in ("subject", "email_from", "email_to", "email_cc"):
            if content.get(name) is not None:
                payload[name] = content[name]
        payloads.append(payload)
    return payloads


def notes_session(sandbox):
    """A plain keep-alive session with a token: (session, headers, the notes URL)."""
    import requests

    session = requests.Session()
    token = session.post(
        sandbox.control.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
        timeout=10,
    ).json()["access_token"]
    return session, {"Authorization": f"Bearer {token}"}, f"{sandbox.url}/v3/notes"


def bare_loop(sandbox, payloads) -> float:
    """Notes per second of a plain keep-alive session posting the same bodies."""
    session, headers, url = notes_session(sandbox)
    started = time.perf_counter()
    for payload in payloads:
        response = session.post(url, json=payload, headers=headers, timeout=10)
        response.raise_for_status()
    return len(payloads) / (time.perf_counter() - started)


def worker_round(pool, record_ids) -> float:
    from django.db.models import Max, Min

    from apps.greenhouse.models import SyncRecord

    common.queue_writes(record_ids)
    records = SyncRecord.objects.filter(pk__in=record_ids)
    common.wait_until(
        lambda: records.filter(status=SyncRecord.Status.WRITTEN).count() == len(record_ids),
        timeout=600,
        what="the worker's notes",
    )
    span = records.aggregate(first=Min("written_at"), last=Max("written_at"))
    return (len(record_ids) - 1) / (span["last"] - span["first"]).total_seconds()


def profile_in_process(record_ids) -> tuple[float, str]:
    """sync_record_write in this process (no Celery), under pyinstrument."""
    from pyinstrument import Profiler

    from apps.greenhouse.sync import sync_record_write

    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    with profiler:
        for pk in record_ids:
            assert sync_record_write(record_id=pk) == "written"
    rate = len(record_ids) / (time.perf_counter() - started)
    text = profiler.output_text(unicode=False, color=False, show_all=False, short_mode=False)
    return rate, text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=600, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile-notes", type=int, default=300)
    args = parser.parse_args()
    common.setup("throughput")
    common.flush_db()
    logs = common.logs_dir()
    sandbox = common.Sandbox(rate_limit=10_000_000, rate_window=30, logs=logs)
    pool = common.Workers(logs=logs)
    with common.stopping(sandbox, pool):
        world = common.seed_team(slug="tput", sandbox=sandbox)
        total = args.notes * args.rounds
        # The bare loop posts the very notes of the worker's records (the sandbox keeps both).
        worker_ids = common.seed_backlog(world, total, sandbox=sandbox)
        profile_ids = common.seed_backlog(world, args.profile_notes, sandbox=sandbox)
        pool.start(1, concurrency=1)
        # Warm up both paths (token, connections) before measuring.
        bare_loop(sandbox, _payloads(worker_ids[:20]))
        rounds = []
        for r in range(args.rounds):
            chunk = slice(r * args.notes, (r + 1) * args.notes)
            bare = bare_loop(sandbox, _payloads(worker_ids[chunk]))
            worker = worker_round(pool, worker_ids[chunk])
            rounds.append(
                {
                    "bare_notes_per_s": round(bare, 1),
                    "worker_notes_per_s": round(worker, 1),
                    "ratio": round(worker / bare, 3),
                }
            )
            print(rounds[-1], flush=True)
        pool.stop()
        in_process, profile = profile_in_process(profile_ids)
        profile_path = common.RESULTS_DIR / "throughput-profile.txt"
        common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        profile_path.write_text(profile)
        common.record(
            "throughput",
            {
                "config": vars(args),
                "median_ratio": common.median([r["ratio"] for r in rounds]),
                "median_worker_notes_per_s": common.median(
                    [r["worker_notes_per_s"] for r in rounds]
                ),
                "median_bare_notes_per_s": common.median([r["bare_notes_per_s"] for r in rounds]),
                "rounds": rounds,
                "in_process_sync_record_write_per_s": round(in_process, 1),
                "profile": str(profile_path.relative_to(common.BASE_DIR)),
            },
        )


if __name__ == "__main__":
    main()
