"""The README's production layout, followed literally, learns: the commands
are read from the README's block, run as real processes against a MariaDB
database and a Redis of the test's own, and a submitted network is then
located over HTTP. Without any export, reports wait in Redis (a warning says
so) and are learned once one is added."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from tests.servers import (
    TEST_MYSQL,
    TEST_REDIS,
    Processes,
    eventually,
    free_port,
    shared_servers,
    wait_port,
)

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

README = Path(__file__).resolve().parent.parent / "README.md"
MYSQL, REDIS = TEST_MYSQL, TEST_REDIS

REPORT = {"items": [{
    "position": {"latitude": 51.5, "longitude": -0.1, "accuracy": 10},
    "wifiAccessPoints": [{"macAddress": "02:00:5e:31:00:01", "signalStrength": -60},
                         {"macAddress": "02:00:5e:31:00:02", "signalStrength": -70}]}]}
QUERY = {"wifiAccessPoints": [{"macAddress": "02:00:5e:31:00:01"},
                              {"macAddress": "02:00:5e:31:00:02"}]}


def production_block() -> list[str]:
    """The lines of the first ``sh`` block of the README's production section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Production layout", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the production section has a sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]




@pytest.fixture
def backends():
    """(database URI, Redis URI): an emptied database of this file's own on
    the test MariaDB, and the test Redis database, flushed."""
    shared_servers()
    import pymysql
    import redis

    parts = urlparse(MYSQL)
    name = parts.path.strip("/") + "_prod"
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()
    redis.Redis.from_url(REDIS).flushdb()
    yield parts._replace(path=f"/{name}").geturl(), REDIS
    redis.Redis.from_url(REDIS).flushdb()


def run_block(procs: Processes, lines: list[str]) -> dict[str, str]:
    """Run the block's lines: ``export``s set the environment (the test's
    backends and port win), ``ichnaea`` lines run, those ending in ``&`` in
    the background. Returns the output of each command that ran to its end."""
    outputs = {}
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            procs.env.setdefault(name, value)
            continue
        background = words[-1] == "&"
        words = [w for w in words if w != "&"]
        assert words[0] == "ichnaea", f"the block runs only ichnaea commands: {line}"
        if background:
            procs.spawn("-".join(words[1:3]), *words[1:])
        else:
            done = procs.cli(*words[1:], check=words[1] != "doctor")
            outputs[" ".join(words[1:3])] = done.stdout + done.stderr
    return outputs


def locate(port: int, key: str) -> dict | None:
    response = requests.post(f"http://127.0.0.1:{port}/v1/geolocate?key={key}", json=QUERY,
                             timeout=5)
    return response.json() if response.status_code == 200 else None


def test_the_readme_production_layout_learns(backends, tmp_path):
    db_uri, redis_uri = backends
    lines = production_block()
    port = free_port()
    procs = Processes(tmp_path, {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
                                 "ICHNAEA_PORT": str(port)})
    try:
        outputs = run_block(procs, lines)
        assert "created the export 'internal'" in outputs["db upgrade"]
        key = next(shlex.split(line)[3] for line in lines if "apikey create" in line)
        wait_port(port)
        response = requests.post(f"http://127.0.0.1:{port}/v2/geosubmit?key={key}",
                                 json=REPORT, timeout=5)
        assert response.status_code == 200
        found = eventually(lambda: locate(port, key), timeout=60,
                           message="the submitted networks were never learned\n" + procs.logs())
        assert abs(found["location"]["lat"] - 51.5) < 0.01
        assert abs(found["location"]["lng"] + 0.1) < 0.01
        # the README's last line: the doctor finds the exports and the scheduler
        doctor = eventually(lambda: (lambda out: "ok      scheduler" in out and out)(
            procs.cli("doctor", check=False).stdout), timeout=30)
        assert "ok      exports: internal (internal)" in doctor
        assert "ok      database" in doctor
    finally:
        procs.stop()


def test_reports_wait_for_an_export(backends, tmp_path):
    import redis

    db_uri, redis_uri = backends
    port = free_port()
    procs = Processes(tmp_path, {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
                                 "ICHNAEA_PORT": str(port)})
    client = redis.Redis.from_url(redis_uri)
    try:
        upgrade = procs.cli("db", "upgrade", "--no-internal-export")
        assert "created the export" not in upgrade.stdout
        procs.cli("apikey", "create", "relay-key", "--maxreq", "0")
        procs.spawn("serve", "serve")
        procs.spawn("worker", "worker", "--scheduler")
        wait_port(port)
        for _ in range(3):
            assert requests.post(f"http://127.0.0.1:{port}/v2/geosubmit?key=relay-key",
                                 json=REPORT, timeout=5).status_code == 200
        eventually(lambda: '"no_exports"' in procs.log("worker"), timeout=30,
                   message="no warning about the missing export\n" + procs.logs())
        warning = next(line for line in procs.log("worker").splitlines()
                       if '"no_exports"' in line)
        assert '"queue_size": 3' in warning
        assert client.llen("update_incoming") == 3  # kept, not drained
        assert procs.log("worker").count('"no_exports"') == 1  # once a minute at most
        process = procs.cli("process")
        assert "3 incoming reports kept" in process.stdout
        assert client.llen("update_incoming") == 3

        procs.cli("export", "add", "internal", "--schema", "internal", "--batch", "1")
        found = eventually(lambda: locate(port, "relay-key"), timeout=60,
                           message="the kept reports were never learned\n" + procs.logs())
        assert abs(found["location"]["lat"] - 51.5) < 0.01
        assert client.llen("update_incoming") == 0
    finally:
        procs.stop()
