"""Item 7, the fault drill: messages flow (email sequence threads, SMS both ways, replies) while
worker processes are SIGKILLed at random and restarted, the broker is restarted once, and the
sandbox answers 5xx, saves writes then answers 500, sends bursts of 429 and is down for a while.
Then, once everything is quiet, every eligible message is compared with the sandbox's notes.

    .venv/bin/python -m bench.drill                      # ~2,000 messages, down for 30 s
    .venv/bin/python -m bench.drill --prospects 30 --down 5 --chaos 20   # CI-sized
    .venv/bin/python -m bench.drill --broker rabbitmq --no-redis-restart # on RabbitMQ

On Redis (the default) the broker is the Redis server at 127.0.0.1:6379, restarted once (every
key lost: queued tasks, lane tokens, the rate budget). With `--broker rabbitmq` the broker is a
RabbitMQ node of the drill's own (bench/rabbitmq.py: drill@localhost on 5673, started empty,
restarted once mid-chaos, stopped at the end; never the system node), while the cache and the
rate budget stay on Redis (`--redis-db`); that Redis server is restarted too unless
`--no-redis-restart` (on a shared machine it must not be).

Prints "lost: 0, duplicated: 0" with the totals and exits non-zero otherwise. The CI-sized run is
tests/drill/test_fault_drill.py: the same `run_drill` with pytest's workers, broker and sandbox.

The beat sweepers are stood in for by this driver: every `sweep_every` seconds it runs
`sync_records_sweep` and `messages_sweep` with a short stale threshold (above the workers' rate
wait + timeouts) and a short queue lease (instead of QUEUE_LEASE's 10 minutes), so that work of
killed workers and tasks lost with Redis are picked up within seconds.
"""

import argparse
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

# Worker settings for a drill: short waits so a run takes seconds; the stale threshold of the
# sweeps (STALE_AFTER below) stays above rate wait + both timeouts. Retries are quick, so more
# attempts are allowed: an outage of D seconds costs about D / RETRY_MAX_DELAY attempts.
WORKER_ENV = {
    "GREENHOUSE_CONNECT_TIMEOUT": "2",
    "GREENHOUSE_READ_TIMEOUT": "3",
    "GREENHOUSE_RATE_MAX_WAIT": "5",
    "GREENHOUSE_SYNC_RETRY_BASE_DELAY": "0.5",
    "GREENHOUSE_SYNC_RETRY_MAX_DELAY": "3",
    "GREENHOUSE_SYNC_MAX_ATTEMPTS": "60",
    "EMBEDDED_BROKER_POLLING_INTERVAL": "0.1",
}
STALE_AFTER = timedelta(seconds=15)


@dataclass
class DrillConfig:
    prospects: int = 30  # each: 3 sequence emails, 1 SMS out, 1 SMS in; a quarter reply by email
    workers: int = 3
    concurrency: int = 1
    chaos: float = 20.0  # seconds of faults, from the first message on
    kill_every: float = 6.0  # a random worker is SIGKILLed (and another started) this often
    broker_restart_at: float | None = 8.0  # seconds into the chaos; None: no restart
    # A restart of the Redis of the cache and rate budget when that is not the broker (a broker
    # on RabbitMQ); None: none.
    redis_restart_at: float | None = None
    down_at: float = 11.0
    down_for: float = 5.0
    burst_every: float = 4.0  # the window is used up by "another app": a burst of 429s
    error_rate: float = 0.05
    write_then_500: int = 3
    drop_after_write: int = 1
    rate_limit: int = 60
    rate_window: int = 2
    sweep_every: float = 1.5
    # The queue lease of the sweeps (seconds): a pending record (or queued message) whose task
    # was queued longer ago than this is taken as lost and queued once more. A task still waiting
    # in a slow queue then gets one duplicate per lease, not one per sweep (docs/benchmarks.md,
    # item 7). Also the grace before a missing sync record is created.
    lease: float = 3.0
    settle_timeout: float = 120.0  # after the chaos, for everything to be written
    seed: int | None = None


