"""A hard wall-clock limit for a group of HTTP calls made with `requests`.

`requests`' timeout applies to each socket operation, not to the whole call: a host that sends one
byte every few seconds keeps a read alive forever. Work done while a person waits on a page (the
connection test) must end on time whatever the host does, so:

- `Deadline.remaining()` bounds every timeout and every wait the caller computes;
- `Deadline.bind(session)` mounts adapters that note the socket of every connection the session
  opens (through an HTTP proxy too), and a watchdog timer shuts those sockets down when the time
  is up, which wakes a read blocked in a TLS handshake, the status line, the headers or the body
  at once.

Use it as a context manager: the watchdog starts on entry; on exit it is cancelled and the bound
sessions are closed.
"""

import contextlib
import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager


class _Sockets:
    """The sockets one deadline's sessions opened, and the switch that cuts them.

    Each is kept as a duplicate descriptor of its own: the TLS layer detaches the original
    socket object when it wraps it, but a shutdown through any descriptor ends the connection
    itself, under the TLS socket too (handshake included). The duplicates are closed on exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.cut = False

    def add(self, sock: socket.socket) -> None:
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            cut = self.cut
        if cut:
            _shutdown(duplicate)  # connected after the deadline: cut before anything is read

    def cut_all(self) -> None:
        with self._lock:
            self.cut = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def close_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


def _shutdown(sock: socket.socket) -> None:
    # A blocked read on the connection sees EOF at once. OSError: it is closed already.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _tracking_pools(sockets: _Sockets) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3's pool classes by scheme, with connections that note their socket in `sockets`.

    The classes are spelt out (not derived from each pool's `ConnectionCls`, which urllib3 types
    as a protocol): they are those of urllib3's own HTTP and HTTPS pools."""

    class TrackingHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            # The TCP socket, before any TLS handshake or byte of the request.
            sock = super()._new_conn()
            sockets.add(sock)
            return sock

    # MRO: TrackingHTTPConnection, HTTPSConnection, HTTPConnection. super()._new_conn() above
    # is HTTPConnection's here too: the TCP socket, under HTTPSConnection's TLS.
    class TrackingHTTPSConnection(TrackingHTTPConnection, HTTPSConnection):
        pass

    class TrackingHTTPPool(HTTPConnectionPool):
        ConnectionCls = TrackingHTTPConnection

    class TrackingHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = TrackingHTTPSConnection

    return {"http": TrackingHTTPPool, "https": TrackingHTTPSPool}


class _TrackingAdapter(HTTPAdapter):
    def __init__(self, sockets: _Sockets, **kwargs: Any) -> None:
        self._tracked = sockets
        super().__init__(**kwargs)

    def _track(self, manager: PoolManager) -> PoolManager:
        manager.pool_classes_by_scheme = _tracking_pools(self._tracked)
        return manager

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self._track(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        # A ProxyManager or SOCKSProxyManager: both are PoolManagers (the stubs say Any).
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # SOCKS pools have connection classes of their own: only the bounded timeouts apply.
        return manager if proxy.lower().startswith("socks") else self._track(manager)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds
        self._sockets = _Sockets()
        self._sessions: list[requests.Session] = []
        self._timer: threading.Timer | None = None

    def __repr__(self) -> str:
        return f"<Deadline {self.seconds:g} s, {self.remaining():.1f} s left>"

    def remaining(self) -> float:
        return max(0.0, self.ends_at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self._sockets.cut or time.monotonic() >= self.ends_at

    def bind(self, session: requests.Session) -> requests.Session:
        """`session`, with every connection it opens cut at the deadline. Pass a fresh session:
        connections it pooled before are not watched."""
        for prefix in ("http://", "https://"):
            session.mount(prefix, _TrackingAdapter(self._sockets))
        self._sessions.append(session)
        return session

    def __enter__(self) -> "Deadline":
        self._timer = threading.Timer(self.remaining(), self._sockets.cut_all)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for session in self._sessions:
            session.close()
        self._sockets.close_all()
