"""A RabbitMQ node of the fault drill's own, which it may stop and start at will.

The drill restarts its broker mid-chaos. The machine's RabbitMQ (rabbit@localhost, port 5672)
serves CI and other work and must never be restarted, so a drill on RabbitMQ starts a second node
beside it, with its own name, ports, data and logs (and a configuration file of its own: the
system one pins the listener to 5672), restarts that one, and stops it at the end:

    python -m bench.rabbitmq start      # drill@localhost on 127.0.0.1:5673, empty
    python -m bench.rabbitmq restart    # stop (clean) and start again, messages kept
    python -m bench.rabbitmq stop

The node's name, ports and folder come from `DRILL_RABBITMQ_NODE`, `DRILL_RABBITMQ_PORT`,
`DRILL_RABBITMQ_DIST_PORT` and `DRILL_RABBITMQ_DIR` (defaults below), so .ci/run, bench/drill.py
and tests/drill agree on them. A restart is a clean stop: durable queues and persistent messages
(Celery's default) come back; messages in flight to a stopping node may not, which the outbox
sweepers cover.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SYSTEM_NODE = "rabbit@localhost"
SYSTEM_PORT = 5672


class RabbitNodeError(RuntimeError):
    pass


@dataclass
class RabbitNode:
    name: str = "drill@localhost"
    port: int = 5673
    dist_port: int = 25673
    folder: Path = Path(tempfile.gettempdir()) / "drill-rmq"

    def __post_init__(self):
        # Never the machine's own node: CI and other engineers use it.
        if self.name == SYSTEM_NODE or self.port == SYSTEM_PORT:
            raise RabbitNodeError(
                f"{self.name}:{self.port} is the system RabbitMQ: not the drill's"
            )
        self.folder = Path(self.folder)

    @classmethod
    def from_env(cls, environ=os.environ) -> "RabbitNode":
        return cls(
            name=environ.get("DRILL_RABBITMQ_NODE", cls.name),
            port=int(environ.get("DRILL_RABBITMQ_PORT", cls.port)),
            dist_port=int(environ.get("DRILL_RABBITMQ_DIST_PORT", cls.dist_port)),
            folder=Path(environ.get("DRILL_RABBITMQ_DIR", str(cls.folder))),
        )

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def serves(self, broker_url: str) -> bool:
        """Whether `broker_url` points at this node (so restarting it is the broker's restart)."""
        from urllib.parse import urlsplit

        parts = urlsplit(broker_url)
        return (
            parts.scheme in ("amqp", "pyamqp")
            and parts.hostname in ("127.0.0.1", "localhost")
            and parts.port == self.port
        )

    # --- Commands --------------------------------------------------------------------------

    def _env(self) -> dict:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
        }

    def _ctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["rabbitmqctl", "-n", self.name, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def running(self) -> bool:
        try:
            return self._ctl("status", timeout=15).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _prepare(self, *, fresh: bool) -> None:
        if fresh:
            shutil.rmtree(self.folder / "mnesia", ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.folder / "enabled_plugins").write_text("[].\n")
        # rabbitmq-server run by root runs the node as the `rabbitmq` user.
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.folder)], check=False)

    def start(self, *, fresh: bool = False, timeout: float = 60) -> None:
        """Start the node (`fresh`: with no queues or messages) and wait until it serves AMQP."""
        if self.running():
            if not fresh:
                return
            self.stop()
        self._prepare(fresh=fresh)
        self._launch(timeout)

    def _launch(self, timeout: float) -> None:
        # Its AMQP listener opens last in the boot: a connection accepted means it serves.
        # (Polled with a socket, not `rabbitmqctl status`, which takes a second or more a call.)
        subprocess.run(
            ["rabbitmq-server", "-detached"],
            env=self._env(),
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._amqp_up():
                return
            time.sleep(0.1)
        raise RabbitNodeError(
            f"RabbitMQ node {self.name} did not start within {timeout} s; see {self.folder}/log"
        )

    def stop(self, timeout: float = 60) -> None:
        """Stop the node cleanly (`rabbitmqctl stop` returns once it has halted)."""
        if not self.running():
            return
        self._ctl("stop", timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._amqp_up():
            time.sleep(0.1)
        if self._amqp_up():
            raise RabbitNodeError(f"RabbitMQ node {self.name} did not stop within {timeout} s")

    def restart(self, *, down_for: float = 1.0, timeout: float = 60) -> None:
        """The broker's restart in the drill: stop, stay down `down_for` s, start again with
        its queues and persistent messages."""
        self.stop(timeout)
        time.sleep(down_for)
        self._prepare(fresh=False)
        self._launch(timeout)

    def _amqp_up(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False


def main(argv: list[str]) -> int:
    node = RabbitNode.from_env()
    commands = {
        "start": lambda: node.start(fresh=True),
        "restart": node.restart,
        "stop": node.stop,
    }
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: python -m bench.rabbitmq {{{','.join(commands)}}}", file=sys.stderr)
        return 2
    commands[argv[0]]()
    print(f"RabbitMQ node {node.name}: {argv[0]} done ({node.url})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