@dataclass
class DrillResult:
    messages: int = 0
    eligible: int = 0
    records: int = 0
    written: int = 0
    notes: int = 0
    lost: int = 0
    duplicated: int = 0
    stray_notes: int = 0
    unsent: int = 0
    kills: int = 0
    broker: str = "?"
    broker_restarts: int = 0
    redis_restarts: int = 0
    read_backs: int = 0
    read_backs_found: int = 0
    rejected_429: int = 0
    attempts: int = 0
    elapsed_s: float = 0.0
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.stray_notes == 0
            and self.unsent == 0
            and self.eligible > 0
            and self.written == self.eligible
        )

    def summary(self) -> str:
        return (
            f"lost: {self.lost}, duplicated: {self.duplicated} "
            f"(eligible messages: {self.eligible}, notes: {self.notes}, records written: "
            f"{self.written}/{self.records}, stray notes: {self.stray_notes}, unsent: "
            f"{self.unsent}; {self.kills} workers killed, {self.broker_restarts} broker "
            f"({self.broker}) restart, {self.redis_restarts} other Redis restart, "
            f"{self.rejected_429} answers 429, {self.read_backs} read-backs "
            f"({self.read_backs_found} found the note), {self.attempts} attempts, "
            f"{self.elapsed_s:.0f} s)"
        )


@dataclass
class Hooks:
    """What the drill needs from its surroundings (bench subprocesses or pytest fixtures)."""

    sandbox: object  # SandboxControl
    # start_worker(wait) -> a started worker (ready when `wait`); `.kill()` SIGKILLs it
    start_worker: Callable[[bool], object]
    # The broker's restart (Redis's, or the drill's own RabbitMQ node's); None: not restarted.
    restart_broker: Callable[[], None] | None = None
    broker: str = "Redis"
    # The restart of the cache's and rate budget's Redis when it is not the broker.
    restart_redis: Callable[[], None] | None = None
    log: Callable[[str], None] = print


# --- The world ---------------------------------------------------------------------------------


def build_world(sandbox, *, prospects: int):
    """A team synced to `sandbox`, its recruiter with a virtual number, a 3-step sequence with
    no delays, and `prospects` prospects (email + phone) who are candidates in the sandbox."""
    from types import SimpleNamespace

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apps.greenhouse.models import GreenhouseIntegration
    from apps.messaging.models import VirtualPhoneNumber
    from apps.sequences.services import prospect_create, sequence_create
    from apps.teams.models import Membership, Team

    tag = uuid.uuid4().hex[:6]
    team = Team.objects.create(name=f"Drill {tag}", slug=f"drill-{tag}")
    rob = get_user_model().objects.create_user(
        f"drill-rob-{tag}", f"rob-{tag}@drill.example", "pw", first_name="Rob"
    )
    Membership.objects.create(user=rob, team=team, role=Membership.Role.ADMIN)
    integration = GreenhouseIntegration(
        # "sandbox": the host profile of `sandbox` (bench.common.allow_sandbox_host, or the
        # tests' harvest_sandbox fixture).
        team=team,
        client_id=sandbox.client_id,
        host="sandbox",
        health=GreenhouseIntegration.Health.OK,
        sync_enabled_by_support=True,
        sync_enabled_at=timezone.now(),
        sync_on=True,
        sync_on_since=timezone.now() - timedelta(minutes=5),
    )
    integration.set_client_secret(sandbox.client_secret)
    integration.save()
    number = VirtualPhoneNumber.objects.create(team=team, user=rob, number="+15005550099")
    sequence = sequence_create(
        team=team,
        owner=rob,
        name="Drill",
        bcc="",
        steps=[
            {
                "subject_template": "Quick question, {{ first_name }}",
                "body_template": "Hi {{ first_name }}, chat? {{ sender_first_name }}",
            },
            {"body_template": "Bumping this, {{ first_name }}."},
            {"body_template": "Last note, {{ full_name }}."},
        ],
    )
    people = []
    for i in range(prospects):
        email = f"drill{i}-{tag}@candidates.example"
        sandbox.add_candidate(first_name="Drill", last_name=str(i), emails=[email])
        prospect = prospect_create(
            team=team,
            first_name="Drill",
            last_name=str(i),
            email=email,
            phone=f"+1628{i:07d}",
            owner=rob,
        )
        people.append(prospect)
    return SimpleNamespace(team=team, rob=rob, number=number, sequence=sequence, prospects=people)


def produce_emails(world) -> None:
    from apps.messaging.steps import sequence_steps_dispatch
    from apps.sequences.services import prospects_enroll

    prospects_enroll(sequence=world.sequence, prospects=world.prospects, enrolled_by=world.rob)
    for _ in range(3):  # three steps, no delay between them
        sequence_steps_dispatch()


