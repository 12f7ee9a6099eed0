"""`make run` as a user runs it (issue 14): on the ports given, its bot email's pause link points
at that port, SIGHUP to make stops every process and frees every port, and a second `make run` on
a busy port says so in one plain line and starts nothing; `make manage ARGS=...` runs a support
command on the demo's data.

Each run has a VAR_DIR of its own (database, broker, outboxes, sandbox state), so it never
touches a developer's `var/`, and the processes of a run are the ones with that VAR_DIR in
their environment. The venv is this test's own (`-o` keeps make from reinstalling it).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest
import requests
from django.conf import settings

from apps.demo.stack import port_is_free

START_DEADLINE = 240  # seconds: a cold start (migrations, demo data) on a busy 2-core machine
STOP_DEADLINE = 10  # the bound: nothing left after SIGHUP to make

pytestmark = pytest.mark.worker  # starts the whole stack (it reads /proc: Linux, as CI)

# Variables of the test run that must not reach the demo stack (it runs on its own defaults).
NOT_PASSED = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "PUBLIC_BASE_URL",
    "GREENHOUSE_SANDBOX_URL",
    "GREENHOUSE_EXTRA_HOSTS",
    "GREENHOUSE_DEFAULT_HOST",
    "DEBUG",
    "DEV_TOOLS",
    "CELERY_QUEUE",
    "EMBEDDED_BROKER_DIR",
    "DEV_OUTBOX_DIR",
    "EMAIL_BACKEND",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DJANGO_SETTINGS_MODULE",
    "PORT",
    "SANDBOX_PORT",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in NOT_PASSED}
    env["VAR_DIR"] = str(var_dir)
    return env


def make_run(var_dir: Path, port: int, sandbox_port: int, log: Path) -> subprocess.Popen:
    venv = Path(sys.prefix)
    args = [shutil.which("make") or "make", "-o", f"{venv}/.installed", "run", f"VENV={venv}"]
    args += [f"PORT={port}", f"SANDBOX_PORT={sandbox_port}"]
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            cwd=settings.BASE_DIR,
            env=stack_env(var_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def processes_of(var_dir: Path) -> list[int]:
    """Every process that runs with this VAR_DIR (make, the supervisor and its children)."""
    marker = f"VAR_DIR={var_dir}".encode()
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        with suppress(OSError):
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(pid)
    return found


@pytest.fixture
def var_dir(tmp_path):
    path = tmp_path / "var"
    path.mkdir()
    yield path
    for pid in processes_of(path):  # a failed test leaves nothing running either
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_until(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout} s; make's output ends:\n{log.read_text()[-3000:]}")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


ENROLL = """
from apps.demo import data
from apps.sequences.models import Prospect, Sequence
from apps.sequences.services import prospects_enroll
from django.contrib.auth import get_user_model
from django.db import transaction
sequence = Sequence.objects.get(name=data.DEMO_SEQUENCE["name"])
prospect = Prospect.objects.filter(team=sequence.team).order_by("pk").first()
with transaction.atomic():
    prospects_enroll(sequence=sequence, prospects=[prospect],
                     enrolled_by=get_user_model().objects.get(username="rob"))
