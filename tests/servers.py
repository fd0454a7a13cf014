"""Backends and service processes a fault test owns: a MariaDB server and a
Redis server of its own on free loopback ports (so stopping them harms no
other test), and ``ichnaea`` commands run as real processes against them.

Each server keeps its port and its data across :meth:`stop` and
:meth:`start`, as a restarted production server does.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free TCP port on loopback, below the kernel's ephemeral range, so
    that no outgoing connection takes it before a server binds it."""
    while True:
        port = random.randrange(22000, 30000)
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def wait_closed(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                pass
        except OSError:
            return
        time.sleep(0.1)
    raise RuntimeError(f"127.0.0.1:{port} still listens after {timeout} s")


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a process with SIGTERM, or SIGKILL after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


#: the MariaDB and Redis servers the whole suite shares (see ichnaea_host.testing)
TEST_MYSQL = os.environ.get("ICHNAEA_TEST_MYSQL_URI",
                            "mysql+pymysql://root@127.0.0.1:3306/ichnaea_test")
TEST_REDIS = os.environ.get("ICHNAEA_TEST_REDIS_URI", "redis://127.0.0.1:6379/13")


def shared_servers(*, mysql: bool = True) -> tuple[str, str]:
    """(MariaDB URI, Redis URI) of the shared test servers; a test skips when
    one does not answer, or fails with ``ICHNAEA_TEST_REQUIRE_SERVICES=1``."""
    from urllib.parse import urlparse

    import pytest

    wanted = [(TEST_MYSQL, 3306)] if mysql else []
    for uri, default in [*wanted, (TEST_REDIS, 6379)]:
        parts = urlparse(uri)
        try:
            socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default),
                                     1).close()
        except OSError:
            message = f"no server answers at {parts.hostname}:{parts.port or default}"
            if os.environ.get("ICHNAEA_TEST_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
                pytest.fail(message)
            pytest.skip(message)
    return TEST_MYSQL, TEST_REDIS


def mariadbd() -> str | None:
    return shutil.which("mariadbd") or (
        "/usr/sbin/mariadbd" if os.access("/usr/sbin/mariadbd", os.X_OK) else None)


def mariadb_available() -> bool:
    return bool(mariadbd() and shutil.which("mariadb-install-db"))


def redis_available() -> bool:
    return bool(shutil.which("redis-server"))


def _passable(folder: Path) -> bool:
    """Whether every folder down to ``folder`` lets other users through."""
    for each in [folder, *folder.parents]:
        if each.exists() and not each.stat().st_mode & 0o001:
            return False
    return True


class MariaDBServer:
    """One MariaDB server in ``root`` on a port of its own; the user
    ``ichnaea`` (password ``ichnaea``) may do anything. The server runs as
    the ``mysql`` user, which cannot enter pytest's private temp folders: in
    one of those, it lives in a folder of its own under the system's temp
    folder instead (removed when the tests end)."""

    def __init__(self, root: Path) -> None:
        import tempfile

        if not _passable(root.parent):
            root = Path(tempfile.mkdtemp(prefix="ichnaea-mariadb-"))
            atexit.register(shutil.rmtree, root, True)
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def uri(self, database: str = "ichnaea", *, password: str = "ichnaea") -> str:
        return f"mysql+pymysql://ichnaea:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _install(self) -> None:
        import pwd

        mysql = pwd.getpwnam("mysql") if os.geteuid() == 0 else None
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # the folders above are passable (see __init__)
        if mysql is not None:
            os.chown(self.root, mysql.pw_uid, mysql.pw_gid)
        subprocess.run(["mariadb-install-db", "--no-defaults", *self._user(),
                        f"--datadir={self.data}", "--auth-root-authentication-method=socket",
                        "--skip-test-db"],
                       check=True, capture_output=True, timeout=180)

    @staticmethod
    def _user() -> list[str]:
        return ["--user=mysql"] if os.geteuid() == 0 else []

    def start(self) -> None:
        first = not self.data.exists()
        if first:
            self._install()
        self.proc = subprocess.Popen(
            [mariadbd() or "mariadbd", "--no-defaults", *self._user(), f"--datadir={self.data}",
             f"--socket={self.root / 'mysqld.sock'}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--pid-file={self.root / 'mysqld.pid'}",
             f"--log-error={self.root / 'error.log'}", "--skip-name-resolve",
             "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M",
             "--performance-schema=OFF", "--max-connections=200", "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()
        if first:
            self.sql("CREATE USER IF NOT EXISTS 'ichnaea'@'%' IDENTIFIED BY 'ichnaea'")
            self.sql("GRANT ALL ON *.* TO 'ichnaea'@'%'")

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            with contextlib.suppress(Exception):
                self.sql("SELECT 1")
                return
            time.sleep(0.2)
        log = (self.root / "error.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"MariaDB did not start:\n{log}")

    def sql(self, statement: str) -> Any:
        import pymysql

        conn = pymysql.connect(unix_socket=str(self.root / "mysqld.sock"), user="root",
                               connect_timeout=2)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 60)
            self.proc = None
        wait_closed(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        """Stop the server and delete its data."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """One ``redis-server`` in ``root`` on a port of its own, persistent
    (append-only file) unless ``persistent=False``."""

    def __init__(self, root: Path, *, persistent: bool = True) -> None:
        self.root = root
        self.port = free_port()
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None

    def uri(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        persistence = (["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
                       if self.persistent else ["--appendonly", "no", "--save", ""])
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.root), *persistence, "--logfile", str(self.root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, 30)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 30)
            self.proc = None
        wait_closed(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, db: int = 0) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)


class Processes:
    """``ichnaea`` commands as real processes with one environment; each
    long-running one logs to ``<root>/<name>.log``."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("ICHNAEA_", "DB_", "REDIS_", "GEOIP_"))}
        self.env = {**base, "ICHNAEA_VAR_DIR": str(root / "var"), "LOGGING_LEVEL": "INFO",
                    "ICHNAEA_STRICT_PLUGINS": "true", **env}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def cli(self, *args: str, check: bool = True, timeout: float = 180,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(BIN / "ichnaea"), *args], env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, (
                f"ichnaea {' '.join(args)} exited {done.returncode}: {done.stderr[-3000:]}")
        return done

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen([str(BIN / "ichnaea"), *args], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        return self.procs[name]

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        """The end of every process's log, for a failing assertion."""
        out = []
        for path in sorted(self.root.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()
            out.append(f"--- {path.name}\n" + "\n".join(lines[-40:]))
        return "\n".join(out)

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)

    def stop(self, name: str | None = None) -> None:
        names = [name] if name else list(self.procs)
        for each in names:
            self.procs[each].terminate()
        for each in names:
            proc = self.procs.pop(each)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def eventually(check: Any, timeout: float = 30.0, interval: float = 0.25,
               message: str = "") -> Any:
    """Call ``check`` until it returns something true, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = check()
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(message or f"not true after {timeout} s (last: {last!r})")


def migration_count() -> int:
    """How many migrations an empty database needs: those of the host and of
    every installed plugin (what ``ichnaea`` says an unmigrated database needs)."""
    import peewee

    from ichnaea_host.core import migrate
    from ichnaea_host.core.settings import Settings
    from ichnaea_host.plugins.manager import build_plugin_host

    plugins = build_plugin_host(Settings.from_env({}))
    return len(migrate.pending(peewee.SqliteDatabase(":memory:"), plugins.migration_dirs))
