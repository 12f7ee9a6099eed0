"""Shared helpers of the benchmarks: environment, database, the sandbox and Celery workers as
subprocesses, fast seeding, and result records.

Every benchmark runs against PostgreSQL (a database of its own, `bench` by default) and Redis (its
own DB numbers, 5 for the broker and 6 for the cache and rate budget by default), with real
`celery -A config worker` processes and the Harvest sandbox as a separate process over HTTP.

Call `setup()` before importing anything from Django or the apps: it puts the environment in
place (children inherit it: the same SECRET_KEY and FIELD_ENCRYPTION_KEYS in every process),
creates the database when missing, runs `django.setup()` and the migrations.
"""

import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from tests.processes import ChildProcess, celery_worker_command

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"
RUN_ID = uuid.uuid4().hex[:8]

PG_BASE = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_BASE = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
# Each benchmark uses a Redis DB of its own (broker, cache and rate budget share it), so two
# benchmarks can run at once without flushing each other's queue.
REDIS_DBS = {
    "drain": 5,
    "throughput": 6,
    "batch": 6,
    "latency": 6,
    "fanout": 7,
    "webhook": 7,
    "scale": 7,
    "drill": 8,
    "connections": 7,
    "send_latency": 6,
    "isolation": 5,
    "memory": 6,
}
redis_db = 9


# --- Environment and database ------------------------------------------------------------------


def bench_env(database: str, db: int) -> dict:
    """The environment every process of a benchmark shares."""
    from cryptography.fernet import Fernet

    default = Path(tempfile.gettempdir()) / f"outreach-bench-{RUN_ID}"
    var_dir = Path(os.environ.get("BENCH_VAR_DIR", default))
    var_dir.mkdir(parents=True, exist_ok=True)
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{PG_BASE}/{database}",
        "CONN_MAX_AGE": "600",
        "CELERY_BROKER_URL": f"{REDIS_BASE}/{db}",
        "CACHE_URL": f"{REDIS_BASE}/{db}",
        "GREENHOUSE_RATE_BUDGET_URL": f"{REDIS_BASE}/{db}",
        "CELERY_QUEUE": f"bench-{RUN_ID}",
        "GREENHOUSE_KEY_PREFIX": f"bench-{RUN_ID}",
        "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY") or f"bench-secret-{uuid.uuid4().hex}",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "VAR_DIR": str(var_dir),
        "DEV_OUTBOX_DIR": str(var_dir / "outbox"),
        "EMAIL_BACKEND": "apps.messaging.backends.DevOutboxEmailBackend",
        "SMS_BACKEND": "apps.messaging.sms.dev.DevOutboxSmsBackend",
        "TWILIO_AUTH_TOKEN": "bench-twilio-token",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "DEBUG": "false",
        "DEV_TOOLS": "false",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    }


def ensure_database(name: str) -> None:
    out = subprocess.run(
        [
            "psql",
            f"{PG_BASE}/postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname='{name}'",  # noqa: S608  (our own name),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    if out.stdout.strip() != "1":
        host = urlsplit(PG_BASE)
        subprocess.run(
            [
                "createdb",
                "-h",
                host.hostname,
                "-p",
                str(host.port or 5432),
                "-U",
                host.username or "postgres",
                name,
            ],
            check=True,
        )


def setup(
    name: str, *, database: bool = True, redis_db_number: int | None = None, **overrides
) -> dict:
    """Environment, database `bench_<name>`, django.setup(), migrations (`database=False`: no
    database, for a benchmark that never queries one; `redis_db_number`: another Redis DB than
    the benchmark's own). Returns the environment."""
    global redis_db
    redis_db = REDIS_DBS.get(name, 9) if redis_db_number is None else redis_db_number
    use_database, database_name = database, f"bench_{name}"
    env = {**bench_env(database_name, redis_db), **{k: str(v) for k, v in overrides.items()}}
    os.environ.update(env)
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so `stopping()` stops every child; a second
    # SIGTERM must not interrupt that.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if use_database:
        ensure_database(database_name)
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    if use_database:
        call_command("migrate", verbosity=0, interactive=False)
    flush_redis()
    return env


def _exit_on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(143)


def flush_db() -> None:
    """Empty every table of the bench database (fast: one TRUNCATE)."""
    from django.apps import apps
    from django.db import connection

    tables = [m._meta.db_table for m in apps.get_models() if m._meta.managed]
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " CASCADE"
        )


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(f"{REDIS_BASE}/{redis_db}").flushdb()


# --- Machine and results -----------------------------------------------------------------------


def machine() -> dict:
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": version(["psql", "--version"]),
        "redis": version(["redis-server", "--version"]).split(" sha=")[0],
        "kernel": platform.release(),
    }


