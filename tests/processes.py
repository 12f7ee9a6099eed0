"""Child processes for the tests and the benchmarks, in one place: a Celery worker's command line
and a subprocess in its own process group, logging to a file, that can be awaited, stopped
(warm shutdown, then SIGKILL) or killed as a crash would.

Importable without pytest or Django set up (bench/ uses it from plain scripts); the pytest
fixtures around it are tests/fixtures/worker.py's.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from apps.core.routing import KINDS, queue_names


def celery_worker_command(
    *,
    prefix: str,
    hostname: str,
    concurrency: int = 1,
    loglevel: str = "INFO",
    kinds: Sequence[str] = KINDS,
    pool: str = "prefork",
) -> list[str]:
    """`celery -A config worker` on the queues of `kinds` under `prefix` (apps/core/routing.py),
    prefork (or `pool`: "threads", as the production Procfile runs the sync queue), without the
    cluster chatter."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--queues",
        ",".join(queue_names(prefix, list(kinds))),
        "--hostname",
        hostname,
        "--concurrency",
        str(concurrency),
        "--pool",
        pool,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        loglevel,
    ]


class ChildProcess:
    """A subprocess in its own process group (a kill reaches a worker's pool children too), its
    output appended to `log_path`."""

    def __init__(self, args: list[str], *, env: dict, log_path: Path, cwd: Path, name: str = ""):
        self.args = args
        self.env = env
        self.log_path = log_path
        self.name = name or Path(args[0]).name
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.log[-4000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: {text!r} not seen after {timeout} s:\n{self.log[-4000:]}")

    def stop(self, timeout: float = 15) -> None:
        """Warm shutdown (SIGTERM to the group), then a kill if it does not stop in time."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL the process group, as a crash or the OOM killer would."""
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