def produce_sms(world) -> None:
    from apps.messaging.outbound import sms_send

    for prospect in world.prospects:
        sms_send(sender=world.rob, prospect=prospect, body=f"Hi {prospect.first_name}, Rob here.")


def produce_replies(world) -> None:
    from anymail.inbound import AnymailInboundMessage

    from apps.messaging.addressing import reply_address
    from apps.messaging.inbound import email_record_inbound
    from apps.messaging.models import Channel, Thread
    from apps.messaging.sms.twilio import sms_record_inbound

    for i, prospect in enumerate(world.prospects):
        phone = prospect.phones.values_list("number", flat=True)[0]
        sms_record_inbound(
            from_number=phone,
            to_number=world.number.number,
            sid=f"SM{uuid.uuid4().hex}",
            body="Happy to talk.",
        )
        if i % 4 == 0:
            thread = Thread.objects.get(prospect=prospect, channel=Channel.EMAIL)
            to = reply_address(thread.pk)
            mail = AnymailInboundMessage.construct(
                from_email=prospect.emails.values_list("email", flat=True)[0],
                to=to,
                subject=f"Re: {thread.subject}",
                text="Interested! Tuesday?",
                headers=[("Message-ID", f"<{uuid.uuid4().hex}@candidate.example>")],
            )
            mail.envelope_recipient = to
            email_record_inbound(inbound=mail, esp_name="Drill")


# --- Sweeping ----------------------------------------------------------------------------------


def sweep(lease: float) -> None:
    """The beat sweepers, with the drill's short thresholds."""
    from django.utils import timezone

    from apps.greenhouse.sweeper import sync_records_sweep
    from apps.messaging.delivery import messages_sweep

    now = timezone.now()
    lease = timedelta(seconds=lease)
    try:
        sync_records_sweep(now=now, stale_after=STALE_AFTER, grace=lease, lease=lease)
    except Exception as exc:  # the broker may be restarting: the next sweep tries again
        print(f"drill: sync sweep failed: {exc!r}", file=sys.stderr)
    try:
        messages_sweep(now=now, stale_after=STALE_AFTER, lease=lease)
    except Exception as exc:
        print(f"drill: message sweep failed: {exc!r}", file=sys.stderr)


# --- The run -----------------------------------------------------------------------------------


