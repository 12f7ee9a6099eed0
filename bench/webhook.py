"""Item 4 / issue 13 benchmark 10, webhook ingest: the Twilio inbound SMS webhook under gunicorn
on PostgreSQL against a trivial Django view served by the same gunicorn in the same run (rounds
alternate); then, with a real worker, the time from the stored event to its sync record.

    apt-get install wrk                                  # the load generator (Debian package)
    .venv/bin/python -m bench.webhook        # 3 rounds x 2 gunicorns x 3 endpoints x 10 s, 100 SMS
    .venv/bin/python -m bench.webhook --rounds 1 --seconds 5 --latency-messages 40

gunicorn runs `config.wsgi` with DJANGO_SETTINGS_MODULE=bench.settings (the project's settings
plus `/_bench/trivial/` and `/_bench/commit/`, bench/urls.py; production never loads them), with
one gunicorn per worker model (`--worker-classes`, by default the Procfile's gthread and the sync
workers, `--gunicorn-workers` each, `--gunicorn-threads` per gthread worker), side by side in
every round; each ratio compares endpoints served by the same gunicorn.

1. Acknowledgement, no worker running: every webhook request is a distinct inbound SMS (its own
   MessageSid) from a known prospect to the team's virtual number, signed with twilio's
   RequestValidator over PUBLIC_BASE_URL + path. The webhook verifies it, stores it as an
   InboundEvent and answers (apps/messaging/inbox.py); the processor task is published only when
   no other is on its way (counted in the broker: a few per round, not one per request). The
   trivial view gets the same POST bodies. Cost ratio = trivial req/s / webhook req/s (goal <= 3),
   and p50 latency ratio. The floor: `/_bench/commit/` does the webhook's INSERT alone (one
   durable commit, the same bodies, no parsing, no signature, no wake-up); trivial / commit is
   what no webhook that commits its request before answering can beat. Each endpoint's CPU per
   request (gunicorn's processes and the PostgreSQL backends of the bench database, from /proc)
   tells CPU from waiting (the WAL flush of each commit).
2. Inbox -> sync record, with one real worker (concurrency 2) and the Harvest sandbox: the events
   of step 1 are deleted, then `--latency-messages` signed SMS are POSTed to the same gunicorn at
   `--latency-rate` per second; latency = SyncRecord.created_at - InboundEvent.received_at (goal
   p95 < 1 s), and to the note written (SyncRecord.written_at).
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from bench import common

LUA = r"""
local lines = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do table.insert(lines, line) end
  idx = tid + tonumber(os.getenv("BENCH_OFFSET"))
  step = tonumber(os.getenv("BENCH_THREADS"))
  path = os.getenv("BENCH_PATH")
end
function request()
  local line = lines[(idx % #lines) + 1]
  idx = idx + step
  local tab = string.find(line, "\t", 1, true)
  local body = string.sub(line, 1, tab - 1)
  local signature = string.sub(line, tab + 1)
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = signature,
  }, body)
