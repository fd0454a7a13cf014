"""``ichnaea cells import`` on MariaDB with its default three writers, as a
real process: tens of thousands of rows written by batches in several
threads at once (each looking up regions, which first touches numpy), and
a failing database answered by one line and exit 1, never a traceback."""

from __future__ import annotations

import gzip
import os
import random
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest

BIN = Path(sys.executable).parent
HEADER = ("radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,"
          "averageSignal")
T0 = 1_700_000_000
ROWS = 30_000
#: (mcc, lat, lon): London, Berlin, Basel (on the CH/DE/FR borders), New York
PLACES = [(234, 51.5, -0.1), (262, 52.5, 13.4), (228, 47.56, 7.59), (310, 40.7, -74.0)]


def mysql_uri(database: str) -> str:
    """The test MariaDB (``ICHNAEA_TEST_MYSQL_URI``) with a database of this test's own."""
    base = os.environ.get("ICHNAEA_TEST_MYSQL_URI", "mysql+pymysql://root@127.0.0.1:3306/ichnaea_test")
    parts = urlparse(base)
    if not _reachable(parts.hostname or "127.0.0.1", parts.port or 3306):
        message = f"no MariaDB at {parts.hostname}:{parts.port}"
        if os.environ.get("ICHNAEA_TEST_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return urlunparse(parts._replace(path=f"{parts.path.rstrip('/')}_{database}"))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def sql(uri: str, statement: str, *, database: bool = True) -> Any:
    import pymysql

    parts = urlparse(uri)
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "",
                           database=parts.path.lstrip("/") if database else None)
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall()
    finally:
        conn.close()


@pytest.fixture
def database(request: Any) -> Any:
    """A MariaDB database that is dropped before and after the test."""
    uri = mysql_uri(request.param)
    drop = f"DROP DATABASE IF EXISTS `{urlparse(uri).path.lstrip('/')}`"
    sql(uri, drop, database=False)
    yield uri
    sql(uri, drop, database=False)


def ichnaea(tmp_path: Path, db_uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items()
              if not k.startswith(("ICHNAEA_", "DB_", "REDIS_", "GEOIP_"))},
           "DB_READWRITE_URI": db_uri, "ICHNAEA_VAR_DIR": str(tmp_path / "var"),
           "REDIS_URI": os.environ.get("ICHNAEA_TEST_REDIS_URI", "redis://127.0.0.1:6379/13"),
           "LOGGING_LEVEL": "WARNING", "ICHNAEA_STRICT_PLUGINS": "true"}
    return subprocess.run([str(BIN / "ichnaea"), *args], env=env, capture_output=True,
                          text=True, timeout=600, check=False)


def export_file(path: Path) -> Path:
    rng = random.Random(26)
    lines = [HEADER]
    for n in range(ROWS):
        mcc, lat, lon = rng.choice(PLACES)
        lines.append(f"LTE,{mcc},10,{1 + n % 700},{n + 1},1,{lon + rng.uniform(-0.3, 0.3):.6f},"
                     f"{lat + rng.uniform(-0.3, 0.3):.6f},1000,3,1,{T0},{T0 + n},")
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


@pytest.mark.mysql
@pytest.mark.parametrize("database", ["cells"], indirect=True)
def test_import_with_three_writers_on_mariadb(database: str, tmp_path: Path) -> None:
    path = export_file(tmp_path / "cell_towers.csv.gz")
    upgrade = ichnaea(tmp_path, database, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    done = ichnaea(tmp_path, database, "cells", "import", str(path), "--writers", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert (f"cell_towers.csv.gz: {ROWS} new, 0 updated, 0 unchanged, 0 skipped (cdma), "
            "0 invalid") in done.stdout
    assert sql(database, "SELECT COUNT(*), COUNT(region) FROM cell_lte") == ((ROWS, ROWS),)
    # again: every row is known and unchanged
    again = ichnaea(tmp_path, database, "cells", "import", str(path), "--writers", "3")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"0 new, 0 updated, {ROWS} unchanged" in again.stdout


@pytest.mark.mysql
@pytest.mark.parametrize("database", ["cells_unmigrated"], indirect=True)
def test_import_into_an_unmigrated_database_is_one_line(database: str, tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    path.write_text(f"{HEADER}\nLTE,234,10,1,1,,-0.1,51.5,100,1,1,{T0},{T0},\n")
    sql(database, f"CREATE DATABASE `{urlparse(database).path.lstrip('/')}`", database=False)
    done = ichnaea(tmp_path, database, "cells", "import", str(path))
    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("ichnaea:")]
    assert errors == [errors[0]] and "ichnaea db upgrade" in errors[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


@pytest.mark.mysql
@pytest.mark.parametrize("database", ["cells_down"], indirect=True)
def test_import_with_the_database_unreachable_is_one_line(database: str,
                                                          tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "cells.csv"
    path.write_text(f"{HEADER}\nLTE,234,10,1,1,,-0.1,51.5,100,1,1,{T0},{T0},\n")
    down = urlunparse(urlparse(database)._replace(netloc=f"root@127.0.0.1:{port}"))
    done = ichnaea(tmp_path, down, "cells", "import", str(path))
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("ichnaea:")]
    assert len(errors) == 1 and "Can't connect" in errors[0], done.stderr[-3000:]
