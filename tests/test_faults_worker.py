"""Workers and the scheduler outlive their backends and each other.

A deployment of its own (web, ``ichnaea worker --scheduler``, ``ichnaea
worker``) on a MariaDB and a persistent Redis of its own: MariaDB and Redis
restart under it, a worker dies holding a claim, a worker stays busy for
longer than its mark of life lasts. Reports are always learned within seconds
of the backend's return, without restarting a process, each exactly once,
and the workers log an outage once, not a traceback per task.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.servers import (
    MariaDBServer,
    Processes,
    RedisServer,
    eventually,
    free_port,
    mariadb_available,
    redis_available,
    wait_port,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (mariadb_available() and redis_available()),
                       reason="needs mariadbd and redis-server"),
]

WORKERS = ("scheduler", "worker")
ALIVE_PREFIX = "ichnaea:alive:"
KEY = "faults-key"


class Statsd:
    """A UDP socket on loopback keeping every statsd line the processes send."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            self.received.extend(data.decode(errors="replace").splitlines())

    def counted(self, name: str, tag: str) -> int:
        total = 0
        for line in list(self.received):
            head, _, tags = line.partition("|#")
            metric, _, value = head.partition("|")[0].partition(":")
            if metric.endswith(name) and tag in tags.split(","):
                total += int(float(value))
        return total


@dataclass
class Deployment:
    db: MariaDBServer
    redis: RedisServer
    procs: Processes
    port: int
    statsd: Statsd

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}?key={KEY}", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, None

    def submit(self, macs: list[str]) -> int:
        report = {"position": {"latitude": 51.5, "longitude": -0.1, "accuracy": 10.0},
                  "wifiAccessPoints": [{"macAddress": mac, "signalStrength": -60}
                                       for mac in macs]}
        return self.post("/v2/geosubmit", {"items": [report]})[0]

    def located(self, macs: list[str]) -> bool:
        status, body = self.post("/v1/geolocate",
                                 {"wifiAccessPoints": [{"macAddress": m} for m in macs]})
        return status == 200 and abs(body["location"]["lat"] - 51.5) < 0.01

    def samples(self, macs: list[str]) -> dict[str, int]:
        """The number of observations each network's station was built from."""
        hexes = ", ".join(f"X'{mac}'" for mac in macs)
        rows = self.db.sql(f"SELECT LOWER(HEX(mac)), samples FROM ichnaea.wifi "
                           f"WHERE mac IN ({hexes})")
        return {mac: samples for mac, samples in rows}

    def log_sizes(self) -> dict[str, int]:
        return {name: len(self.procs.log(name)) for name in WORKERS}

    def new_logs(self, since: dict[str, int]) -> dict[str, str]:
        return {name: self.procs.log(name)[since[name]:] for name in WORKERS}


def networks() -> list[str]:
    return [f"0a{secrets.token_hex(5)}" for _ in range(2)]


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    # not under pytest's temporary folder: mariadbd runs as the user mysql,
    # which may not pass through it (mode 0700)
    root = Path(tempfile.mkdtemp(prefix="ichnaea-faults-worker-"))
    root.chmod(0o755)
    db = MariaDBServer(root / "mariadb")
    redis = RedisServer(root / "redis", persistent=True)
    db.start()
    redis.start()
    statsd = Statsd()
    procs = Processes(root / "procs", {"DB_READWRITE_URI": db.uri(), "REDIS_URI": redis.uri(),
                                       "STATSD_HOST": "127.0.0.1", "STATSD_PORT": str(statsd.port)})
    try:
        procs.cli("db", "upgrade")
        procs.cli("export", "add", "internal", "--schema", "internal", "--batch", "0",
                  check=False)  # ``db upgrade`` may have made it
        procs.cli("apikey", "create", KEY)
        port = free_port()
        procs.spawn("web", "serve", "--port", str(port))
        procs.spawn("scheduler", "worker", "--scheduler")
        procs.spawn("worker", "worker")
        wait_port(port)
        deployment = Deployment(db, redis, procs, port, statsd)
        first = networks()
        assert deployment.submit(first) == 200
        eventually(lambda: deployment.located(first), 60,
                   message="nothing learned at start\n" + procs.logs())
        yield deployment
    finally:
        procs.stop()
        redis.stop()
        db.stop()
        statsd.sock.close()
        shutil.rmtree(root, ignore_errors=True)


def assert_quiet(logs: dict[str, str], backend: str) -> None:
    """An outage is a few lines in each worker's log, not a traceback per task."""
    for name, text in logs.items():
        assert "Traceback" not in text, f"{name}:\n{text[-3000:]}"
        lines = text.count(f"{backend}_unreachable")
        assert lines <= 4, f"{name} logged {lines} {backend}_unreachable lines:\n{text[-3000:]}"


def test_workers_recover_from_a_mariadb_restart(deployment: Deployment) -> None:
    d = deployment
    since = d.log_sizes()
    failed_before = d.statsd.counted("task.backend_error", "backend:database")
    during, after = networks(), networks()
    d.db.stop()
    assert d.submit(during) == 200  # the web tier knows the key: queued in Redis
    time.sleep(4)  # the workers try, and fail, meanwhile
    d.db.start()
    assert d.submit(after) == 200
    eventually(lambda: d.located(during) and d.located(after), 20,
               message="not learned after MariaDB came back\n" + d.procs.logs())
    assert d.samples(during + after) == {mac: 1 for mac in during + after}
    logs = d.new_logs(since)
    assert_quiet(logs, "database")
    assert "database_unreachable" in logs["scheduler"] + logs["worker"]
    assert "database_reachable" in logs["scheduler"] + logs["worker"]
    # each failed run is counted
    eventually(lambda: d.statsd.counted("task.backend_error", "backend:database")
               > failed_before, 5)


