"""Loopback servers for the connection-safety tests (tests/greenhouse/test_connection_safety.py).

- `CountingListener`: a host nobody configured (a team admin's own, or an internal service). It
  counts every TCP connection and answers like a token endpoint, so a client that reached it
  would carry on and be seen; the tests require it to count zero.
- `ScriptedServer`: a test double an operator configured as a host profile; each path answers
  what the test scripted (status, headers, body).
- `DripServer`: a host that sends one byte every `interval` seconds (in the status line, in the
  headers after a complete status line, or in the body after complete headers) for at most
  `lasts` seconds, and notes when the client cut the connection.
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Acceptor:
    """A TCP server on a free loopback port, each connection handled on a thread of its own."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopped = threading.Event()
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self):
        self.stopped.set()
        self.accepting.join(5)
        self.sock.close()
        for thread in self.threads:
            thread.join(5)


def _read_request(conn: socket.socket) -> bytes:
    """The whole request: headers, then the body its Content-Length announces."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return data


class CountingListener(_Acceptor):
    def __init__(self):
        self.connections = 0
        self.requests: list[bytes] = []
        super().__init__()

    def _serve(self, conn):
        self.connections += 1
        with conn:
            try:
                self.requests.append(_read_request(conn))
                body = json.dumps({"access_token": "stolen", "expires_in": 3600}).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                )
            except OSError:
                pass


class DripServer(_Acceptor):
    def __init__(self, *, mode: str, interval: float = 0.5, lasts: float = 60.0):
        assert mode in ("status", "headers", "body")
        self.mode, self.interval, self.lasts = mode, interval, lasts
        self.bytes_sent = 0
        self.cut = threading.Event()  # the client closed the connection
        super().__init__()

    def _serve(self, conn):
        with conn:
            try:
                _read_request(conn)
                if self.mode == "body":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100000\r\n\r\n"
                    )
                    drip = b'{"access_token": "' + b"x" * 100_000
                elif self.mode == "headers":
                    # Cut anywhere in here, this reads as a whole (empty) 200 answer.
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    drip = b"X-Slow: " + b"x" * 100_000
                else:
                    drip = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"x" * 100_000
                ends = time.monotonic() + self.lasts
                for byte in drip:
                    if self.stopped.is_set() or time.monotonic() > ends:
                        return
                    conn.sendall(bytes([byte]))
                    self.bytes_sent += 1
                    # Readable means data or EOF; the client sends nothing more, so EOF.
                    conn.settimeout(self.interval)
                    try:
                        if conn.recv(1) == b"":
                            self.cut.set()
                            return
                    except TimeoutError:
                        pass
            except OSError:
                self.cut.set()


class ScriptedServer:
    """`answers[path] = (status, headers, body)`; `requests` lists (method, path) received."""

    def __init__(self):
        self.answers: dict[str, tuple[int, dict, bytes]] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                path = self.path.split("?")[0]
                server.requests.append((self.command, path))
                status, headers, body = server.answers.get(path, (404, {}, b""))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path: str, status: int, body, *, content_type="application/json", **headers):
        data = json.dumps(body).encode() if not isinstance(body, bytes | str) else body
        data = data.encode() if isinstance(data, str) else data
        self.answers[path] = (status, {"Content-Type": content_type, **headers}, data)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
