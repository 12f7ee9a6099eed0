"""Item 6, fan-out: one sequence step due for N enrollments; the scheduler creates every message.

    .venv/bin/python -m bench.fanout                     # 1,000 then 10,000 enrollments
    .venv/bin/python -m bench.fanout --sizes 500 2000

`sequence_steps_dispatch` is called until nothing is due (each call handles up to
BATCH_SIZE x MAX_BATCHES_PER_RUN enrollments, as a beat tick does). Queries are counted with
a database execute wrapper; the per-message count is compared across sizes (constant = no N+1). The
send tasks are published to the bench queue on commit (Redis) and left there: no worker runs.
"""

import argparse
import time
from collections import Counter

from bench import common


def seed(n: int):
    from datetime import timedelta

    from django.utils import timezone

    from apps.sequences.models import Enrollment, Prospect, ProspectEmail

    world = common.seed_team(slug=f"fan{n}", sandbox=None)
    prospects = Prospect.objects.bulk_create(
        [
            Prospect(team=world.team, first_name="Fan", last_name=str(i), owner=world.user)
            for i in range(n)
        ],
        batch_size=2000,
    )
    ProspectEmail.objects.bulk_create(
        [
            ProspectEmail(
                team=world.team, prospect=p, email=f"fan{i}@candidates.example", is_primary=True
            )
            for i, p in enumerate(prospects)
        ],
        batch_size=2000,
    )
    due = timezone.now() - timedelta(minutes=1)
    Enrollment.objects.bulk_create(
        [
            Enrollment(
                sequence=world.sequence,
                prospect=p,
                enrolled_by=world.user,
                next_step_position=1,
                next_step_due_at=due,
            )
            for p in prospects
        ],
        batch_size=2000,
    )
    return world


def run(n: int) -> dict:
    from django.db import connection

    from apps.messaging.models import Message
    from apps.messaging.steps import sequence_steps_dispatch

    common.flush_db()
    common.flush_redis()
    seed(n)
    calls = 0
    created = 0
    kinds = Counter()

    def count(execute, sql, params, many, context):
        # Every statement (CaptureQueriesContext keeps only the last 9,000).
        kinds[sql.split(" ", 1)[0]] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started = time.perf_counter()
        while True:
            calls += 1
            done = sequence_steps_dispatch()
            created += done
            if not done or calls > n:
                break
        elapsed = time.perf_counter() - started
    assert Message.objects.count() == n == created, (Message.objects.count(), n, created)
    queries = sum(kinds.values())
    return {
        "enrollments": n,
        "messages": created,
        "dispatch_calls": calls,
        "total_s": round(elapsed, 2),
        "ms_per_message": round(elapsed / n * 1000, 2),
        "queries": queries,
        "queries_per_message": round(queries / n, 3),
        "queries_by_kind": dict(kinds),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=1, help="runs per size (median time)")
    args = parser.parse_args()
    common.setup("fanout")
    results = {}
    for n in args.sizes:
        runs = [run(n) for _ in range(args.runs)]
        for r in runs:
            print(r, flush=True)
        results[str(n)] = {
            "median_total_s": common.median([r["total_s"] for r in runs]),
            "median_ms_per_message": common.median([r["ms_per_message"] for r in runs]),
            "queries_per_message": runs[0]["queries_per_message"],
            "runs": runs,
        }
    per_message = [v["queries_per_message"] for v in results.values()]
    common.record(
        "fanout",
        {
            "config": vars(args),
            "sizes": results,
            "queries_per_message_spread": round(max(per_message) - min(per_message), 3),
        },
    )


if __name__ == "__main__":
    main()
