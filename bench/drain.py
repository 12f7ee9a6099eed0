"""Item 1, drain: a backlog of sync records written by N worker processes against the sandbox's
rate limit, then several teams at once, each with its own credential.

    .venv/bin/python -m bench.drain                     # 5,000 messages, 75 per 5 s, 8 workers
    .venv/bin/python -m bench.drain --runs 1 --messages 1000 --teams-messages 200   # quicker
    .venv/bin/python -m bench.drain --lookups --runs 1 --messages 600 --limit 75 --window 10 \
        --workers 4      # benchmark 4: lookups counted, the candidate directory on vs off

With --lookups, also requests and notes per allowed request over the run's steady span (gaps
between windows included: a window opens at its first request, so the allowance is `limit`
per `window` seconds back to back), lookups and read-backs per note, and over the whole run
(the directory's crawl included, which falls in the first window): notes per request sent and
notes per allowed request of every window with traffic. The directory (GREENHOUSE_DIRECTORY_
ENABLED) on and off run side by side, both with the link cache (--cache-seconds); with
--other-candidates, Greenhouse also holds that many candidates who are no prospect of the team
(the crawl lists them too).

The rates come from the sandbox's own per-window request log (GET /_sandbox/windows.json), per
credential: achieved = mean requests served per full window (the first and the last window, which
the run only partly covers, are left out) ÷ the limit; the share of 429s is rejected ÷ received
over every window of the run.
"""

import argparse
import time
import uuid
from collections import Counter

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


def _span_stats(windows: list[dict], requests: list[dict], limit: int, window: int) -> dict:
    """Requests and notes per allowed request over the steady part of a run, gaps between
    windows included: a window opens at its first request, so a client that always has work
    could send `limit` per `window` seconds back to back. Span: from the start of the second
    window with traffic to the start of the last one (the windows in between, and their gaps)."""
    active = [w for w in windows if w["received"] > 0]
    if len(active) < 3:
        return {"requests_ratio": None, "notes_ratio": None}
    steady = active[1:-1]
    starts = {w["window_start"] for w in steady}
    span = active[-1]["window_start"] - active[1]["window_start"]
    allowed = limit * span / window
    mine = [r for r in requests if r.get("window_start") in starts]
    notes = sum(1 for r in mine if r["method"] == "POST" and r["path"] == "/v3/notes")
    return {
        "steady_span_s": round(span, 2),
        "allowed_requests": round(allowed, 1),
        "steady_requests": sum(w["received"] for w in steady),
        "steady_notes": notes,
        "requests_ratio": sum(w["received"] for w in steady) / allowed,
        "notes_ratio": notes / allowed,
    }


