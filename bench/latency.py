"""Item 3, latency: message committed → note written, one worker process, the sandbox unthrottled.

    .venv/bin/python -m bench.latency                    # 3 runs of 150 inbound SMS at 3 per s
    .venv/bin/python -m bench.latency --runs 1 --messages 60

Messages arrive through the real inbound path (`sms_record_inbound`, what the Twilio webhook
calls): the message and its SyncRecord are committed together and the write task is published on
commit. Latency = SyncRecord.written_at - Message.created_at (set in the committing transaction,
a few ms before the commit). The prospects' candidate links are resolved beforehand, as they are
after a prospect's first synced message.
"""

import argparse
import time
import uuid

from bench import common


def seed_sms_world(sandbox, prospects: int):
    from django.utils import timezone

    from apps.greenhouse.models import CandidateLink
    from apps.greenhouse.policy import CandidateMatch
    from apps.messaging.models import VirtualPhoneNumber
    from apps.sequences.models import Prospect, ProspectEmail, ProspectPhone

    world = common.seed_team(slug=f"lat{uuid.uuid4().hex[:4]}", sandbox=sandbox)
    number = VirtualPhoneNumber.objects.create(
        team=world.team,
        user=world.user,
        number=f"+1500555{VirtualPhoneNumber.objects.count():04d}",
    )
    phones = []
    for i in range(prospects):
        email = f"lat{i}-{world.slug}@candidates.example"
        candidate = sandbox.control.add_candidate(
            first_name="Lat", last_name=str(i), emails=[email]
        )
        prospect = Prospect.objects.create(
            team=world.team, first_name="Lat", last_name=str(i), owner=world.user
        )
        ProspectEmail.objects.create(
            team=world.team, prospect=prospect, email=email, is_primary=True
        )
        phone = f"+1415{Prospect.objects.count():07d}"
        ProspectPhone.objects.create(team=world.team, prospect=prospect, number=phone)
        CandidateLink.objects.create(
            team=world.team,
            prospect=prospect,
            candidate_id=candidate["id"],
            match=CandidateMatch.ONE,
            candidate_ids_seen=[candidate["id"]],
            emails_searched=[email],
            resolved_at=timezone.now(),
        )
        phones.append(phone)
    return world, number, phones


def run_once(sandbox, pool, *, messages: int, rate: float, prospects: int) -> dict:
    from apps.greenhouse.models import SyncRecord
    from apps.messaging.sms.twilio import sms_record_inbound

    _, number, phones = seed_sms_world(sandbox, prospects)
    ids = []
    started = time.monotonic()
    for i in range(messages):
        # Paced, as texts arrive: one every 1/rate s.
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        result = sms_record_inbound(
            from_number=phones[i % len(phones)],
            to_number=number.number,
            sid=f"SM{uuid.uuid4().hex}",
            body=f"Reply {i}: happy to talk next week.",
        )
        ids.append(result.message.pk)
    records = SyncRecord.objects.filter(message_id__in=ids)
    common.wait_until(
        lambda: records.filter(status=SyncRecord.Status.WRITTEN).count() == messages,
        timeout=120 + messages / rate * 2,
        what="every note written",
    )
    latencies = [
        (written - created).total_seconds()
        for written, created in records.values_list("written_at", "message__created_at")
    ]
    return {
        "messages": messages,
        "p50_s": round(common.percentile(latencies, 0.50), 4),
        "p95_s": round(common.percentile(latencies, 0.95), 4),
        "p99_s": round(common.percentile(latencies, 0.99), 4),
        "max_s": round(max(latencies), 4),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=150)
    parser.add_argument("--rate", type=float, default=3.0, help="messages per second")
    parser.add_argument("--prospects", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    common.setup("latency")
    common.flush_db()
    logs = common.logs_dir()
    sandbox = common.Sandbox(rate_limit=10_000_000, rate_window=30, logs=logs)
    pool = common.Workers(logs=logs)
    with common.stopping(sandbox, pool):
        pool.start(1, concurrency=1)
        runs = []
        for _ in range(args.runs):
            runs.append(
                run_once(
                    sandbox, pool, messages=args.messages, rate=args.rate, prospects=args.prospects
                )
            )
            print(runs[-1], flush=True)
        common.record(
            "latency",
            {
                "config": vars(args),
                "median_p50_s": common.median([r["p50_s"] for r in runs]),
                "median_p95_s": common.median([r["p95_s"] for r in runs]),
                "median_p99_s": common.median([r["p99_s"] for r in runs]),
                "runs": runs,
            },
        )


if __name__ == "__main__":
    main()