"""

PAUSE_LINK = re.compile(r"http://[^\s\"<>]+/greenhouse/pause/[^\s\"<>]+/")


def pause_link(var_dir: Path) -> str | None:
    for eml in (var_dir / "outbox" / "email").glob("*.eml"):
        text = eml.read_bytes().decode(errors="replace").replace("=\n", "")
        match = PAUSE_LINK.search(text)
        if match:
            return match.group(0)
    return None


def test_make_run_on_other_ports_links_there_and_sighup_to_make_stops_everything(var_dir, tmp_path):
    port, sandbox_port = free_port(), free_port()
    log = tmp_path / "make-run.log"
    make = make_run(var_dir, port, sandbox_port, log)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{base}/login/"), START_DEADLINE, "the app did not answer", log)
    wait_until(
        lambda: answers(f"http://127.0.0.1:{sandbox_port}/"),
        START_DEADLINE,
        "the sandbox did not answer on SANDBOX_PORT",
        log,
    )

    # A recruiter's prospect is enrolled: its first email goes out, its thread is synced, and
    # the recruiter gets the bot email with the pause link.
    shell = [sys.executable, "manage.py", "shell", "-c", ENROLL]
    env = {**stack_env(var_dir), "DEV_TOOLS": "true", "PORT": str(port)}
    env["SANDBOX_PORT"] = str(sandbox_port)
    enrolled = subprocess.run(shell, cwd=settings.BASE_DIR, env=env, capture_output=True)
    assert enrolled.returncode == 0, enrolled.stderr.decode()
    link = wait_until(lambda: pause_link(var_dir), START_DEADLINE, "no bot email", log)
    assert link.startswith(f"{base}/greenhouse/pause/")
    page = requests.get(link, timeout=10)
    assert page.status_code == 200
    assert 'method="post"' in page.text.lower()  # GET shows the confirmation, changes nothing
    # The product's own error page, not Django's debug page listing every URL.
    missing = requests.get(f"{base}/no-such-page/", timeout=10)
    assert missing.status_code == 404 and "URLconf" not in missing.text

    # A second `make run` on the same ports names the running one and starts nothing.
    second_log = tmp_path / "second.log"
    second = make_run(tmp_path / "var2", port, sandbox_port, second_log)
    second.wait(60)
    output = second_log.read_text()
    assert second.returncode != 0
    assert f"PORT={port} is in use by another Outreach `make run` (PID " in output
    assert "Traceback" not in output

    make.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + STOP_DEADLINE
    while time.monotonic() < deadline and (processes_of(var_dir) or make.poll() is None):
        time.sleep(0.1)
    assert make.poll() is not None, "make is still running"
    assert processes_of(var_dir) == [], "a process of the stack is still running"
    assert port_is_free(port) and port_is_free(sandbox_port)


def test_a_second_make_run_on_a_busy_port_says_so_in_one_line_and_starts_nothing(var_dir, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        log = tmp_path / "make-run.log"
        started = time.monotonic()
        make = make_run(var_dir, port, free_port(), log)
        make.wait(60)
        took = time.monotonic() - started
    output = log.read_text()
    ours = [line for line in output.splitlines() if "is in use" in line]
    assert make.returncode != 0
    assert ours == [
        f"PORT={port} is in use by PID {os.getpid()} ({' '.join(_own_cmdline())[:80]}): "
        f"stop it with `kill {os.getpid()}`, or run on free ports: make run PORT="
        + ours[0].rsplit("make run PORT=", 1)[1]
    ]
    assert "Traceback" not in output
    # Nothing started: no migration, no broker message, no process left.
    assert not (var_dir / "db.sqlite3").exists()
    assert not list((var_dir / "broker" / "queue").glob("*"))
    assert processes_of(var_dir) == []
    assert took < 60


def _own_cmdline() -> list[str]:
    return Path("/proc/self/cmdline").read_bytes().decode().rstrip("\0").split("\0")


def test_make_manage_runs_a_management_command_on_the_demo_s_data(var_dir):
    venv = Path(sys.prefix)
    make = [shutil.which("make") or "make", "-o", f"{venv}/.installed", f"VENV={venv}"]

    def manage(args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*make, "manage", f"ARGS={args}"],
            cwd=settings.BASE_DIR,
            env=stack_env(var_dir),
            capture_output=True,
            text=True,
            timeout=300,
        )

    migrated = manage("migrate --noinput")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert (var_dir / "db.sqlite3").exists()  # the demo's database, in its VAR_DIR
    seeded = manage("seed_demo")  # a development-only command: DEV_TOOLS is on
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert "Demo data ready" in seeded.stdout