def run_lookups(
    *, messages: int, per_thread: int, absent_every: int, limit: int, window: int, workers: int,
    cache_seconds: float, directory: bool = False, other_candidates: int = 0,
) -> dict:  # fmt: skip
    """Benchmark 4: one team, links not resolved yet (each prospect is looked up, every
    `absent_every`-th is not in Greenhouse), workers with GREENHOUSE_LOOKUP_CACHE_SECONDS =
    `cache_seconds` and the candidate directory on or off. Counts the requests by kind from
    the sandbox's log."""
    from django.db.models import Count

    from apps.greenhouse.models import SyncRecord

    common.flush_db()
    common.flush_redis()
    logs = common.logs_dir()
    sandbox = common.Sandbox(rate_limit=limit, rate_window=window, logs=logs)
    pool = common.Workers(
        logs=logs,
        extra_env={
            "GREENHOUSE_LOOKUP_CACHE_SECONDS": str(cache_seconds),
            "GREENHOUSE_DIRECTORY_ENABLED": "true" if directory else "false",
        },
    )
    with common.stopping(sandbox, pool):
        for n in range(other_candidates):
            sandbox.control.add_candidate(
                first_name="Other",
                last_name=str(n),
                emails=[f"o{n}-{uuid.uuid4().hex[:6]}@x.example"],
                age_seconds=86400.0,  # an account's candidates from before (not refreshed)
            )
        # A slug of its own: the sandbox may keep candidates of an earlier run (its state file),
        # and the same addresses again would make every prospect "several".
        world = common.seed_team(slug=f"lookups-{uuid.uuid4().hex[:6]}", sandbox=sandbox)
        ids = common.seed_backlog(
            world,
            messages,
            sandbox=sandbox,
            per_thread=per_thread,
            resolved_links=False,
            absent_every=absent_every,
        )
        found = Counter(
            e["value"] for c in sandbox.control.candidates() for e in c["email_addresses"]
        )
        assert max(found.values()) == 1, "a candidate address seeded twice"
        pool.start(workers)
        started = time.monotonic()
        common.queue_writes(ids)
        finished = (SyncRecord.Status.WRITTEN, SyncRecord.Status.SKIPPED)
        common.wait_until(
            lambda: SyncRecord.objects.filter(status__in=finished).count() >= messages,
            timeout=messages / (limit / window) * 3 + 120,
            interval=1,
            what="every record written or skipped",
        )
        elapsed = time.monotonic() - started
        statuses = dict(SyncRecord.objects.values_list("status").annotate(n=Count("id")).order_by())
        client_id = world.integration.client_id
        windows = sandbox.control.windows(client_id)
        log = [r for r in sandbox.control.requests() if r.get("client_id") == client_id]
        in_greenhouse = len(sandbox.control.candidates())
    notes = sum(1 for r in log if r["method"] == "POST" and r["path"] == "/v3/notes")
    lookups = sum(1 for r in log if r["path"] == "/v3/candidates" and "email=" in r["query"])
    listings = [r for r in log if r["path"] == "/v3/candidates" and "email=" not in r["query"]]
    read_backs = sum(1 for r in log if r["method"] == "GET" and r["path"] == "/v3/notes")
    active = [w for w in windows if w["received"] > 0]
    return {
        "directory": directory,
        "cache_seconds": cache_seconds,
        "other_candidates": other_candidates,
        "candidates_in_greenhouse": in_greenhouse,
        "directory_requests": len(listings),
        "directory_crawl_requests": sum(
            1 for r in listings if "updated_at" not in r["query"] and "ids=" not in r["query"]
        ),
        "directory_refresh_requests": sum(1 for r in listings if "updated_at" in r["query"]),
        "notes_per_request_whole_run": notes / len(log) if log else None,
        "notes_per_allowed_whole_run": notes / (limit * len(active)) if active else None,
        "elapsed_s": round(elapsed, 1),
        "records": statuses,
        "requests": len(log),
        "notes_posted": notes,
        "lookups": lookups,
        "read_backs": read_backs,
        "lookups_per_note": lookups / notes if notes else None,
        "read_backs_per_note": read_backs / notes if notes else None,
        **_window_stats(windows, limit),
        **_span_stats(windows, log, limit, window),
    }


def lookups_main(args) -> None:
    runs = []
    for _ in range(args.runs):  # the directory on and off side by side, alternating
        for directory in (True, False):
            runs.append(
                run_lookups(
                    messages=args.messages,
                    per_thread=args.per_thread,
                    absent_every=args.absent_every,
                    limit=args.limit,
                    window=args.window,
                    workers=args.workers,
                    cache_seconds=args.cache_seconds,
                    directory=directory,
                    other_candidates=args.other_candidates,
                )
            )

    def medians(directory):
        mine = [r for r in runs if r["directory"] == directory]
        keys = (
            "requests_ratio", "notes_ratio", "achieved_ratio", "lookups_per_note",
            "directory_requests", "notes_per_request_whole_run", "notes_per_allowed_whole_run",
        )  # fmt: skip
        return {k: common.median([r[k] for r in mine if r[k] is not None]) for k in keys}

    common.record(
        "drain_lookups",
        {
            "config": vars(args),
            "with_directory": medians(True),
            "without_directory": medians(False),
            "rejected_429": sum(r["rejected_429"] for r in runs),
            "runs": runs,
        },
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lookups",
        action="store_true",
        help="benchmark 4 instead: links not resolved, the directory on vs off (one team)",
    )
    parser.add_argument("--per-thread", type=int, default=5, help="--lookups: notes per prospect")
    parser.add_argument(
        "--absent-every", type=int, default=4, help="--lookups: every n-th not in Greenhouse"
    )
    parser.add_argument("--cache-seconds", type=float, default=300.0, help="--lookups")
    parser.add_argument(
        "--other-candidates",
        type=int,
        default=0,
        help="--lookups: candidates in Greenhouse who are no prospect of the team",
    )
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
    if args.lookups:
        return lookups_main(args)

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
