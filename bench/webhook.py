"""Item 4, webhook ingest: the Twilio inbound SMS webhook under gunicorn on PostgreSQL, against a
trivial Django view served by the same gunicorn in the same run (rounds alternate).

    apt-get install wrk                                  # the load generator (Debian package)
    .venv/bin/python -m bench.webhook                    # 3 rounds x 2 endpoints x 10 s
    .venv/bin/python -m bench.webhook --rounds 1 --seconds 5

gunicorn runs `config.wsgi` with DJANGO_SETTINGS_MODULE=bench.settings (the project's settings
plus `/_bench/trivial/`, bench/urls.py; production never loads them), 2 sync workers. Every
webhook request is a distinct inbound SMS (its own MessageSid) from a known prospect to the
team's virtual number, signed with twilio's RequestValidator over PUBLIC_BASE_URL + path: each is
stored as a Message with its SyncRecord, and its sync task is published to Redis (no worker
consumes it). The trivial view gets the same POST bodies. Cost ratio = trivial req/s ÷ webhook
req/s (goal ≤ 2).
"""

import argparse
import os
import re
import socket
import subprocess
import sys
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    args = parser.parse_args()
    common.setup("webhook", ALLOWED_HOSTS="127.0.0.1,localhost,testserver")
    common.flush_db()
    from apps.messaging.models import Message

    number, phones = seed(prospects=200)
    logs = common.logs_dir()
    requests_file = logs / "twilio-requests.txt"
    write_requests(requests_file, count=60_000, number=number, phones=phones)
    script = logs / "twilio.lua"
    script.write_text(LUA)
    port = free_port()
    server = common.Proc(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--workers",
            str(args.gunicorn_workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        log_path=logs / "gunicorn.log",
        name="gunicorn",
    )
    with common.stopping(server):
        import requests

        common.wait_until(
            lambda: _answers(requests, port), timeout=60, interval=0.3, what="gunicorn up"
        )
        rounds = []
        run = {
            "seconds": args.seconds,
            "connections": args.connections,
            "threads": args.threads,
            "script": script,
            "requests_file": requests_file,
        }
        offset = 0  # every webhook request of the run is a new MessageSid
        for _ in range(args.rounds):
            before = Message.objects.count()
            trivial = wrk(port, "/_bench/trivial/", **run)
            hook = wrk(port, "/webhooks/twilio/sms/", offset=offset, **run)
            offset += hook["requests"] + args.connections
            stored = Message.objects.count() - before
            ratio = round(trivial["req_per_s"] / hook["req_per_s"], 3)
            rounds.append(
                {
                    "trivial": trivial,
                    "webhook": hook,
                    "messages_stored": stored,
                    "cost_ratio": ratio,
                }
            )
            print(rounds[-1], flush=True)
        server.stop()
        profiled = profile(number, phones)
        common.record(
            "webhook",
            {
                "config": vars(args),
                "in_process": profiled,
                "median_cost_ratio": common.median([r["cost_ratio"] for r in rounds]),
                "median_webhook_req_per_s": common.median(
                    [r["webhook"]["req_per_s"] for r in rounds]
                ),
                "median_webhook_p99_ms": common.median([r["webhook"]["p99_ms"] for r in rounds]),
                "median_trivial_req_per_s": common.median(
                    [r["trivial"]["req_per_s"] for r in rounds]
                ),
                "median_trivial_p99_ms": common.median([r["trivial"]["p99_ms"] for r in rounds]),
                "rounds": rounds,
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
