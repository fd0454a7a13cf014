"""``ichnaea doctor`` on real deployments: a healthy one (persistent Redis of
its own, a migrated database with an export, a scheduler running, a real
GeoIP file, SECRET_KEY) says ok on every line and exits 0; a broken one
names each problem and exits 1."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.servers import Processes, RedisServer, eventually, migration_count, redis_available

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

MYSQL = os.environ.get("ICHNAEA_TEST_MYSQL_URI", "mysql+pymysql://root@127.0.0.1:3306/ichnaea_test")


def _mysql_database(suffix: str) -> str:
    """The URI of an emptied database of this file's own on the test MariaDB."""
    import pymysql

    parts = urlparse(MYSQL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 3306), 1):
            pass
    except OSError:
        if os.environ.get("ICHNAEA_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("the test MariaDB server is needed")
        pytest.skip("no MariaDB server to test against")
    name = f"{parts.path.strip('/')}_{suffix}"
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()
    return parts._replace(path=f"/{name}").geturl()


def _redis(tmp_path: Path, *, persistent: bool) -> RedisServer:
    if not redis_available():
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis", persistent=persistent)
    server.start()
    return server


def _real_geoip(tmp_path: Path) -> Path:
    """A City database of today (the demo's records, at a path of its own)."""
    from ichnaea_geoip.demo import build_demo_database

    return build_demo_database(tmp_path / "GeoLite2-City.mmdb")


def lines(output: str) -> dict[str, str]:
    """doctor's lines by check name: ``{"redis": "FAIL    redis: ..."}``."""
    found = {}
    for line in output.splitlines():
        name = line[8:].split(":", 1)[0]
        found[name] = line
    return found


def test_a_healthy_deployment_is_ok_everywhere(tmp_path):
    redis = _redis(tmp_path, persistent=True)
    procs = Processes(tmp_path, {"DB_READWRITE_URI": _mysql_database("doctor"),
                                 "REDIS_URI": redis.uri(), "SECRET_KEY": "s3cret-for-tests",
                                 "GEOIP_PATH": str(_real_geoip(tmp_path))})
    try:
        procs.cli("db", "upgrade")
        procs.spawn("worker", "worker", "--scheduler")
        done = eventually(lambda: (lambda d: d.returncode == 0 and d)(
            procs.cli("doctor", check=False)), timeout=60,
            message="doctor never passed\n" + procs.logs())
        found = lines(done.stdout)
        assert {"secret_key", "database", "exports", "redis", "scheduler", "queues",
                "geoip"} <= set(found)
        assert all(line.startswith("ok      ") for line in found.values()), done.stdout
        assert "persistent (AOF)" in found["redis"]
        assert "GeoIP2-City" in found["geoip"]
        assert done.stderr == ""
        report = json.loads(procs.cli("doctor", "--json").stdout)
        assert report["ok"] is True
        assert {c["status"] for c in report["checks"]} == {"ok"}
    finally:
        procs.stop()
        redis.stop()


def test_a_broken_deployment_names_each_problem(tmp_path):
    redis = _redis(tmp_path, persistent=False)
    db_uri = _mysql_database("doctor_bare")
    procs = Processes(tmp_path, {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis.uri()})
    try:
        # an unmigrated database
        done = procs.cli("doctor", check=False)
        assert done.returncode == 1
        found = lines(done.stdout)
        assert found["database"].startswith("FAIL    database: the database")
        assert f"needs {migration_count()} migration(s)" in found["database"]
        assert "(fix: ichnaea db upgrade)" in found["database"]
        assert "Traceback" not in done.stdout + done.stderr

        # migrated, but no export, a Redis without persistence, no scheduler,
        # no SECRET_KEY, the demo GeoIP database
        procs.cli("db", "upgrade", "--no-internal-export")
        done = procs.cli("doctor", check=False)
        assert done.returncode == 1
        found = lines(done.stdout)
        assert found["database"].startswith("ok")
        assert found["exports"].startswith("FAIL    exports: no export: nothing is learned")
        assert "ichnaea export add internal --schema internal" in found["exports"]
        assert found["redis"].startswith("FAIL    redis:")
        assert "keeps nothing on disk" in found["redis"]
        assert found["scheduler"].startswith("FAIL    scheduler: no scheduler ticked")
        assert "ichnaea worker --scheduler" in found["scheduler"]
        assert found["secret_key"].startswith("warning")
        assert found["geoip"].startswith("warning geoip: the demo database")
        expected = ["exports", "redis", "scheduler"]
        if "workers" in found:  # when the worker module knows live workers
            assert found["workers"].startswith("FAIL    workers: no worker is alive")
            expected.append("workers")
        assert done.stderr.strip().splitlines() == [
            f"ichnaea: doctor: {len(expected)} check(s) failed: {', '.join(expected)}"]
        report = json.loads(procs.cli("doctor", "--json", check=False).stdout)
        assert report["ok"] is False
        failed = {c["name"] for c in report["checks"] if c["status"] == "FAIL"}
        assert failed == set(expected)
    finally:
        procs.stop()
        redis.stop()