end
"""


def seed(prospects: int):
    from django.utils import timezone

    from apps.greenhouse.models import GreenhouseIntegration
    from apps.messaging.models import VirtualPhoneNumber
    from apps.sequences.models import Prospect, ProspectPhone

    world = common.seed_team(slug="hook", sandbox=None)
    # No worker runs: nothing is ever sent to Greenhouse.
    integration = GreenhouseIntegration(
        team=world.team,
        client_id="bench-hook",
        health=GreenhouseIntegration.Health.OK,
        sync_enabled_by_support=True,
        sync_on=True,
        sync_on_since=timezone.now() - timezone.timedelta(hours=1),
    )
    integration.set_client_secret("bench-hook-secret-0000")
    integration.save()
    number = VirtualPhoneNumber.objects.create(
        team=world.team, user=world.user, number="+15005550006"
    )
    phones = []
    for i in range(prospects):
        prospect = Prospect.objects.create(team=world.team, first_name="Hook", last_name=str(i))
        phone = f"+1415{i:07d}"
        ProspectPhone.objects.create(team=world.team, prospect=prospect, number=phone)
        phones.append(phone)
    return number, phones


def write_requests(path: Path, *, count: int, number, phones) -> None:
    from django.conf import settings
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    url = settings.PUBLIC_BASE_URL + "/webhooks/twilio/sms/"
    with path.open("w") as out:
        for i in range(count):
            params = {
                "MessageSid": f"SM{uuid.uuid4().hex}",
                "AccountSid": "AC" + "0" * 32,
                "From": phones[i % len(phones)],
                "To": number.number,
                "Body": f"Reply {i}: sounds good, let's talk on Tuesday afternoon.",
                "NumMedia": "0",
            }
            out.write(f"{urlencode(params)}\t{validator.compute_signature(url, params)}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(
    port: int,
    path: str,
    *,
    seconds: int,
    connections: int,
    threads: int,
    script: Path,
    requests_file: Path,
    offset: int = 0,
) -> dict:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        env={
            **os.environ,
            "BENCH_REQUESTS": str(requests_file),
            "BENCH_PATH": path,
            "BENCH_THREADS": str(threads),
            "BENCH_OFFSET": str(offset),
        },
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout

    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99_ms": ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(server_pid: int) -> dict[str, dict[int, float]]:
    """CPU so far of gunicorn (master and workers) and of the bench database's PostgreSQL
    backends (gunicorn's connections; this process's own is left out)."""
    from django.db import connection

    workers = [server_pid]
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    if children.exists():
        workers += [int(pid) for pid in children.read_text().split()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        backends = [row[0] for row in cursor.fetchall()]
    return {
        "gunicorn": {pid: _cpu_seconds(pid) for pid in workers},
        "postgres": {pid: _cpu_seconds(pid) for pid in backends},
    }


def cpu_per_request(before: dict, after: dict, requests: int) -> dict:
    """Milliseconds of CPU per request, by side, between two snapshots."""
    out = {}
    for side in ("gunicorn", "postgres"):
        used = sum(cpu - before[side].get(pid, 0.0) for pid, cpu in after[side].items())
        out[f"{side}_ms"] = round(1000 * used / max(requests, 1), 3)
    out["total_ms"] = round(out["gunicorn_ms"] + out["postgres_ms"], 3)
    return out


def measure(server_pid: int, port: int, path: str, **run) -> dict:
    """One wrk run against `path`, with the CPU it cost per request."""
    before = cpu_snapshot(server_pid)
    result = wrk(port, path, **run)
    result["cpu_per_request"] = cpu_per_request(
        before, cpu_snapshot(server_pid), result["requests"]
    )
    return result


def broker_queue_length() -> int:
    """Tasks waiting in the bench's queues (the Redis lists of each queue by kind and its
    priority steps)."""
    import redis

    from apps.core.routing import queue_names

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    return sum(
        client.llen(n)
        for queue in queue_names(os.environ["CELERY_QUEUE"])
        for n in [queue, *(f"{queue}\x06\x16{s}" for s in (3, 6, 9))]
    )


def signed_sms(number: str, phone: str, index: int) -> tuple[str, str]:
    from django.conf import settings
    from twilio.request_validator import RequestValidator

    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "AccountSid": "AC" + "0" * 32,
        "From": phone,
        "To": number,
        "Body": f"Reply {index}: sounds good, let's talk on Tuesday afternoon.",
        "NumMedia": "0",
    }
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.PUBLIC_BASE_URL + "/webhooks/twilio/sms/", params
    )
    return urlencode(params), signature


def inbox_to_sync_record(port: int, *, messages: int, rate: float, logs: Path) -> dict:
    """Step 2: paced signed SMS through gunicorn, one real worker; latencies from the rows."""
    import requests

    from apps.greenhouse.models import SyncRecord
    from apps.messaging.models import InboundEvent, Message
    from bench.latency import seed_sms_world
    from config.celery import app

    time.sleep(2)  # requests wrk left in flight are answered
    from apps.core.routing import queue_names

    with app.connection_for_write() as conn:
        for queue in queue_names(os.environ["CELERY_QUEUE"]):
            conn.default_channel.queue_purge(queue)
    InboundEvent.objects.all().delete()  # step 1's events: not this step's backlog
    from apps.messaging.wake import wake_lease

    lease = wake_lease()
    if lease is not None:  # its task was purged with step 1's queue
        lease.release()
    sandbox = common.Sandbox(rate_limit=10_000_000, rate_window=30, logs=logs)
    pool = common.Workers(logs=logs)
    with common.stopping(sandbox, pool):
        _, number, phones = seed_sms_world(sandbox, prospects=30)
        pool.start(1, concurrency=2)
        session = requests.Session()
        acks = []
        started = time.monotonic()
        for i in range(messages):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body, signature = signed_sms(number.number, phones[i % len(phones)], i)
            sent = time.monotonic()
            response = session.post(
                f"http://127.0.0.1:{port}/webhooks/twilio/sms/",
                data=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                },
                timeout=30,
            )
            acks.append(time.monotonic() - sent)
            assert response.status_code == 200, response.status_code
        events = InboundEvent.objects.filter(channel="sms")
        common.wait_until(
            lambda: events.filter(status=InboundEvent.Status.PROCESSED).count() == messages,
            timeout=120 + messages / rate * 2,
            what="every event processed",
        )
        received = dict(events.values_list("provider_event_id", "received_at"))
        message_sid = dict(
            Message.objects.filter(provider_message_id__in=received).values_list(
                "pk", "provider_message_id"
            )
        )
        records = SyncRecord.objects.filter(message_id__in=message_sid)
        common.wait_until(
            lambda: records.filter(status=SyncRecord.Status.WRITTEN).count() == messages,
            timeout=120 + messages / rate * 2,
            what="every note written",
        )
        to_record, to_note = [], []
        for message_id, created, written in records.values_list(
            "message_id", "created_at", "written_at"
        ):
            start = received[message_sid[message_id]]
            to_record.append((created - start).total_seconds())
            to_note.append((written - start).total_seconds())

    def stats(values):
        return {
            "p50_s": round(common.percentile(values, 0.50), 4),
            "p95_s": round(common.percentile(values, 0.95), 4),
            "max_s": round(max(values), 4),
        }

    return {
        "messages": messages,
        "rate_per_s": rate,
        "events_processed": len(received),
        "sync_records": len(to_record),
        "inbox_to_sync_record": stats(to_record),
        "inbox_to_note_written": stats(to_note),
        "client_ack": stats(acks),
    }


def gunicorn(worker_class: str, *, workers: int, threads: int, logs: Path):
    """gunicorn serving bench.settings on a port of its own, with the given worker model."""
    port = free_port()
    server = common.Proc(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--threads",
            str(threads if worker_class == "gthread" else 1),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        log_path=logs / f"gunicorn-{worker_class}.log",
        name=f"gunicorn-{worker_class}",
    )
    return server, port


def one_round(server, port: int, *, offset: int, run: dict) -> dict:
    """The three endpoints, one after the other, on one gunicorn."""
    from apps.messaging.models import InboundEvent

    stored = InboundEvent.objects.exclude(provider="bench-floor")
    before = stored.count()
    tasks_before = broker_queue_length()
    pid = server.proc.pid
    trivial = measure(pid, port, "/_bench/trivial/", **run)
    floor = measure(pid, port, "/_bench/commit/", **run)
    hook = measure(pid, port, "/webhooks/twilio/sms/", offset=offset, **run)
    return {
        "trivial": trivial,
        "commit": floor,
        "webhook": hook,
        "events_stored": stored.count() - before,
        "processor_tasks_published": broker_queue_length() - tasks_before,
        "cost_ratio": round(trivial["req_per_s"] / hook["req_per_s"], 3),
        "p50_ratio": round(hook["p50_ms"] / trivial["p50_ms"], 3),
        "floor_ratio": round(trivial["req_per_s"] / floor["req_per_s"], 3),
        "webhook_over_floor": round(floor["req_per_s"] / hook["req_per_s"], 3),
        "cpu_ratio": round(
            hook["cpu_per_request"]["total_ms"]
            / max(trivial["cpu_per_request"]["total_ms"], 0.001),
            3,
        ),
        "floor_cpu_ratio": round(
            floor["cpu_per_request"]["total_ms"]
            / max(trivial["cpu_per_request"]["total_ms"], 0.001),
            3,
        ),
    }


def summary(rounds: list[dict]) -> dict:
    def med(key, side=None, field=None):
        return common.median([(r[side][field] if side else r[key]) for r in rounds])

    return {
        "median_cost_ratio": med("cost_ratio"),
        "median_floor_ratio": med("floor_ratio"),
        "median_webhook_over_floor": med("webhook_over_floor"),
        "median_cpu_ratio": med("cpu_ratio"),
        "median_floor_cpu_ratio": med("floor_cpu_ratio"),
        "median_p50_ratio": med("p50_ratio"),
        "median_webhook_req_per_s": med(None, "webhook", "req_per_s"),
        "median_webhook_p99_ms": med(None, "webhook", "p99_ms"),
        "median_commit_req_per_s": med(None, "commit", "req_per_s"),
        "median_trivial_req_per_s": med(None, "trivial", "req_per_s"),
        "median_trivial_p99_ms": med(None, "trivial", "p99_ms"),
        "cost_ratio_by_round": [r["cost_ratio"] for r in rounds],
        "cpu_ratio_by_round": [r["cpu_ratio"] for r in rounds],
        "floor_ratio_by_round": [r["floor_ratio"] for r in rounds],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--worker-classes",
        default="gthread,sync",
        help="gunicorn worker models, one gunicorn each, side by side in every round (the"
        " first one is the Procfile's and serves step 2)",
    )
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=4, help="per worker (gthread only)")
    parser.add_argument("--latency-messages", type=int, default=100, help="0: no step 2")
    parser.add_argument(
        "--wake",
        choices=["redis", "column"],
        default="redis",
        help="the inbox wake-up lease: in Redis (INBOX_WAKE_URL, the default with a Redis cache)"
        " or the events' column (one UPDATE per request, as without Redis)",
    )
    parser.add_argument("--latency-rate", type=float, default=5.0, help="SMS per second")
    args = parser.parse_args()
    classes = [c.strip() for c in args.worker_classes.split(",") if c.strip()]
    wake = {} if args.wake == "redis" else {"INBOX_WAKE_URL": ""}
    common.setup("webhook", ALLOWED_HOSTS="127.0.0.1,localhost,testserver", **wake)
    common.flush_db()
    from apps.messaging.models import Message

    number, phones = seed(prospects=200)
    logs = common.logs_dir()
    requests_file = logs / "twilio-requests.txt"
    write_requests(requests_file, count=120_000, number=number, phones=phones)
    script = logs / "twilio.lua"
    script.write_text(LUA)
    servers = {
        c: gunicorn(c, workers=args.gunicorn_workers, threads=args.gunicorn_threads, logs=logs)
        for c in classes
    }
    with common.stopping(*(server for server, _ in servers.values())):
        import requests

        for _, port in servers.values():
            common.wait_until(
                lambda port=port: _answers(requests, port),
                timeout=60,
                interval=0.3,
                what="gunicorn up",
            )
        rounds: dict[str, list] = {c: [] for c in classes}
        run = {
            "seconds": args.seconds,
            "connections": args.connections,
            "threads": args.threads,
            "script": script,
            "requests_file": requests_file,
        }
        offset = 0  # every webhook request of the run is a new MessageSid
        for _ in range(args.rounds):
            for worker_class, (server, port) in servers.items():
                result = one_round(server, port, offset=offset, run=run)
                # Each wrk thread steps by `threads` from its own start: one thread that did
                # more requests than another reaches past offset + requests, so leave room.
                offset += args.threads * result["webhook"]["requests"] + args.connections
                rounds[worker_class].append(result)
                print(worker_class, result, flush=True)
        assert not Message.objects.exists()  # no worker: the requests made no message
        first_server, first_port = servers[classes[0]]
        for worker_class, (server, _) in servers.items():
            if worker_class != classes[0]:
                server.stop()
        latency = None
        if args.latency_messages:
            latency = inbox_to_sync_record(
                first_port, messages=args.latency_messages, rate=args.latency_rate, logs=logs
            )
            print(latency, flush=True)
        first_server.stop()
        profiled = profile(number, phones)
        common.record(
            "webhook",
            {
                "config": vars(args),
                "in_process": profiled,
                "by_worker_class": {
                    c: {**summary(rounds[c]), "rounds": rounds[c]} for c in classes
                },
                "inbox_latency": latency,
                "inbox_latency_worker_class": classes[0],
            },
        )


def profile(number, phones, n: int = 200) -> dict:
    """The webhook in this process (django.test.Client, no gunicorn) under pyinstrument, and its
    SQL statements per request."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from pyinstrument import Profiler
    from twilio.request_validator import RequestValidator

    client = Client()
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    path = "/webhooks/twilio/sms/"
    bodies = []
    for i in range(n + 1):
        params = {
            "MessageSid": f"SM{uuid.uuid4().hex}",
            "From": phones[i % len(phones)],
            "To": number.number,
            "Body": f"Profiled reply {i}",
        }
        signature = validator.compute_signature(settings.PUBLIC_BASE_URL + path, params)
        bodies.append((urlencode(params), signature))
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    body, signature = bodies.pop()
    with connection.execute_wrapper(keep):
        response = client.post(
            path,
            body,
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": signature},
        )
    assert response.status_code == 200, response.status_code
    profiler = Profiler(interval=0.0005)
    with profiler:
        for body, signature in bodies:
            response = client.post(
                path,
                body,
                content_type="application/x-www-form-urlencoded",
                headers={"X-Twilio-Signature": signature},
            )
            assert response.status_code == 200
    out = common.RESULTS_DIR / "webhook-profile.txt"
    out.write_text(profiler.output_text(unicode=False, color=False))
    return {
        "sql_statements_per_request": len(statements),
        "statements": [sql[:120] for sql in statements],
        "profile": str(out.relative_to(common.BASE_DIR)),
    }


def _answers(requests, port) -> bool:
    try:
        return requests.post(f"http://127.0.0.1:{port}/_bench/trivial/", timeout=2).ok
    except requests.RequestException:
        return False


if __name__ == "__main__":
    main()