def run_drill(config: DrillConfig, hooks: Hooks) -> DrillResult:
    from django.db.models import Count

    from apps.greenhouse.models import SyncAttempt, SyncRecord
    from apps.greenhouse.notes import note_has_reference
    from apps.messaging.models import Message

    rng = random.Random(config.seed)
    sandbox = hooks.sandbox
    result = DrillResult(broker=hooks.broker)
    sandbox.configure(rate_limit=config.rate_limit, rate_window=config.rate_window)
    world = build_world(sandbox, prospects=config.prospects)
    workers = [hooks.start_worker(True) for _ in range(config.workers)]
    sandbox.set_faults(
        error_rate=config.error_rate,
        error_status=503,
        write_then_500=config.write_then_500,
        drop_after_write=config.drop_after_write,
    )

    started = time.monotonic()

    def elapsed():
        return time.monotonic() - started

    # Messages are produced in a thread (as web requests would be) while this loop injects the
    # faults on time.
    stages = [
        (0.0, "emails", produce_emails),
        (config.chaos * 0.25, "sms", produce_sms),
        (config.chaos * 0.5, "replies", produce_replies),
    ]
    producer_errors: list[BaseException] = []

    def produce():
        from django.db import connection

        try:
            for at, name, step in stages:
                time.sleep(max(0.0, at - elapsed()))
                step(world)
                hooks.log(f"drill {elapsed():5.1f} s: produced {name}")
        except BaseException as exc:
            producer_errors.append(exc)
        finally:
            connection.close()

    producer = threading.Thread(target=produce, name="drill-producer", daemon=True)
    producer.start()
    next_kill = config.kill_every
    next_burst = 0.0
    next_sweep = config.sweep_every
    broker_done = config.broker_restart_at is None or hooks.restart_broker is None
    # A restart runs beside the chaos (a RabbitMQ node takes seconds to stop and start): the
    # kills, bursts and the outage go on meanwhile, on time.
    restarts: list[threading.Thread] = []
    restart_errors: list[BaseException] = []

    def restart(what: str, action: Callable[[], None]) -> None:
        def run():
            try:
                action()
                hooks.log(f"drill {elapsed():5.1f} s: {what} restarted")
            except BaseException as exc:
                restart_errors.append(exc)

        thread = threading.Thread(target=run, name=f"drill-restart-{what}", daemon=True)
        thread.start()
        restarts.append(thread)
        hooks.log(f"drill {elapsed():5.1f} s: restarting {what}")

    redis_done = config.redis_restart_at is None or hooks.restart_redis is None
    down_state = "before"

    try:
        # The chaos: faults are injected while the messages flow.
        while (
            elapsed() < config.chaos or producer.is_alive() or any(t.is_alive() for t in restarts)
        ):
            t = elapsed()
            if t >= next_kill:
                next_kill += config.kill_every
                victim = rng.choice(workers)
                victim.kill()
                result.kills += 1
                workers.remove(victim)
                workers.append(hooks.start_worker(False))
                hooks.log(f"drill {t:5.1f} s: SIGKILLed a worker, started another")
            if t >= next_burst:
                next_burst += config.burst_every
                sandbox.exhaust_window()
            if not broker_done and t >= config.broker_restart_at:
                broker_done = True
                restart(f"the broker ({hooks.broker})", hooks.restart_broker)
                result.broker_restarts += 1
            if not redis_done and t >= config.redis_restart_at:
                redis_done = True
                restart("Redis (cache, rate budget)", hooks.restart_redis)
                result.redis_restarts += 1
            if down_state == "before" and t >= config.down_at:
                sandbox.set_faults(down=True)
                down_state = "down"
                hooks.log(f"drill {t:5.1f} s: sandbox down")
            if down_state == "down" and t >= config.down_at + config.down_for:
                sandbox.set_faults(down=False)
                down_state = "up"
                hooks.log(f"drill {t:5.1f} s: sandbox up")
            if t >= next_sweep:
                next_sweep += config.sweep_every
                sweep(config.lease)
            time.sleep(0.2)
        producer.join()
        if producer_errors:
            raise producer_errors[0]
        if restart_errors:
            raise restart_errors[0]
        sandbox.clear_faults()
        hooks.log(f"drill {elapsed():5.1f} s: faults cleared, settling")

        # Quiescence: every message sent or received, every record written.
        messages = Message.objects.filter(team=world.team)
        records = SyncRecord.objects.filter(team=world.team)
        deadline = time.monotonic() + config.settle_timeout
        next_report = time.monotonic() + 10
        while time.monotonic() < deadline:
            sweep(config.lease)
            unsent = messages.filter(
                status__in=(Message.Status.QUEUED, Message.Status.SENDING)
            ).count()
            pending = records.exclude(status=SyncRecord.Status.WRITTEN).count()
            if not unsent and not pending and records.count() == messages.count():
                break
            if time.monotonic() >= next_report:
                next_report += 10
                states = dict(records.values_list("status").annotate(n=Count("id")).order_by())
                hooks.log(f"drill {elapsed():5.1f} s: {unsent} messages unsent, records {states}")
            time.sleep(config.sweep_every)
    finally:
        try:
            sandbox.clear_faults()
        except Exception as exc:
            hooks.log(f"drill: could not clear the sandbox's faults: {exc!r}")
    result.elapsed_s = elapsed()

    # The comparison: every eligible message against the sandbox's notes.
    eligible = messages.filter(
        status__in=(Message.Status.SENT, Message.Status.DELIVERED, Message.Status.RECEIVED)
    )
    result.messages = messages.count()
    result.eligible = eligible.count()
    result.unsent = result.messages - result.eligible
    result.records = records.count()
    result.written = records.filter(status=SyncRecord.Status.WRITTEN).count()
    refs = dict(records.values_list("message_id", "note_ref"))
    notes = [n for n in sandbox.notes() if n["source"] == "api"]
    result.notes = len(notes)
    counts = Counter()
    matched = set()
    for message_id in eligible.values_list("pk", flat=True):
        ref = refs.get(message_id)
        found = [n for n in notes if ref and note_has_reference(n, ref)]
        counts[message_id] = len(found)
        matched.update(n["id"] for n in found)
    result.lost = sum(1 for c in counts.values() if c == 0)
    result.duplicated = sum(c - 1 for c in counts.values() if c > 1)
    result.stray_notes = len([n for n in notes if n["id"] not in matched])
    stored = set(records.exclude(note_id=None).values_list("note_id", flat=True))
    if stored != matched:
        result.problems.append(f"{len(stored ^ matched)} note ids differ from the records'")
    attempts = SyncAttempt.objects.filter(record__team=world.team)
    read_backs = attempts.filter(kind=SyncAttempt.Kind.READ_BACK)
    result.read_backs = read_backs.count()
    result.read_backs_found = read_backs.filter(outcome=SyncAttempt.Outcome.FOUND).count()
    result.attempts = sum(records.values_list("attempts", flat=True))
    result.rejected_429 = sum(w["rejected"] for w in sandbox.windows(sandbox.client_id))
    for status, n in records.values_list("status").annotate(n=Count("id")).order_by():
        if status != SyncRecord.Status.WRITTEN:
            result.problems.append(f"{n} records {status}")
    return result


