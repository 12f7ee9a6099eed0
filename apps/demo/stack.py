"""The local stack's supervisor (`make run`): start every process of Procfile.dev, stop them all.

honcho left the stack running when make got SIGHUP or SIGTERM, or when the terminal closed: the
web server, the workers, beat and the sandbox lived on, re-parented to init, holding their ports,
and the next `make run` died with a raw traceback after its beat had already queued tasks. So:

- every child runs in a process group of its own; stopping sends SIGTERM to each group, waits a
  short grace, then SIGKILLs whatever is left (a worker finishing a task, a pool child);
- it stops on SIGINT (Ctrl-C), SIGTERM and SIGHUP (closing the terminal); when its parent dies
  (PR_SET_PDEATHSIG on Linux, and a poll of getppid() everywhere); and when its parent is GNU
  make handling a fatal signal: make neither passes SIGHUP (or SIGINT sent to its PID alone) to
  its recipe nor dies, it waits for the recipe with the signal blocked, so we read its blocked
  signals in /proc;
- when a child exits by itself, the others are stopped too (a stack with a dead part is not a
  demo);
- before anything starts, each port is checked: a busy one gets one plain line saying what is
  running there and how to stop it.

Pure (no Django): the management command `run_stack` wraps it.
"""

import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

GRACE_SECONDS = 4.0  # SIGTERM, then SIGKILL: everything is gone within a few seconds
POLL_SECONDS = 0.2
FATAL_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1
STACK_MARKER = "run_stack"  # in the supervisor's command line: how a second run recognises it


def procfile_read(path: Path) -> list[tuple[str, str]]:
    """(name, command) of each `name: command` line of a Procfile."""
    entries = []
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match:
            entries.append((match.group(1), match.group(2)))
    return entries