def record(name: str, result: dict) -> dict:
    """Print the result as JSON and keep it in bench/results/<name>.json."""
    payload = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        **result,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    print(json.dumps(payload, indent=2, default=str))
    return payload


def percentile(values, q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


# --- Redis -------------------------------------------------------------------------------------


def redis_restart(url: str | None = None, *, down_for: float = 1.0) -> None:
    """Stop the Redis server behind `url` (no save) and start it again with the options it was
    running with (bind, port, save, appendonly, dir, logfile), daemonized. Every key is gone
    afterwards (no persistence), as after a crash of a cache-only Redis."""
    import redis

    url = url or REDIS_BASE
    client = redis.Redis.from_url(url, socket_timeout=5)
    options = {
        name: client.config_get(name)[name]
        for name in ("bind", "port", "save", "appendonly", "dir", "logfile")
    }
    command = [
        "redis-server",
        "--daemonize",
        "yes",
        "--bind",
        *options["bind"].split(),
        "--port",
        options["port"],
        "--save",
        options["save"],
        "--appendonly",
        options["appendonly"],
        "--dir",
        options["dir"],
        "--logfile",
        options["logfile"],
    ]
    try:
        client.shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it stops
    except redis.ResponseError as exc:
        print(f"warning: Redis refused to shut down: {exc}", file=sys.stderr)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _redis_up(url):
        time.sleep(0.05)
    time.sleep(down_for)
    subprocess.run(command, check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _redis_up(url):
        time.sleep(0.05)
    if not _redis_up(url):
        raise RuntimeError(f"Redis did not come back: {' '.join(command)}")


def _redis_up(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


# --- Subprocesses ------------------------------------------------------------------------------


class Proc(ChildProcess):
    """A benchmark's subprocess (web server, sandbox, worker), run from the checkout."""

    def __init__(self, args, *, env, log_path: Path, name: str):
        super().__init__(args, env=env, log_path=log_path, cwd=BASE_DIR, name=name)


class Sandbox:
    """`manage.py harvest_sandbox` in a subprocess; `.control` drives it over HTTP."""

    def __init__(
        self, *, rate_limit: int = 100_000, rate_window: int = 30, logs: Path, extra_args=()
    ):
        from apps.harvest_sandbox import SandboxControl

        self.proc = Proc(
            [
                sys.executable,
                "manage.py",
                "harvest_sandbox",
                "--port",
                "0",
                "--no-demo-data",
                "--rate-limit",
                str(rate_limit),
                "--rate-window",
                str(rate_window),
                # In memory only: a state file is rewritten whole every 0.5 s (asdict of every
                # note, under the sandbox's lock), which at 35,000 notes held the lock most of
                # the time and cut a run from 120 to 18 notes/s. No benchmark restarts it.
                "--state-file",
                "",
                *extra_args,
            ],
            env={**os.environ, "DEV_TOOLS": "true"},  # the sandbox is a DEV_TOOLS app
            log_path=logs / f"sandbox-{RUN_ID}-{uuid.uuid4().hex[:6]}.log",
            name="sandbox",
        )
        self.proc.wait_for_log("Rate limit:", timeout=30)
        self.url = re.search(r"API base URL:\s+(\S+)", self.proc.log).group(1)
        from django.conf import settings

        self.client_id = settings.GREENHOUSE_SANDBOX_CLIENT_ID
        self.client_secret = settings.GREENHOUSE_SANDBOX_CLIENT_SECRET
        self.control = SandboxControl(
            url=self.url, client_id=self.client_id, client_secret=self.client_secret
        )
        allow_sandbox_host(self.url)

    def stop(self):
        self.proc.stop()


SANDBOX_HOST = "sandbox"


def allow_sandbox_host(url: str) -> None:
    """The Harvest client contacts only configured host profiles: add the "sandbox" profile for
    this sandbox's port, here and (through the environment) in every process started after."""
    from django.conf import settings

    hosts = {
        **settings.GREENHOUSE_HOSTS,
        SANDBOX_HOST: {"label": "Bench sandbox", "api": url, "token": f"{url}/token"},
    }
    settings.GREENHOUSE_HOSTS = hosts
    os.environ["GREENHOUSE_EXTRA_HOSTS"] = json.dumps(hosts)


class Workers:
    """`celery -A config worker` subprocesses on the bench queue."""

    def __init__(self, *, logs: Path, extra_env: dict | None = None):
        self.logs = logs
        self.extra_env = extra_env or {}
        self.procs: list[Proc] = []
        self.started = 0

    def start(
        self, n: int = 1, *, concurrency: int = 1, wait: bool = True, kinds=("send", "sync")
    ) -> list[Proc]:
        """`n` workers on the run's queues of `kinds` (apps/core/routing.py): both by default."""
        new = []
        for _ in range(n):
            index = self.started
            self.started += 1
            command = celery_worker_command(
                prefix=os.environ["CELERY_QUEUE"],
                hostname=f"bench{index}-{RUN_ID}@%h",
                concurrency=concurrency,
                kinds=kinds,
                loglevel="WARNING",
            )
            proc = Proc(
                command,
                env={**os.environ, **self.extra_env},
                log_path=self.logs / f"worker-{index}-{RUN_ID}.log",
                name=f"worker {index}",
            )
            new.append(proc)
            self.procs.append(proc)
        if wait:
            for proc in new:
                self.wait_ready(proc)
        return new

    @staticmethod
    def wait_ready(proc: Proc, timeout: float = 90) -> None:
        # At WARNING the worker prints nothing when ready: ask it over the broker instead.
        from config.celery import app

        deadline = time.monotonic() + timeout
        name = proc.args[proc.args.index("--hostname") + 1].replace("%h", platform.node())
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited early:\n{proc.log[-3000:]}")
            try:
                replies = app.control.ping(destination=[name], timeout=0.5) or []
            except Exception:
                replies = []
            if replies:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{proc.name} not ready after {timeout} s:\n{proc.log[-3000:]}")

    def alive(self) -> list[Proc]:
        return [p for p in self.procs if p.alive()]

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


@contextmanager
def stopping(*things):
    """Stop every started thing (workers, sandbox, servers) however the block ends."""
    try:
        yield
    finally:
        for thing in reversed(things):
            try:
                thing.stop()
            except Exception as exc:  # keep stopping the others
                print(f"warning: could not stop {thing}: {exc}", file=sys.stderr)


def logs_dir() -> Path:
    path = Path(os.environ["VAR_DIR"]) / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- Seeding -----------------------------------------------------------------------------------


def seed_team(
    *, slug: str, sandbox: Sandbox, client_id: str | None = None, client_secret: str | None = None
):
    """A team with a recruiter, a Greenhouse integration on `sandbox` (sync enabled and on, the
    connection healthy) and a one-step email sequence. Returns a namespace."""
    from types import SimpleNamespace

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apps.greenhouse.models import GreenhouseIntegration
    from apps.sequences.models import Sequence, SequenceStep
    from apps.teams.models import Membership, Team

    team = Team.objects.create(name=f"Team {slug}", slug=slug)
    user = get_user_model().objects.create_user(
        f"rec-{slug}", f"rec-{slug}@bench.example", "pw", first_name="Rec", last_name=slug
    )
    Membership.objects.create(user=user, team=team, role=Membership.Role.ADMIN)
    sequence = Sequence.objects.create(team=team, owner=user, name=f"Bench {slug}")
    step = SequenceStep.objects.create(
        sequence=sequence,
        position=1,
        delay=timezone.timedelta(0),
        subject_template="Hello {{ first_name }}",
        body_template="Hi {{ first_name }}",
    )
    world = SimpleNamespace(
        team=team, user=user, integration=None, sequence=sequence, step=step, slug=slug
    )
    if sandbox is None:
        return world
    client_id = client_id or sandbox.client_id
    client_secret = client_secret or sandbox.client_secret
    if client_id != sandbox.client_id:
        sandbox.control.add_credential(client_id=client_id, client_secret=client_secret)
    integration = GreenhouseIntegration(
        team=team,
        client_id=client_id,
        host=SANDBOX_HOST,
        health=GreenhouseIntegration.Health.OK,
        sync_enabled_by_support=True,
        sync_enabled_at=timezone.now(),
        sync_on=True,
        sync_on_since=timezone.now() - timezone.timedelta(hours=1),
    )
    integration.set_client_secret(client_secret)
    integration.save()
    world.integration = integration
    return world


def seed_backlog(
    world,
    n: int,
    *,
    sandbox: Sandbox,
    per_thread: int = 5,
    resolved_links: bool = True,
    absent_every: int = 0,
    batch: int = 2000,
) -> list[int]:
    """`n` sent sequence emails of `world`'s team, `per_thread` per prospect's thread (in message
    order), each with a pending SyncRecord: the outbox backlog. The prospects are candidates in
    the sandbox (but every `absent_every`-th, when set: not in Greenhouse, its records are
    skipped after a lookup); with `resolved_links` their CandidateLink is already resolved (one
    POST per note, no lookup). Returns the record ids, oldest message first. Bulk inserts."""
    from django.utils import timezone

    from apps.greenhouse.models import CandidateLink, SyncRecord
    from apps.greenhouse.notes import note_reference
    from apps.greenhouse.policy import CandidateMatch, Reason
    from apps.messaging.models import Channel, Message, Thread
    from apps.sequences.models import Enrollment, Prospect, ProspectEmail

    team, user = world.team, world.user
    ids: list[int] = []
    done = 0
    while done < n:
        count = min(batch, n - done)
        people = -(-count // per_thread)
        first = Prospect.objects.filter(team=team).count()
        emails = [f"c{first + i}-{world.slug}@candidates.example" for i in range(people)]
        candidate_ids = [
            None
            if absent_every and (first + i) % absent_every == 0
            else sandbox.control.add_candidate(
                first_name="Cand", last_name=str(first + i), emails=[email]
            )["id"]
            for i, email in enumerate(emails)
        ]
        prospects = Prospect.objects.bulk_create(
            [
                Prospect(team=team, first_name="Cand", last_name=str(first + i), owner=user)
                for i in range(people)
            ]
        )
        ProspectEmail.objects.bulk_create(
            [
                ProspectEmail(team=team, prospect=p, email=e, is_primary=True)
                for p, e in zip(prospects, emails, strict=True)
            ]
        )
        if resolved_links:
            now = timezone.now()
            CandidateLink.objects.bulk_create(
                [
                    CandidateLink(
                        team=team,
                        prospect=p,
                        candidate_id=c,
                        match=CandidateMatch.ONE,
                        candidate_ids_seen=[c],
                        emails_searched=[e],
                        resolved_at=now,
                    )
                    for p, c, e in zip(prospects, candidate_ids, emails, strict=True)
                ]
            )
        enrollments = Enrollment.objects.bulk_create(
            [
                Enrollment(
                    sequence=world.sequence,
                    prospect=p,
                    enrolled_by=user,
                    status=Enrollment.Status.FINISHED,
                    next_step_position=None,
                )
                for p in prospects
            ]
        )
        threads = Thread.objects.bulk_create(
            [
                Thread(
                    team=team,
                    prospect=p,
                    owner=user,
                    channel=Channel.EMAIL,
                    enrollment=e,
                    subject=f"Hello {p.last_name}",
                )
                for p, e in zip(prospects, enrollments, strict=True)
            ]
        )
        base = timezone.now() - timezone.timedelta(minutes=1)
        # Message k of every thread, then k+1...: thread order is creation order.
        plan = [
            (k, t, em) for k in range(per_thread) for t, em in zip(threads, emails, strict=True)
        ][:count]
        messages = [
            Message(
                team=team,
                thread=t,
                direction=Message.Direction.OUTBOUND,
                channel=Channel.EMAIL,
                sender=user,
                enrollment=t.enrollment,
                sequence_step=world.step if k == 0 else None,
                from_address=user.email,
                to_addresses=[em],
                subject=t.subject if k == 0 else f"Re: {t.subject}",
                body_text=f"Hi Cand, message {k + 1} of {t.subject}. Would you like to chat?",
                message_id=f"{uuid.uuid4().hex}@bench.example",
                status=Message.Status.SENT,
                sent_at=base,
                attempts=1,
            )
            for k, t, em in plan
        ]
        messages = Message.objects.bulk_create(messages)
        for i, message in enumerate(messages):  # distinct, increasing times
            message.created_at = base + timezone.timedelta(microseconds=i)
        Message.objects.bulk_update(messages, ["created_at"], batch_size=1000)
        records = SyncRecord.objects.bulk_create(
            [
                SyncRecord(
                    message=m,
                    team=team,
                    prospect_id=m.thread.prospect_id,
                    thread=m.thread,
                    channel=Channel.EMAIL,
                    direction=m.direction,
                    status=SyncRecord.Status.PENDING,
                    reason=Reason.SEQUENCE_EMAIL,
                )
                for m in messages
            ]
        )
        for r in records:
            r.note_ref = note_reference(r.pk)
        SyncRecord.objects.bulk_update(records, ["note_ref"], batch_size=1000)
        ids += [r.pk for r in records]
        done += count
    return ids


def queue_writes(record_ids) -> None:
    """Publish one write task per record (what the on-commit hooks do)."""
    from apps.greenhouse.tasks import sync_record_write_task

    for pk in record_ids:
        sync_record_write_task.apply_async(args=[pk])


def wait_until(predicate, *, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout} s")