# --- Standalone: PostgreSQL + Redis or RabbitMQ, worker and sandbox subprocesses ---------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prospects", type=int, default=380, help="~5.25 messages each")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--chaos", type=float, default=150.0, help="seconds of faults")
    parser.add_argument("--kill-every", type=float, default=12.0)
    parser.add_argument(
        "--broker",
        choices=("redis", "rabbitmq"),
        default="redis",
        help="rabbitmq: a node of the drill's own (bench/rabbitmq.py), started and restarted here",
    )
    parser.add_argument(
        "--broker-restart-at",
        "--redis-restart-at",
        type=float,
        default=30.0,
        help="seconds into the chaos the broker is restarted (negative: never)",
    )
    parser.add_argument(
        "--other-redis-restart-at",
        type=float,
        default=45.0,
        help="with --broker rabbitmq: when the Redis of the cache and budget is restarted",
    )
    parser.add_argument(
        "--no-redis-restart",
        action="store_true",
        help="with --broker rabbitmq: never restart the Redis server (it is shared)",
    )
    parser.add_argument(
        "--redis-db", type=int, default=None, help="Redis DB of the cache and budget (default 8)"
    )
    parser.add_argument("--down-at", type=float, default=60.0)
    parser.add_argument("--down", type=float, default=30.0, help="seconds the sandbox is down")
    parser.add_argument("--rate-limit", type=int, default=150)
    parser.add_argument("--rate-window", type=int, default=3)
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument(
        "--lease", type=float, default=30.0, help="seconds before a lost wake-up is queued again"
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    from bench import common
    from bench.rabbitmq import RabbitNode

    overrides = dict(WORKER_ENV)
    node = None
    if args.broker == "rabbitmq":
        node = RabbitNode.from_env()
        node.start(fresh=True)  # no queue or message of an earlier run
        overrides["CELERY_BROKER_URL"] = node.url
    common.setup("drill", redis_db_number=args.redis_db, **overrides)
    common.flush_db()
    logs = common.logs_dir()
    sandbox = common.Sandbox(logs=logs)
    pool = common.Workers(logs=logs)
    redis_url = f"{common.REDIS_BASE}/{common.redis_db}"
    if node is None:
        broker, restart_broker, restart_redis = "Redis", common.redis_restart, None
    else:
        broker, restart_broker = "RabbitMQ", node.restart
        restart_redis = None if args.no_redis_restart else (lambda: common.redis_restart(redis_url))
    config = DrillConfig(
        prospects=args.prospects,
        workers=args.workers,
        concurrency=args.concurrency,
        chaos=args.chaos,
        kill_every=args.kill_every,
        broker_restart_at=args.broker_restart_at if args.broker_restart_at >= 0 else None,
        redis_restart_at=args.other_redis_restart_at if restart_redis else None,
        down_at=args.down_at,
        down_for=args.down,
        burst_every=5.0,
        write_then_500=10,
        drop_after_write=3,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        sweep_every=5.0,
        lease=args.lease,
        settle_timeout=args.settle_timeout,
        seed=args.seed,
    )
    hooks = Hooks(
        sandbox=sandbox.control,
        start_worker=lambda wait: pool.start(1, concurrency=args.concurrency, wait=wait)[0],
        restart_broker=restart_broker,
        broker=broker,
        restart_redis=restart_redis,
    )
    things = (node, sandbox, pool) if node else (sandbox, pool)
    with common.stopping(*things):
        result = run_drill(config, hooks)
    print(result.summary())
    for problem in result.problems:
        print(f"problem: {problem}")
    name = "drill" if node is None else "drill-rabbitmq"
    common.record(name, {"config": vars(args), "ok": result.ok, **vars(result)})
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
