"""Item 1, drain: a backlog of sync records written by N worker processes against the sandbox's
rate limit, then several teams at once, each with its own credential.

    .venv/bin/python -m bench.drain                     # 5,000 messages, 75 per 5 s, 8 workers
    .venv/bin/python -m bench.drain --runs 1 --messages 1000 --teams-messages 200   # quicker

The rates come from the sandbox's own per-window request log (GET /_sandbox/windows.json), per
credential: achieved = mean requests served per full window (the first and the last window, which
the run only partly covers, are left out) ÷ the limit; the share of 429s is rejected ÷ received
over every window of the run.
"""

import argparse
import time

from bench import common


def _window_stats(windows: list[dict], limit: int) -> dict:
    active = [w for w in windows if w["received"] > 0]
    steady = active[1:-1] if len(active) > 2 else active
    received = sum(w["received"] for w in active)
    rejected = sum(w["rejected"] for w in active)
    return {
        "windows": len(active),
        "steady_windows": len(steady),
        "served_per_steady_window": [w["served"] for w in steady],
        "achieved_ratio": (
            sum(w["served"] for w in steady) / (len(steady) * limit) if steady else None
        ),
        "requests": received,
        "rejected_429": rejected,
        "share_429": rejected / received if received else 0.0,
        "max_served_in_a_window": max((w["served"] for w in active), default=0),
    }


def run_once(*, teams: int, messages: int, limit: int, window: int, workers: int) -> dict:
    from django.db.models import Count

    from apps.greenhouse.models import SyncRecord

    common.flush_db()
    common.flush_redis()
    logs = common.logs_dir()
    sandbox = common.Sandbox(rate_limit=limit, rate_window=window, logs=logs)
    pool = common.Workers(logs=logs)
    with common.stopping(sandbox, pool):
        worlds, ids = [], []
        for t in range(teams):
            world = common.seed_team(
                slug=f"drain{t}",
                sandbox=sandbox,
                client_id=None if t == 0 else f"bench-client-{t}",
                client_secret=None if t == 0 else f"bench-secret-{t}-{common.RUN_ID}",
            )
            worlds.append(world)
            ids.append(common.seed_backlog(world, messages, sandbox=sandbox))
        pool.start(workers)
        started = time.monotonic()
        # Interleave the teams' tasks, as concurrent traffic would.
        for batch in zip(*ids, strict=True):
            common.queue_writes(batch)
        total = teams * messages
        timeout = total / (teams * limit / window) * 3 + 120

        progress = {"written": -1, "at": time.monotonic()}

        def done():
            written = SyncRecord.objects.filter(status=SyncRecord.Status.WRITTEN).count()
            if written != progress["written"]:
                progress.update(written=written, at=time.monotonic())
            elif time.monotonic() - progress["at"] > 30:
                # No progress for 30 s: the queue was lost (someone restarted Redis). Queue the
                # rest again, as the beat sweeper would.
                pending = SyncRecord.objects.filter(status=SyncRecord.Status.PENDING)
                common.queue_writes(list(pending.values_list("pk", flat=True)))
                progress["at"] = time.monotonic()
            return written >= total

        common.wait_until(done, timeout=timeout, interval=1, what="every record written")
        elapsed = time.monotonic() - started
        statuses = dict(SyncRecord.objects.values_list("status").annotate(n=Count("id")).order_by())
        notes = [n for n in sandbox.control.notes() if n["source"] == "api"]
        per_team = []
        for world in worlds:
            client_id = world.integration.client_id
            stats = _window_stats(sandbox.control.windows(client_id), limit)
            per_team.append({"team": world.slug, "client_id": client_id, **stats})
        return {
            "elapsed_s": round(elapsed, 1),
            "records": statuses,
            "notes_written": len(notes),
            "allowed_rate_per_s": limit / window,
            "per_team": per_team,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--limit", type=int, default=75, help="sandbox requests per window")
    parser.add_argument("--window", type=int, default=5, help="sandbox window, seconds")
    parser.add_argument("--workers", type=int, default=8, help="worker processes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--teams", type=int, default=5)
    parser.add_argument("--teams-messages", type=int, default=200, help="per team")
    parser.add_argument("--teams-limit", type=int, default=15, help="per team and window")
    args = parser.parse_args()
    common.setup("drain")

    single = [
        run_once(
            teams=1,
            messages=args.messages,
            limit=args.limit,
            window=args.window,
            workers=args.workers,
        )
        for _ in range(args.runs)
    ]
    multi = [
        run_once(
            teams=args.teams,
            messages=args.teams_messages,
            limit=args.teams_limit,
            window=args.window,
            workers=args.workers,
        )
        for _ in range(args.runs)
    ]
    ratios = [r["per_team"][0]["achieved_ratio"] for r in single]
    shares = [r["per_team"][0]["share_429"] for r in single]
    team_ratios = [[t["achieved_ratio"] for t in r["per_team"]] for r in multi]
    team_shares = [[t["share_429"] for t in r["per_team"]] for r in multi]
    common.record(
        "drain",
        {
            "config": vars(args),
            "single_team": {
                "median_achieved_ratio": common.median(ratios),
                "median_share_429": common.median(shares),
                "runs": single,
            },
            "teams": {
                "median_achieved_ratio_per_team": [
                    common.median(col) for col in zip(*team_ratios, strict=True)
                ],
                "median_share_429_per_team": [
                    common.median(col) for col in zip(*team_shares, strict=True)
                ],
                "runs": multi,
            },
        },
    )


if __name__ == "__main__":
    main()
