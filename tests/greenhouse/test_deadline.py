"""The Harvest deadline: a wall-clock limit on `requests` calls, over plain HTTP and TLS."""

import datetime
import socket
import ssl
import threading
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.greenhouse.harvest.deadline import Deadline

MARGIN = 8.0  # on a loaded 2-core machine; the servers below would hold a call for 60 s


@pytest.fixture
def certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsDripServer:
    """TLS on loopback: complete headers, then one body byte every 0.3 s for up to 60 s."""

    def __init__(self, certificate):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*map(str, certificate))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}"
        self.cut = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        raw, _ = self.sock.accept()
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                conn.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                ends = time.monotonic() + 60
                while time.monotonic() < ends:
                    conn.sendall(b"x")
                    self.sent += 1
                    time.sleep(0.3)
        except (OSError, ssl.SSLError):
            self.cut.set()

    def close(self):
        self.sock.close()
        self.thread.join(65)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_tls_body_that_drips_is_cut_at_the_deadline(certificate):
    server = TlsDripServer(certificate)
    try:
        started = time.monotonic()
        with Deadline(1.0) as deadline:
            session = deadline.bind(requests.Session())
            with pytest.raises(requests.RequestException):
                # Each read alone would wait 5 s. verify=False: a self-signed test certificate.
                session.get(server.url, timeout=(5, 5), verify=False)
        assert time.monotonic() - started < 1.0 + MARGIN
        assert deadline.expired
        assert server.sent >= 2  # it did drip meanwhile
        assert server.cut.wait(MARGIN), "the TLS connection was left open"
    finally:
        server.close()


def test_a_connection_opened_after_the_deadline_is_cut_before_a_byte_is_read():
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    received = []

    def answer():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            try:
                received.append(conn.recv(4096))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except OSError:
                pass

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with Deadline(0.2) as deadline:
            session = deadline.bind(requests.Session())
            time.sleep(0.5)
            with pytest.raises(requests.RequestException):
                session.get(url, timeout=(5, 5))
    finally:
        thread.join(10)
        listener.close()
    assert received == [b""]  # not even the request line went out


def test_calls_that_finish_in_time_are_untouched(harvest_sandbox):
    with Deadline(MARGIN) as deadline:
        session = deadline.bind(requests.Session())
        for _ in range(3):  # keep-alive: one connection, reused
            response = session.get(f"{harvest_sandbox.url}/_sandbox/requests.json", timeout=(5, 5))
            assert response.status_code == 200
        assert deadline.remaining() > 0 and not deadline.expired
