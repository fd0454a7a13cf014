"""Real clusters on loopback for the scale tests: a Redis Cluster of three
replica-less masters and a three-node MariaDB Galera cluster, each in a temp
dir on free ports, torn down after."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

GALERA_PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on loopback (and their +10000
    cluster bus ports free too, for Redis)."""
    ports: list[int] = []
    socks = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            socks.append(sock)
            if port + 10000 > 65535 or port in ports:
                continue
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            ports.append(port)
    finally:
        for sock in socks:
            sock.close()
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
