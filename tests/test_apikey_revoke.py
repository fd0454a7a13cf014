"""API keys can be revoked: ``ichnaea apikey update --allow-locate false``
and ``ichnaea apikey delete`` reach every process of a running
``ichnaea serve --workers 2`` within seconds, although each keeps the keys
it looked up for minutes; an unknown key's delete is an error."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
import requests

from tests.servers import Processes, eventually, free_port, wait_port

KEY = "revocable-key"
#: requests in a row that must all get the same answer: enough for both
#: web processes to answer some
IN_A_ROW = 24


def _reachable(uri: str, default_port: int) -> bool:
    parts = urlparse(uri)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1",
                                       parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def backends() -> Any:
    """A MariaDB database of this test's own (dropped before and after) and the test Redis."""
    mysql = os.environ.get("ICHNAEA_TEST_MYSQL_URI",
                           "mysql+pymysql://root@127.0.0.1:3306/ichnaea_test")
    redis_uri = os.environ.get("ICHNAEA_TEST_REDIS_URI", "redis://127.0.0.1:6379/13")
    if not (_reachable(mysql, 3306) and _reachable(redis_uri, 6379)):
        if os.environ.get("ICHNAEA_TEST_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
            pytest.fail("MariaDB or Redis is not reachable")
        pytest.skip("MariaDB or Redis is not reachable")
    parts = urlparse(mysql)
    name = f"{parts.path.strip('/')}_keys"
    import pymysql

    def drop() -> None:
        conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                               user=parts.username or "root", password=parts.password or "")
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()

    drop()
    yield urlunparse(parts._replace(path=f"/{name}")), redis_uri
    drop()


def locate(port: int, key: str) -> tuple[int, Any]:
    response = requests.post(f"http://127.0.0.1:{port}/v1/geolocate?key={key}", json={},
                             headers={"X-Forwarded-For": "81.2.69.160"}, timeout=10)
    return response.status_code, response.json()


def answers(port: int, key: str) -> list[int]:
    """The statuses of requests in a row, each on a new connection (so that
    both web processes answer some)."""
    return [locate(port, key)[0] for _ in range(IN_A_ROW)]


def refused(port: int, key: str) -> bool:
    if answers(port, key) != [400] * IN_A_ROW:
        return False
    status, body = locate(port, key)
    return status == 400 and body["error"]["errors"][0]["reason"] == "keyInvalid"


def test_a_changed_or_deleted_key_is_refused_by_every_web_process_within_seconds(
        backends: tuple[str, str], tmp_path: Path) -> None:
    db_uri, redis_uri = backends
    procs = Processes(tmp_path, {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri})
    procs.cli("db", "upgrade")
    procs.cli("apikey", "create", KEY, "--maxreq", "0")
    port = free_port()
    procs.spawn("web", "serve", "--workers", "2", "--port", str(port))
    try:
        wait_port(port)
        # both processes look the key up and keep it
        assert answers(port, KEY) == [200] * IN_A_ROW, procs.logs()

        procs.cli("apikey", "update", KEY, "--allow-locate", "false")
        eventually(lambda: refused(port, KEY), timeout=10,
                   message=f"the key still locates 10 s after its update\n{procs.logs()}")

        procs.cli("apikey", "update", KEY, "--allow-locate", "true")
        eventually(lambda: answers(port, KEY) == [200] * IN_A_ROW, timeout=10,
                   message=f"the key is still refused 10 s after its update\n{procs.logs()}")

        done = procs.cli("apikey", "delete", KEY)
        assert done.stdout.strip() == f"Deleted API key: '{KEY}'"
        eventually(lambda: refused(port, KEY), timeout=10,
                   message=f"the key still locates 10 s after its delete\n{procs.logs()}")
        assert "revocable-key" not in procs.log("web")  # keys are cut in logs
    finally:
        procs.stop()


def test_deleting_an_unknown_key_is_an_error(backends: tuple[str, str],
                                             tmp_path: Path) -> None:
    db_uri, redis_uri = backends
    procs = Processes(tmp_path, {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri})
    procs.cli("db", "upgrade")
    done = procs.cli("apikey", "delete", "no-such-key", check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == "ichnaea: API key 'no-such-key' does not exist"
    assert done.stdout == ""
