"""Real clusters on loopback for the scale tests: a Redis Cluster of three
replica-less masters and a three-node MariaDB Galera cluster, each in a temp
dir on free ports, torn down after."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GALERA_PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on loopback, their +10000 (Redis
    cluster bus) ports free too. They are taken below the kernel's range of
    ephemeral ports (32768 and up), so that no outgoing connection takes one
    between now and the server binding it."""
    import random

    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(15000, 22000)
        if port in ports:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        ports.append(port)
    return ports


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def redis_available() -> bool:
    return bool(shutil.which("redis-server") and shutil.which("redis-cli"))


def galera_available() -> bool:
    return bool(GALERA_PROVIDER.exists() and _mariadbd() and shutil.which("mariadb-install-db")
                and shutil.which("rsync"))


def _mariadbd() -> str | None:
    return shutil.which("mariadbd") or (
        "/usr/sbin/mariadbd" if os.access("/usr/sbin/mariadbd", os.X_OK) else None)


class RedisCluster:
    """Three ``redis-server --cluster-enabled yes`` masters joined by
    ``redis-cli --cluster create`` with no replicas."""

    def __init__(self, root: Path, masters: int = 3) -> None:
        self.root = root
        self.ports = free_ports(masters)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def nodes(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    @property
    def uri(self) -> str:
        return "redis+cluster://" + ",".join(self.nodes) + "/"

    def start_node(self, port: int) -> None:
        folder = self.root / f"redis-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.procs[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"),
             "--cluster-node-timeout", "2000", "--dir", str(folder), "--save", "",
             "--appendonly", "no", "--logfile", str(folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        for port in self.ports:
            self.start_node(port)
        for port in self.ports:
            wait_port(port)
        subprocess.run(["redis-cli", "--cluster", "create", *self.nodes,
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        self.wait_ok()

    def wait_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = []
            for port in self.ports:
                out = subprocess.run(["redis-cli", "-p", str(port), "cluster", "info"],
                                     capture_output=True, text=True, timeout=5).stdout
                states.append("cluster_state:ok" in out)
            if all(states):
                return
            time.sleep(0.2)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def kill(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()


class GaleraCluster:
    """Three MariaDB nodes joined by Galera (rsync state transfer, so the
    nodes run as the ``mysql`` user), each with its own datadir and ports."""

    def __init__(self, root: Path, nodes: int = 3) -> None:
        self.root = root
        ports = free_ports(nodes * 4)
        self.sql_ports = ports[:nodes]
        self.gcomm_ports = ports[nodes:2 * nodes]
        self.ist_ports = ports[2 * nodes:3 * nodes]
        self.sst_ports = ports[3 * nodes:]
        self.procs: list[subprocess.Popen[bytes]] = []

    def uris(self, database: str) -> list[str]:
        return [f"mysql+pymysql://ichnaea:ichnaea@127.0.0.1:{port}/{database}"
                for port in self.sql_ports]

    def _folder(self, n: int) -> Path:
        return self.root / f"galera-{n}"

    def _start_node(self, n: int, *, new_cluster: bool) -> None:
        import pwd

        folder = self._folder(n)
        data = folder / "data"
        mysql = pwd.getpwnam("mysql")
        if not data.exists():
            folder.mkdir(parents=True)
            os.chown(folder, mysql.pw_uid, mysql.pw_gid)
            subprocess.run(["mariadb-install-db", "--no-defaults", "--user=mysql",
                            f"--datadir={data}", "--auth-root-authentication-method=socket",
                            "--skip-test-db"],
                           check=True, capture_output=True, timeout=120)
        cluster = ",".join(f"127.0.0.1:{port}" for port in self.gcomm_ports)
        gcomm, ist = self.gcomm_ports[n], self.ist_ports[n]
        args = [
            _mariadbd() or "mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}",
            f"--socket={folder / 'mysqld.sock'}", f"--port={self.sql_ports[n]}",
            "--bind-address=127.0.0.1", f"--pid-file={folder / 'mysqld.pid'}",
            f"--log-error={folder / 'error.log'}", "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
            "--performance-schema=OFF", "--max-connections=200",
            "--binlog-format=ROW", "--default-storage-engine=InnoDB",
            "--innodb-autoinc-lock-mode=2", "--wsrep-on=ON",
            f"--wsrep-provider={GALERA_PROVIDER}", "--wsrep-cluster-name=ichnaea_scale",
            f"--wsrep-cluster-address=gcomm://{cluster}",
            f"--wsrep-node-address=127.0.0.1:{gcomm}", f"--wsrep-node-name=node{n}",
            f"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{gcomm};"
            f"ist.recv_addr=127.0.0.1:{ist};gcache.size=32M",
            "--wsrep-sst-method=rsync",
            f"--wsrep-sst-receive-address=127.0.0.1:{self.sst_ports[n]}",
        ]
        if new_cluster:
            args.append("--wsrep-new-cluster")
        self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))

    def sql(self, n: int, statement: str) -> Any:
        import pymysql

        conn = pymysql.connect(unix_socket=str(self._folder(n) / "mysqld.sock"), user="root")
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall()
        finally:
            conn.close()

    def _wait_synced(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[n].poll() is not None:
                break
            with contextlib.suppress(Exception):
                rows = self.sql(n, "SHOW STATUS LIKE 'wsrep_local_state_comment'")
                if rows and rows[0][1] == "Synced":
                    return
            time.sleep(0.5)
        log = (self._folder(n) / "error.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"Galera node {n} did not sync:\n{log}")

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        with contextlib.suppress(OSError):  # the temp folders above must be passable
            os.chmod(self.root.parent, 0o755)
        self._start_node(0, new_cluster=True)
        self._wait_synced(0)
        self.sql(0, "CREATE USER IF NOT EXISTS 'ichnaea'@'%' IDENTIFIED BY 'ichnaea'")
        self.sql(0, "GRANT ALL ON *.* TO 'ichnaea'@'%'")
        for n in range(1, len(self.sql_ports)):
            self._start_node(n, new_cluster=False)
            self._wait_synced(n)
        size = self.sql(0, "SHOW STATUS LIKE 'wsrep_cluster_size'")[0][1]
        if int(size) != len(self.sql_ports):
            raise RuntimeError(f"the Galera cluster has {size} nodes")

    def create_database(self, name: str) -> None:
        self.sql(0, f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()


# ---------------------------------------------------------------------------
# the service: web and workers as real processes, configured by environment

SCALE = os.environ.get("ICHNAEA_TEST_SCALE", "") in ("1", "true", "yes")
BIN = Path(sys.executable).parent
DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306/ichnaea_test"


class Service:
    """``ichnaea serve`` on one node and ``ichnaea worker`` on two others."""

    def __init__(self, root: Path, redis: RedisCluster, db_uris: list[str]) -> None:
        self.root = root
        self.redis = redis
        self.db_uris = db_uris
        self.port = free_ports(1)[0]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, node: int) -> dict[str, str]:
        """The environment of a process on ``node``: its own database node and
        the cluster's nodes listed from its own one on."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ICHNAEA_TEST")}
        nodes = self.redis.nodes[node:] + self.redis.nodes[:node]
        env.update({
            "DB_READWRITE_URI": self.db_uris[node % len(self.db_uris)],
            "REDIS_CLUSTER_NODES": ",".join(nodes),
            "ICHNAEA_VAR_DIR": str(self.root / f"var-{node}"),
            "ICHNAEA_STRICT_PLUGINS": "true",
            "ICHNAEA_WORKER_THREADS": "2",
            "LOGGING_LEVEL": "INFO",
        })
        env.pop("REDIS_URI", None)
        return env

    def cli(self, *args: str, node: int = 0) -> str:
        done = subprocess.run([str(BIN / "ichnaea"), *args], env=self.env(node),
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"ichnaea {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def spawn(self, name: str, node: int, *args: str) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen([str(BIN / "ichnaea"), *args], env=self.env(node),
                                            stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> None:
        self.cli("db", "upgrade")
        self.cli("export", "add", "internal", "--schema", "internal", "--batch", "0")
        self.cli("apikey", "create", "scale", "--maxreq", "0")
        self.cli("apikey", "create", "limited", "--maxreq", "3")
        self.spawn("web", 0, "serve", "--host", "127.0.0.1", "--port", str(self.port))
        self.spawn("worker-1", 1, "worker", "--scheduler")
        self.spawn("worker-2", 2, "worker")
        wait_port(self.port, 60)

    def logs(self) -> str:
        """The end of every process's log, but the web's request lines."""
        out = []
        for path in sorted(self.root.glob("*.log")):
            lines = [line for line in path.read_text(errors="replace").splitlines()
                     if '"event": "request"' not in line]
            out.append(f"--- {path.name}\n" + "\n".join(lines[-30:]))
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()


def _fresh_mysql_database(uri: str) -> str:
    """``uri`` with its database replaced by an empty ``<name>_scale``."""
    from urllib.parse import urlparse

    import pymysql

    parts = urlparse(uri)
    name = (parts.path.lstrip("/") or "ichnaea_test") + "_scale"
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    return parts._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def scale_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="ichnaea-scale-"))
    os.chmod(root, 0o755)  # the Galera nodes run as the mysql user
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_cluster(scale_root: Path) -> Iterator[RedisCluster]:
    if not redis_available():
        pytest.skip("redis-server and redis-cli are needed")
    cluster = RedisCluster(scale_root / "redis")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def galera(scale_root: Path) -> Iterator[GaleraCluster | None]:
    """A three-node Galera cluster, or None where galera-4 or MariaDB is missing
    (then the loopback MariaDB stands in, unless ICHNAEA_TEST_REQUIRE_SERVICES)."""
    if not galera_available():
        if os.environ.get("ICHNAEA_TEST_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
            pytest.fail("galera-4, mariadbd, mariadb-install-db and rsync are needed")
        yield None
        return
    cluster = GaleraCluster(scale_root / "galera")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def database_uris(galera: GaleraCluster | None) -> list[str]:
    """One URI per database node (the same server three times without Galera)."""
    if galera is not None:
        galera.create_database("ichnaea")
        return galera.uris("ichnaea")
    uri = _fresh_mysql_database(os.environ.get("ICHNAEA_TEST_MYSQL_URI", DEFAULT_MYSQL))
    return [uri, uri, uri]


@pytest.fixture(scope="session")
def service(scale_root: Path, redis_cluster: RedisCluster,
            database_uris: list[str]) -> Iterator[Service]:
    svc = Service(scale_root / "service", redis_cluster, database_uris)
    svc.root.mkdir()
    try:
        svc.start()
        yield svc
    except BaseException:
        print(svc.logs())
        raise
    finally:
        svc.stop()
