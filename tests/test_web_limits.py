"""The web server refuses slow and oversized requests itself: `ichnaea serve`
as a real process, clients on real sockets.

Slow clients connect from 127.0.0.2 (Linux routes all of 127.0.0.0/8 to the
loopback device), real ones from 127.0.0.1, so that the cap per client
address cuts the first without touching the second.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import threading
import time
import zlib
from pathlib import Path

import pytest

from tests.servers import Processes, eventually, free_port, wait_port

pytestmark = pytest.mark.slow

KEY = "web-limits-key"
LONDON = "81.2.69.160"
LIMIT = 20 * 1024 * 1024
HEADER_TIMEOUT = 3
PER_ADDRESS = 40
SLOW_CLIENTS = 300


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("web_limits")
    port = free_port()
    procs = Processes(root, {"ICHNAEA_PORT": str(port),
                             "ICHNAEA_WEB_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
                             "ICHNAEA_WEB_REQUEST_TIMEOUT": "8",
                             "ICHNAEA_WEB_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS)})
    procs.cli("db", "upgrade")
    procs.cli("apikey", "create", KEY)
    server = procs.spawn("web", "serve", "--port", str(port))
    try:
        wait_port(port)
        assert get(port, f"/v1/geolocate?key={KEY}", timeout=30)[0] == 200  # warm
        yield port, server.pid, procs
    finally:
        procs.stop()


def request(port: int, raw: bytes, *, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """Send ``raw`` from 127.0.0.1 and read the answer: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data or len(data) < answer_length(data):
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def answer_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return 1 << 60  # no length: read until the server closes


def get(port: int, path: str, *, timeout: float = 5.0) -> tuple[int, dict]:
    raw = (f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {LONDON}\r\n"
           "Connection: close\r\n\r\n").encode()
    status, _, body = request(port, raw, timeout=timeout)
    return status, json.loads(body)


def too_large(decode: str) -> dict:
    message = "Request Entity Too Large"
    return {"error": {"errors": [{"domain": "global", "reason": "requestEntityTooLarge",
                                  "message": message}], "code": 413, "message": message},
            "details": {"decode": decode}}


def peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


class SlowClients:
    """Connections from 127.0.0.2 that send a request's headers a byte a
    second, for as long as the server keeps them open."""

    def __init__(self, port: int, count: int) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < count + 200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 200), hard))
        self.socks: list[socket.socket] = []
        self.closed_at: dict[int, float] = {}
        self.started = time.monotonic()
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.2", 0))
            sock.settimeout(5)
            sock.connect(("127.0.0.1", port))
            sock.setblocking(False)
            self.socks.append(sock)
        self.header = b"GET /__lbheartbeat__ HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 10_000
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def trickle(self) -> None:
        sent = 0
        while not self.stopping.is_set() and sent < len(self.header):
            for index, sock in enumerate(self.socks):
                if index not in self.closed_at and self.is_closed(sock):
                    self.closed_at[index] = time.monotonic() - self.started
            for index, sock in enumerate(self.socks):
                if index not in self.closed_at:
                    with contextlib.suppress(OSError):
                        sock.send(self.header[sent:sent + 1])
            sent += 1
            self.stopping.wait(1.0)

    @staticmethod
    def is_closed(sock: socket.socket) -> bool:
        try:
            return sock.recv(1) == b""  # the server closed it
        except BlockingIOError:
            return False
        except OSError:
            return True  # reset

    def open_count(self) -> int:
        return len(self.socks) - len(self.closed_at)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        for sock in self.socks:
            sock.close()


def test_slow_clients_cannot_starve_real_ones(service):
    port, _, procs = service
    slow = SlowClients(port, SLOW_CLIENTS)
    try:
        time.sleep(1.5)  # every slow client has connected and sent a byte or two
        # a real client is answered at once while they trickle on
        started = time.monotonic()
        assert get(port, "/__lbheartbeat__", timeout=3) == (200, {"status": "OK"})
        status, body = get(port, f"/v1/geolocate?key={KEY}", timeout=3)
        assert (status, body["location"]) == (200, {"lat": 51.5142, "lng": -0.0931})
        assert time.monotonic() - started < 3, "real clients waited"
        # the cap per address: only PER_ADDRESS slow connections were kept
        assert slow.open_count() <= PER_ADDRESS, slow.open_count()
        # and those are cut off once their headers are overdue, though they
        # still send a byte every second
        eventually(lambda: slow.open_count() == 0, timeout=HEADER_TIMEOUT + 5,
                   message=f"{slow.open_count()} slow clients still open\n{procs.logs()}")
        last = max(slow.closed_at.values())
        assert HEADER_TIMEOUT - 1 <= last <= HEADER_TIMEOUT + 4, slow.closed_at
    finally:
        slow.close()
    assert get(port, "/__lbheartbeat__") == (200, {"status": "OK"})
    eventually(lambda: '"event": "web_connections_cut"' in procs.log("web"), timeout=5,
               message=procs.log("web")[-3000:])
    assert "127.0.0.2" not in procs.log("web")


@pytest.mark.parametrize("expect", [False, True])
def test_declared_oversized_body_is_refused_at_once(service, expect):
    """300 MB announced: a JSON 413 after the headers alone, and no
    ``100 Continue`` invites the body."""
    port, _, _ = service
    raw = (f"POST /v2/geosubmit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {300 * 1024 * 1024}\r\n"
           + ("Expect: 100-continue\r\n" if expect else "") + "\r\n").encode()
    status, headers, body = request(port, raw + b'{"items": [' * 100)
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert headers["access-control-allow-origin"] == "*"
    assert headers["x-content-type-options"] == "nosniff"
    assert json.loads(body) == too_large(f"body larger than {LIMIT} bytes")


def test_chunked_body_is_read_no_further_than_the_limit(service):
    port, _, _ = service
    chunk = b" " * (1024 * 1024)
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(b"POST /v2/geosubmit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        with contextlib.suppress(OSError):  # the server closes once it answered
            while sent < 300 * len(chunk):
                sock.sendall(framed)
                sent += len(chunk)
        status, headers, body = read_answer(sock)
    assert status == 413
    assert json.loads(body) == too_large(f"body larger than {LIMIT} bytes")
    # what the kernel's socket buffers hold besides the limit, not 300 MB
    assert sent < LIMIT + 16 * len(chunk), sent


def test_gzip_bomb_is_refused_in_little_memory(service):
    """(Before any test that has the server hold a large body: the peak
    memory only grows.)"""
    port, pid, _ = service
    assert get(port, "/__lbheartbeat__")[0] == 200
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    bomb = b"".join([packer.compress(b"[" * (1024 * 1024)) for _ in range(200)]
                    + [packer.flush()])
    assert len(bomb) < 400_000
    before = peak_rss(pid)
    raw = (f"POST /v2/geosubmit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n"
           "Connection: close\r\n\r\n").encode()
    status, _, body = request(port, raw + bomb, timeout=30)
    assert status == 413
    assert json.loads(body) == too_large(
        f"gzip body, decompressed, larger than {LIMIT} bytes")
    grown = peak_rss(pid) - before
    assert grown < 60 * 1024 * 1024, f"peak memory grew by {grown >> 20} MiB"


def test_body_at_the_limit_is_read(service):
    port, _, _ = service
    body = b'{"items": []}'.ljust(LIMIT)
    raw = (f"POST /v2/geosubmit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    status, _, answer = request(port, raw + body, timeout=30)
    assert (status, json.loads(answer)) == (200, {})  # read and parsed: no reports
