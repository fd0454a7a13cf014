"""Pipeline benchmark: reports in through the HTTP API, station rows out.

Runs the service as an operator would, on MariaDB and Redis: one
``ichnaea serve --workers 2`` and two ``ichnaea worker`` processes (one with
the scheduler), then measures

1. **submit**: N geosubmit v2 reports posted through the API by 4 clients
   (100 reports a request), while no worker runs;
2. **drain**: the two workers start and work off that backlog (update_incoming,
   the internal export, the station updaters); observations per second from
   the moment both workers are up until every queue is empty;
3. **latency**: with the workers idle, one batch of ``--latency-reports`` new
   reports is submitted; the time from the first request until 50 % and
   100 % of its stations exist as rows.

Each report sees ``--wifi`` access points of one "site" (each naming its
WiFi standard, as NeoStumbler's reports do); every site is
visited twice, so half the observations create stations and half move
existing ones. The benchmark drops and recreates its own database
(``--db``, default ``ichnaea_bench_pipeline``) and flushes its Redis database
(``--redis``, default db 11); it never touches anything else.

With ``--workers 1,2,4`` the drain is measured once for each number of
worker processes (the database and Redis reset between runs, no latency
step), and a table gives observations per second, the CPU seconds per
observation of the workers, of MariaDB and of Redis, and the database's
share of that CPU (the servers' processes are found by their ports).

Usage::

    python bench/pipeline.py                  # 20000 reports x 10 access points
    python bench/pipeline.py --reports 5000 --wifi 5 --latency-reports 2000
    python bench/pipeline.py --workers 1,2,4 --reports 10000
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pymysql
import redis
import requests

ICHNAEA = [sys.executable, "-m", "ichnaea_host.cli.commands"]
KEY = "bench-pipeline"
PER_REQUEST = 100
CLIENTS = 4
SHARDS = "0123456789abcdef"
#: the WiFi standards the reports name, network after network (as NeoStumbler sends them)
STANDARDS = ("802.11n", "802.11ac", "802.11ax")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """The ichnaea processes of the benchmark, all on the same database and Redis."""

    def __init__(self, db_uri: str, redis_uri: str, var: Path, worker_threads: int) -> None:
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DB_", "REDIS_", "ICHNAEA_", "GEOIP_"))}
        self.env.update(DB_READWRITE_URI=db_uri, REDIS_URI=redis_uri,
                        ICHNAEA_VAR_DIR=str(var), LOGGING_LEVEL="WARNING",
                        ICHNAEA_WORKER_THREADS=str(worker_threads))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self, *args: str) -> None:
        subprocess.run([*ICHNAEA, *args], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def start(self, *args: str, ready: str) -> subprocess.Popen[bytes]:
        """Start one process; return once it printed a line containing ``ready``."""
        proc = subprocess.Popen([*ICHNAEA, *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        assert proc.stdout is not None
        for line in proc.stdout:
            if ready.encode() in line:
                return proc
        raise RuntimeError(f"ichnaea {' '.join(args)} stopped before it was ready")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


class Database:
    """Direct reads of the station tables and queues, to see when work is done."""

    def __init__(self, db_uri: str, redis_uri: str) -> None:
        parts = urlparse(db_uri)
        self.name = parts.path.lstrip("/")
        self.params = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
                       "user": parts.username or "root", "password": parts.password or ""}
        self.redis = redis.Redis.from_url(redis_uri)

    def reset(self) -> None:
        conn = pymysql.connect(**self.params, autocommit=True)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
        conn.close()
        self.redis.flushdb()

    def connect(self) -> Any:
        return pymysql.connect(**self.params, database=self.name, autocommit=True)

    def stations(self, conn: Any) -> int:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM wifi")
            return int(cur.fetchone()[0])

    def busy(self) -> bool:
        """Anything left in a queue or held by a worker?"""
        queues = ["update_incoming", "queue_export_internal",
                  *(f"update_wifi_{s}" for s in SHARDS)]
        with self.redis.pipeline() as pipe:
            for name in queues:
                pipe.llen(name)
                pipe.zcard(f"{{{name}}}:claims")
            return any(pipe.execute())


def mac(*parts: Any) -> str:
    return hashlib.sha1("-".join(map(str, parts)).encode()).hexdigest()[:12]


def make_reports(count: int, wifi: int, seed: str) -> tuple[list[dict[str, Any]], int]:
    """``count`` reports over ``count // 2`` sites; returns (reports, stations)."""
    rng = random.Random(seed)
    sites = max(count // 2, 1)
    centres = [(rng.uniform(48.0, 54.0), rng.uniform(6.0, 14.0)) for _ in range(sites)]
    reports = []
    for number in range(count):
        site = number % sites
        lat, lon = centres[site]
        reports.append({
            "timestamp": int(time.time() * 1000),
            "position": {"latitude": lat + rng.uniform(-1e-4, 1e-4),
                         "longitude": lon + rng.uniform(-1e-4, 1e-4),
                         "accuracy": rng.uniform(5, 30), "source": "gps"},
            "wifiAccessPoints": [{"macAddress": mac(seed, site, n),
                                  "signalStrength": rng.randint(-90, -50),
                                  "radioType": STANDARDS[n % len(STANDARDS)]}
                                 for n in range(wifi)],
        })
    return reports, sites * wifi


def submit(url: str, reports: list[dict[str, Any]]) -> float:
    """Post the reports, PER_REQUEST a request from CLIENTS threads; return the seconds."""
    chunks = [reports[i:i + PER_REQUEST] for i in range(0, len(reports), PER_REQUEST)]
    session = requests.Session()

    def post(chunk: list[dict[str, Any]]) -> None:
        response = session.post(f"{url}/v2/geosubmit?key={KEY}", json={"items": chunk},
                                timeout=60)
        response.raise_for_status()

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(post, chunks))
    return time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listener_pid(port: int) -> int | None:
    """The process listening on a loopback TCP port (``ss -ltnpH``), if visible."""
    try:
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for part in out.split("pid=")[1:]:
        digits = part.split(",", 1)[0]
        if digits.isdigit():
            return int(digits)
    return None


