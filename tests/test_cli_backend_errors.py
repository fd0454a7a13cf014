"""Every command answers a backend it cannot use (nothing listening, a wrong
password, a database not migrated, Redis down) with one line on stderr
naming it, and a non-zero exit; never a traceback, never the password."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.servers import (
    TEST_MYSQL,
    TEST_REDIS,
    MariaDBServer,
    Processes,
    free_port,
    mariadb_available,
    migration_count,
    shared_servers,
)

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

MYSQL, REDIS = TEST_MYSQL, TEST_REDIS
COMMANDS = [("db", "upgrade"), ("db", "status"), ("process",), ("apikey", "list"), ("doctor",)]




@pytest.fixture
def servers_up():
    shared_servers()


def one_line(done, *names: str) -> str:
    """The one line of stderr; it names the backend (each of ``names``)."""
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode != 0, output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ichnaea: "), lines[0]
    for name in names:
        assert name in (lines[0] if done.args[1] != "doctor" else output), output
    return lines[0]


def test_nothing_listens(servers_up, tmp_path):
    port = free_port()
    procs = Processes(tmp_path, {
        "DB_READWRITE_URI": f"mysql+pymysql://ichnaea:pw-never-shown@127.0.0.1:{port}/nowhere",
        "REDIS_URI": REDIS})
    for command in COMMANDS:
        done = procs.cli(*command, check=False)
        line = one_line(done, f"127.0.0.1:{port}", "'nowhere'")
        assert "pw-never-shown" not in done.stdout + done.stderr
        if command != ("doctor",):
            assert line.startswith("ichnaea: cannot reach the database 'nowhere' at "
                                   f"127.0.0.1:{port}: Can't connect"), line


def test_a_wrong_password(tmp_path):
    if not mariadb_available():
        pytest.skip("mariadbd is not installed")
    # the server runs as the mysql user, who cannot pass pytest's private
    # temp folders (0700): a folder of its own under /tmp
    root = Path(tempfile.mkdtemp(prefix="ichnaea-mariadb-"))
    server = MariaDBServer(root / "mariadb")
    server.start()
    try:
        procs = Processes(tmp_path / "run", {
            "DB_READWRITE_URI": server.uri("ichnaea", password="wrong-pw-never-shown"),
            "REDIS_URI": REDIS})
        for command in COMMANDS:
            done = procs.cli(*command, check=False)
            line = one_line(done, f"127.0.0.1:{server.port}", "'ichnaea'")
            assert "wrong-pw-never-shown" not in done.stdout + done.stderr
            if command != ("doctor",):
                assert "refused the login: Access denied for user 'ichnaea'" in line, line
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def drop_database(name: str) -> None:
    """Drop a database of the test MariaDB server: each test starts empty."""
    import pymysql

    parts = urlparse(MYSQL)
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def test_an_unmigrated_database(servers_up, tmp_path):
    parts = urlparse(MYSQL)
    name = f"{parts.path.strip('/')}_bare"
    drop_database(name)
    procs = Processes(tmp_path, {"DB_READWRITE_URI": parts._replace(path=f"/{name}").geturl(),
                                 "REDIS_URI": REDIS})
    port = parts.port or 3306
    # db upgrade is the cure, not a failure
    for command in [("process",), ("apikey", "list"), ("db", "status"), ("doctor",)]:
        done = procs.cli(*command, check=False)
        line = one_line(done, f"'{name}' at {parts.hostname}:{port}")
        if command != ("doctor",):
            assert "run 'ichnaea db upgrade'" in line, line
            assert "not migrated" in line or f"needs {migration_count()} migration(s)" in line, line


def test_redis_down(servers_up, tmp_path):
    port = free_port()
    parts = urlparse(MYSQL)
    drop_database(f"{parts.path.strip('/')}_redisdown")
    procs = Processes(tmp_path, {
        "DB_READWRITE_URI": parts._replace(path=f"/{parts.path.strip('/')}_redisdown").geturl(),
        "REDIS_URI": f"redis://127.0.0.1:{port}/0"})
    # the migrations need no Redis, the upgrade jobs after them do
    upgrade = procs.cli("db", "upgrade", check=False)
    assert upgrade.returncode == 1 and "Traceback" not in upgrade.stderr
    assert upgrade.stderr.strip().splitlines()[-1] == (
        f"ichnaea: cell_restore_indexes failed: cannot use Redis at 127.0.0.1:{port} (db 0): "
        f"Error 111 connecting to 127.0.0.1:{port}. Connection refused.")
    for command in [("process",), ("doctor",)]:
        done = procs.cli(*command, check=False)
        line = one_line(done, f"Redis at 127.0.0.1:{port}")
        if command == ("process",):
            assert line.startswith(f"ichnaea: cannot use Redis at 127.0.0.1:{port} (db 0): "
                                   "Error 111"), line