# --- Ports -------------------------------------------------------------------------------------


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind: a port in TIME_WAIT is free, only a listener makes it busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError), open(table) as lines:
            next(lines, None)
            for line in lines:
                parts = line.split()
                local, state, inode = parts[1], parts[3], parts[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    return inodes


def port_owner(port: int) -> int | None:
    """The PID of a process listening on `port` (Linux /proc), if this user may see it."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not sockets:
        return None
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        with suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in sockets:
                        return pid
    return None


def _cmdline(pid: int) -> str:
    with suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    return ""


def _parent(pid: int) -> int:
    with suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])
    return 0


def _stack_of(pid: int) -> int | None:
    """The supervisor a process was started by, if it is one of a stack's."""
    while pid > 1:
        if STACK_MARKER in _cmdline(pid):
            return pid
        pid = _parent(pid)
    return None


def busy_port_message(port: int, variable: str, suggestion: str) -> str:
    """One plain line: what holds `port`, how to stop it, which ports to use instead."""
    owner = port_owner(port)
    stack = _stack_of(owner) if owner else None
    if stack:
        where = ""
        with suppress(OSError):
            where = f", in {os.readlink(f'/proc/{stack}/cwd')}"
        what = f"another Outreach `make run` (PID {stack}{where})"
        how = f"stop it with Ctrl-C in its terminal or `kill {stack}`"
    elif owner:
        what = f"PID {owner} ({_cmdline(owner)[:80]})"
        how = f"stop it with `kill {owner}`"
    else:
        what = "another program"
        how = "stop it"
    return f"{variable}={port} is in use by {what}: {how}, or run on free ports: {suggestion}"


def free_port_pair(start: int) -> tuple[int, int]:
    """The first PORT from `start` on with PORT and PORT + 1 both free."""
    port = start
    while not (port_is_free(port) and port_is_free(port + 1)):
        port += 2
    return port, port + 1


# --- The supervisor ----------------------------------------------------------------------------


def _set_parent_death_signal(sig: int = signal.SIGTERM) -> None:
    """Linux: the kernel sends `sig` to this process when its parent exits."""
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _parent_is_make_handling_a_fatal_signal(ppid: int) -> bool:
    """GNU make waits for its recipe with the fatal signal it got blocked (and never passes
    SIGHUP on): seen in its /proc status, that is make asking us to stop."""
    if Path(_cmdline(ppid).split(" ", 1)[0]).name not in ("make", "gmake"):
        return False
    with suppress(OSError, ValueError, StopIteration):
        status = Path(f"/proc/{ppid}/status").read_text().splitlines()
        blocked = int(next(line for line in status if line.startswith("SigBlk:")).split()[1], 16)
        return any(blocked & (1 << (int(sig) - 1)) for sig in FATAL_SIGNALS)
    return False


@dataclass
class Child:
    name: str
    command: str
    proc: subprocess.Popen = field(repr=False)

    def group_alive(self) -> bool:
        """Any process left in the child's group (its pool children too)?"""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        self.proc.poll()  # reap the leader once it exits
        return True

    def signal_group(self, sig: int) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


class Stack:
    """Children of one Procfile, started together and stopped together."""

    def __init__(self, entries: Iterable[tuple[str, str]], *, env: dict, cwd: Path, out=None):
        self.entries = list(entries)
        self.env = env
        self.cwd = cwd
        self.out = out or sys.stdout
        self.children: list[Child] = []
        self.stop_reason = ""
        self._lock = threading.Lock()
        self._width = max((len(name) for name, _ in self.entries), default=0)

    def say(self, name: str, line: str) -> None:
        with self._lock:
            self.out.write(f"{time.strftime('%H:%M:%S')} {name:<{self._width}} | {line}\n")
            self.out.flush()

    def _on_signal(self, signum, frame) -> None:
        self.stop_reason = self.stop_reason or f"got {signal.Signals(signum).name}"

    def run(self) -> int:
        """Start every child, supervise until asked to stop or a child exits, stop them all.
        Returns the exit status for the supervisor."""
        ppid = os.getppid()
        _set_parent_death_signal(signal.SIGTERM)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        if os.getppid() != ppid:  # the parent died before the death signal was set
            return 1
        try:
            self._start_all()
            return self._supervise(ppid)
        finally:
            self.stop()

    def _start_all(self) -> None:
        for name, command in self.entries:
            proc = subprocess.Popen(  # noqa: S603 (the repository's own Procfile)
                ["/bin/sh", "-c", f"exec {command}"],
                cwd=self.cwd,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a group of its own: one killpg reaches its children
            )
            self.children.append(Child(name, command, proc))
            self.say(name, f"started (PID {proc.pid}): {command}")
        for child in self.children:
            threading.Thread(target=self._relay, args=(child,), daemon=True).start()

    def _relay(self, child: Child) -> None:
        assert child.proc.stdout is not None
        for raw in child.proc.stdout:
            self.say(child.name, raw.decode(errors="replace").rstrip())

    def _supervise(self, ppid: int) -> int:
        make_signalled = 0
        while not self.stop_reason:
            time.sleep(POLL_SECONDS)
            if os.getppid() != ppid:
                self.stop_reason = "the parent process exited"
            elif _parent_is_make_handling_a_fatal_signal(ppid):
                make_signalled += 1  # twice in a row: not one of make's short critical sections
                if make_signalled >= 2:
                    self.stop_reason = "make got a signal"
            else:
                make_signalled = 0
            for child in self.children:
                if child.proc.poll() is not None:
                    self.stop_reason = f"{child.name} exited with status {child.proc.returncode}"
                    return 1
        return 0

    def stop(self, grace: float = GRACE_SECONDS) -> None:
        """SIGTERM to every group, SIGKILL to what is left after `grace` seconds."""
        if not self.children:
            return
        self.say("stack", f"stopping everything ({self.stop_reason or 'done'})")
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            alive = [child for child in self.children if child.group_alive()]
            for child in alive:
                child.signal_group(sig)
            deadline = time.monotonic() + wait
            while alive and time.monotonic() < deadline:
                time.sleep(0.05)
                alive = [child for child in alive if child.group_alive()]
            if not alive:
                break
            names = ", ".join(child.name for child in alive)
            if sig == signal.SIGTERM:
                self.say("stack", f"still running after {grace:g} s, killing: {names}")
        for child in self.children:
            with suppress(subprocess.TimeoutExpired):
                child.proc.wait(1)
        self.children = []