def server_cpu(pids: list[int | None]) -> list[float | None]:
    return [cpu_seconds(pid) if pid else None for pid in pids]


def wait(condition: Any, timeout: float, poll: float = 0.05) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError("timed out waiting for the pipeline")
        time.sleep(poll)
    return time.monotonic() - started


def drain_run(args: argparse.Namespace, count: int) -> dict[str, float]:
    """A fresh database, the backlog submitted, then ``count`` workers drain it."""
    db = Database(args.db, args.redis)
    db.reset()
    service = Service(args.db, args.redis, Path(args.var), args.threads)
    service.command("db", "upgrade")
    service.command("apikey", "create", KEY, "--maxreq", "0")
    service.command("export", "add", "internal", "--schema", "internal", "--batch", "0")
    reports, stations = make_reports(args.reports, args.wifi, "backlog")
    observations = len(reports) * args.wifi
    servers = [listener_pid(urlparse(args.db).port or 3306),
               listener_pid(urlparse(args.redis).port or 6379)]
    conn = db.connect()
    try:
        service.start("serve", "--port", str(service.port), "--workers", "2",
                      ready="serving on")
        submit(service.url, reports)
        workers = [service.start("worker", *(["--scheduler"] if n == 0 else []),
                                 ready="worker running") for n in range(count)]
        cpu = sum(cpu_seconds(w.pid) for w in workers)
        before = server_cpu(servers)
        seconds = wait(lambda: not db.busy() and db.stations(conn) == stations, 900)
        cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu
        after = server_cpu(servers)
    finally:
        conn.close()
        service.stop()
    used = [b - a if a is not None and b is not None else float("nan")
            for a, b in zip(before, after, strict=True)]
    return {"workers": count, "observations": observations, "seconds": seconds,
            "worker_cpu": cpu, "db_cpu": used[0], "redis_cpu": used[1]}