def test_workers_recover_from_a_redis_restart(deployment: Deployment) -> None:
    d = deployment
    since = d.log_sizes()
    before, after = networks(), networks()
    assert d.submit(before) == 200  # maybe still in a worker's hands at the stop
    d.redis.stop()
    time.sleep(4)
    d.redis.start()
    eventually(lambda: d.submit(after) == 200, 10)
    eventually(lambda: d.located(before) and d.located(after), 20,
               message="not learned after Redis came back\n" + d.procs.logs())
    assert d.samples(before + after) == {mac: 1 for mac in before + after}
    logs = d.new_logs(since)
    assert_quiet(logs, "redis")
    assert "redis_unreachable" in logs["scheduler"]
    assert d.statsd.counted("task.backend_error", "backend:redis") > 0


def marks(d: Deployment) -> dict[int, str]:
    """The pid and owner name of every live mark."""
    client = d.redis.client()
    found = {}
    for key in client.scan_iter(match=ALIVE_PREFIX + "*"):
        value = client.get(key)
        if value:
            found[json.loads(value)["pid"]] = key.decode()[len(ALIVE_PREFIX):]
    return found


def test_a_dead_workers_claim_comes_back_within_seconds(deployment: Deployment) -> None:
    from ichnaea_host.core.queues import DataQueue, Liveness
    from ichnaea_host.pipeline.worker import live_workers

    d = deployment
    doomed = d.procs.spawn("doomed", "worker", "--threads", "1")
    owner = eventually(lambda: marks(d).get(doomed.pid), 30)
    rt = SimpleNamespace(redis=d.redis.client())
    assert owner in live_workers(rt)
    assert len(live_workers(rt)) == 3
    client = d.redis.client()
    # hold the incoming trigger, so that no worker takes the reports before
    # the doomed worker's claim does
    client.set("ichnaea:trigger:incoming", b"1", ex=300)
    macs = networks()
    assert d.submit(macs) == 200
    queue = DataQueue(client, "update_incoming", compress=True)
    held = queue.claim(owner=owner)
    assert len(held.__enter__()) == 1  # never acknowledged

    # the claim of a live worker stays, for longer than a mark's life
    time.sleep(Liveness.SECONDS + 3)
    assert queue.claimed() == 1 and queue.size() == 0

    d.procs.kill("doomed")
    # its mark lapses within Liveness.SECONDS, the scheduler looks every 2 s
    eventually(lambda: d.located(macs), Liveness.SECONDS + 10,
               message="the dead worker's reports were not learned\n" + d.procs.logs())
    assert owner not in live_workers(rt)
    assert queue.claimed() == 0
    assert d.samples(macs) == {mac: 1 for mac in macs}
    recovered = [line for line in d.procs.log("scheduler").splitlines()
                 if '"claim_recovered"' in line and '"update_incoming"' in line]
    assert len(recovered) == 1, d.procs.log("scheduler")[-3000:]
    held.__exit__(None, None, None)  # its claim is gone: nothing left to do


class HangingTarget(ThreadingHTTPServer):
    """A geosubmit export target that holds each request until released."""

    daemon_threads = True

    def __init__(self) -> None:
        self.released = threading.Event()
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests += 1
                server.released.wait(120)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return None

        super().__init__(("127.0.0.1", 0), Handler)


def test_a_busy_workers_claim_is_not_recovered(deployment: Deployment) -> None:
    from ichnaea_host.core.queues import DataQueue, Liveness

    d = deployment
    target = HangingTarget()
    threading.Thread(target=target.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{target.server_address[1]}/v2/geosubmit"
        d.procs.cli("export", "add", "partner", "--schema", "geosubmit", "--batch", "0",
                    "--url", url)
        assert d.submit(networks()) == 200
        queue = DataQueue(d.redis.client(), "queue_export_partner")
        eventually(lambda: target.requests == 1, 60,
                   message="the export was not sent\n" + d.procs.logs())
        claims = d.redis.client().zrange(queue.claims_key, 0, -1)
        assert len(claims) == 1 and queue.claim_owner(claims[0].decode())
        # a worker thread waits on the target for longer than a mark's life
        time.sleep(Liveness.SECONDS + 5)
        assert d.redis.client().zrange(queue.claims_key, 0, -1) == claims
        assert queue.size() == 0 and target.requests == 1
        target.released.set()
        eventually(lambda: queue.claimed() == 0, 20)
        assert target.requests == 1  # sent once
    finally:
        target.released.set()
        target.shutdown()


def test_a_batch_done_while_redis_is_away_is_acknowledged_once_it_is_back(
        tmp_path: Path) -> None:
    import redis as redis_client

    from ichnaea_host.core.queues import DataQueue, Liveness, connect_redis

    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    client = connect_redis(server.uri())
    try:
        queue = DataQueue(client, "update_wifi_0")
        queue.enqueue([1, 2, 3])
        with Liveness(client):
            with pytest.raises(redis_client.ConnectionError), queue.claim() as items:
                assert items == [1, 2, 3]
                server.stop()  # the batch is written, Redis goes away before the ack
            server.start()
            # the worker's own mark thread acknowledges it: not put back, not done twice
            eventually(lambda: queue.claimed() == 0, Liveness.RENEW * 4)
            assert queue.size() == 0
    finally:
        client.close()
        server.stop()