def scaling(args: argparse.Namespace, counts: list[int]) -> None:
    runs = []
    for count in counts:
        run = drain_run(args, count)
        runs.append(run)
        print(f"drain:   {count} worker(s) x {args.threads} threads: {run['observations']} "
              f"observations in {run['seconds']:.1f} s, "
              f"{run['observations'] / run['seconds']:,.0f} observations/s", flush=True)
    print(f"\n| workers | observations/s | worker CPU/obs | MariaDB CPU/obs | Redis CPU/obs "
          f"| database share | load average {os.getloadavg()[0]:.1f} |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        obs = run["observations"]
        total = run["worker_cpu"] + run["db_cpu"] + run["redis_cpu"]
        print(f"| {run['workers']} | {obs / run['seconds']:,.0f} "
              f"| {run['worker_cpu'] / obs * 1e6:.0f} us | {run['db_cpu'] / obs * 1e6:.0f} us "
              f"| {run['redis_cpu'] / obs * 1e6:.0f} us | {run['db_cpu'] / total:.0%} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=20000)
    parser.add_argument("--wifi", type=int, default=10, help="access points per report")
    parser.add_argument("--latency-reports", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2, help="task threads per worker")
    parser.add_argument("--workers", default="2",
                        help="worker processes; several (1,2,4): a drain for each")
    parser.add_argument("--db", default="mysql+pymysql://root@127.0.0.1:3306/"
                        "ichnaea_bench_pipeline")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--var", default="var/bench-pipeline")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    if counts != [2]:
        scaling(args, counts)
        return

    db = Database(args.db, args.redis)
    db.reset()
    service = Service(args.db, args.redis, Path(args.var), args.threads)
    service.command("db", "upgrade")
    service.command("apikey", "create", KEY, "--maxreq", "0")
    service.command("export", "add", "internal", "--schema", "internal", "--batch", "0")
    reports, stations = make_reports(args.reports, args.wifi, "backlog")
    observations = len(reports) * args.wifi
    conn = db.connect()
    try:
        service.start("serve", "--port", str(service.port), "--workers", "2",
                      ready="serving on")
        seconds = submit(service.url, reports)
        print(f"submit:  {len(reports)} reports ({observations} observations) in "
              f"{seconds:.1f} s through the API: {len(reports) / seconds:,.0f} reports/s")

        started = time.monotonic()
        workers = [service.start("worker", "--scheduler", ready="worker running"),
                   service.start("worker", ready="worker running")]
        up = time.monotonic() - started
        cpu = sum(cpu_seconds(w.pid) for w in workers)
        seconds = wait(lambda: not db.busy() and db.stations(conn) == stations, 600)
        cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu
        print(f"drain:   {observations} observations ({stations} stations) in {seconds:.1f} s "
              f"by 2 workers x {args.threads} threads: {observations / seconds:,.0f} "
              f"observations/s (workers took {up:.1f} s to start)")
        print(f"         worker CPU: {cpu:.1f} s, {cpu / observations * 1e6:.0f} us per "
              f"observation; load average {os.getloadavg()[0]:.1f}")

        batch, new = make_reports(args.latency_reports, args.wifi, "latency")
        before = db.stations(conn)
        marks: dict[str, float] = {}
        started = time.monotonic()
        submit(service.url, batch)
        submitted = time.monotonic() - started

        def progress() -> bool:
            done = db.stations(conn) - before
            now = time.monotonic() - started
            if done and "first" not in marks:
                marks["first"] = now
            if done * 2 >= new and "half" not in marks:
                marks["half"] = now
            return done >= new

        wait(progress, 120, poll=0.02)
        total = time.monotonic() - started
        print(f"latency: {len(batch)} reports ({len(batch) * args.wifi} observations) posted "
              f"in {submitted:.2f} s; stations in the database: first after "
              f"{marks['first']:.2f} s, half after {marks['half']:.2f} s, all after "
              f"{total:.2f} s")
    finally:
        conn.close()
        service.stop()


if __name__ == "__main__":
    main()
