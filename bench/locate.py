"""How fast the web tier answers: requests per second and latency over HTTP.

It starts ``ichnaea serve --workers 2`` on MariaDB and Redis with a table of
WiFi stations (100k by default, ``--stations 1000000`` for a million) and
runs, one after the other against the same server with the same client:

* ``GET /__lbheartbeat__``: the HTTP round trip and nothing else;
* ``POST /v1/geolocate`` with 8-15 known access points and 2 unknown ones;
* ``POST /v1/geolocate`` with cells only: a serving LTE cell and, two times
  in three, one or two neighbours of its area (as many cells in the
  ``cell_lte`` table as WiFi stations, in areas of 10);
* ``POST /v1/country`` with the same cells;
* ``GET /v1/geolocate`` with only the client's IP (GeoIP);

taking turns (``--rounds``) for ``--seconds`` each in all, with ``--clients``
concurrent connections (keep-alive, one thread each, plain sockets so that
the client costs little of the two cores it shares with the server). It
prints requests per second, the 50/95/99th percentile latency, the ratio of
WiFi locate to heartbeat requests per second, the largest resident memory of
one web worker during the WiFi turns, and the CPU time per request of the
web workers, MariaDB, Redis and the client.

The stations are written straight into the ``wifi`` table with multi-row
``INSERT``s (the pipeline would take an hour for a million); they sit in
groups of 20 within 60 m of each other around the benchmark world's cities,
as a stumbled city would, and each query asks for one group.

Usage::

    python bench/locate.py                       # 100k stations, 8 clients, 10 s per run
    python bench/locate.py --stations 1000000 --clients 8 --seconds 10

Environment: ``BENCH_LOAD_DB_URI`` (default the local MariaDB's
``ichnaea_bench_load_{stations}``, one database per size), ``BENCH_REDIS_URI``
(default Redis database 10),
``BENCH_PORT`` (default 8731). The server runs with ``LOGGING_LEVEL=WARNING``
(no log line per request).

The last two lines printed are ``locate-ratio: R``, WiFi geolocate requests
per second divided by heartbeat requests per second, and ``cell/wifi: X``,
cell geolocate requests per second divided by WiFi geolocate requests per
second: same server, same client, same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import world as world_mod  # noqa: E402

#: one database per table size, so that switching sizes does not reload
DB_URI = os.environ.get("BENCH_LOAD_DB_URI",
                        "mysql+pymysql://root@127.0.0.1:3306/ichnaea_bench_load_{stations}")
REDIS_URI = world_mod.REDIS_URI
PORT = int(os.environ.get("BENCH_PORT", "8731"))
GROUP = 20


# ---------------------------------------------------------------------------
# the station table


def group_macs(seed: int, group: int) -> list[str]:
    """The MACs of one group of stations (a pure function, so queries need no table scan)."""
    rng = random.Random(seed * 1_000_003 + group)
    return [f"{rng.getrandbits(48) & ~(0x03 << 40):012x}" for _ in range(GROUP)]


def group_centre(seed: int, group: int) -> tuple[float, float]:
    rng = random.Random(seed * 7_000_003 + group)
    _, _, _, lat, lon = world_mod.CITIES[group % len(world_mod.CITIES)]
    return (lat + rng.gauss(0, 5000) / world_mod.M_PER_DEG,
            lon + rng.gauss(0, 5000) / world_mod.M_PER_DEG / np.cos(np.radians(lat)))


def _connect(uri: str) -> Any:
    import pymysql

    from ichnaea_host.core.db import _parse_mysql

    name, options = _parse_mysql(uri)
    conn = pymysql.connect(**{k: options[k] for k in ("host", "port", "user", "password")},
                           autocommit=False)
    return name, conn


def load(db_uri: str, stations: int, seed: int, log: Any) -> None:
    """Create the database and fill the wifi table, unless it already holds this load."""
    name = f"wifi-{stations}-{seed}-one-table"
    db_name, conn = _connect(db_uri)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db_name}`")
        cur.execute(f"USE `{db_name}`")
        cur.execute("CREATE TABLE IF NOT EXISTS bench_load (name VARCHAR(64) PRIMARY KEY)")
        cur.execute("SELECT name FROM bench_load")
        row = cur.fetchone()
    world_mod.configure_env(db_uri, REDIS_URI)
    rt = world_mod.runtime()
    from ichnaea_host.core import migrate
    from ichnaea_host.core.models import ApiKeyRow

    migrate.upgrade(rt.db.rw, rt.plugins.migration_dirs)  # a table loaded by older code too
    if row and row[0] == name:
        rt.close()
        conn.close()
        return
    ApiKeyRow.insert(valid_key=world_mod.API_KEY, maxreq=0, allow_fallback=False,
                  allow_locate=True, allow_region=True, store_sample_locate=0,
                  store_sample_submit=0).on_conflict_replace().execute()
    rt.close()
    start = time.perf_counter()
    now = datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003 - naive UTC columns
    columns = ("mac, lat, lon, max_lat, min_lat, max_lon, min_lon, created, modified, "
               "radius, samples, source, weight, last_seen")
    with conn.cursor() as cur:
        cur.execute("DELETE FROM bench_load")
        cur.execute("TRUNCATE TABLE wifi")
        conn.commit()
        rng = np.random.default_rng(seed)
        groups = stations // GROUP
        batch: list[tuple[Any, ...]] = []
        for group in range(groups):
            lat0, lon0 = group_centre(seed, group)
            offsets = rng.normal(0, 30, (GROUP, 2)) / world_mod.M_PER_DEG
            radius = rng.integers(30, 150, GROUP)
            samples = rng.integers(2, 200, GROUP)
            days = rng.integers(10, 900, GROUP)
            for i, mac in enumerate(group_macs(seed, group)):
                lat, lon = lat0 + offsets[i, 0], lon0 + offsets[i, 1]
                d = radius[i] / world_mod.M_PER_DEG
                created = now - timedelta(days=int(days[i]))
                modified = now - timedelta(days=int(days[i]) // 3)
                batch.append((bytes.fromhex(mac), lat, lon, lat + d, lat - d, lon + d,
                                      lon - d, created, modified, int(radius[i]),
                                      int(samples[i]), 3, float(samples[i]),
                                      (now - timedelta(days=int(days[i]) // 6)).date()))
            if (group + 1) % 500 == 0 or group == groups - 1:
                cur.executemany(f"INSERT INTO wifi ({columns}) VALUES "
                                f"({', '.join(['%s'] * 14)})", batch)
                batch.clear()
                conn.commit()
        cur.execute("INSERT INTO bench_load (name) VALUES (%s)", (name,))
        conn.commit()
    conn.close()
    log(f"loaded {groups * GROUP} wifi stations in {time.perf_counter() - start:.0f} s")


#: cells of one area (one location area code) in the cell table
AREA = 10
#: the test network: LTE, MCC 262 (Germany), MNC 1
CELL_MCC, CELL_MNC = 262, 1


def cell_identity(group: int, index: int) -> tuple[int, int]:
    """(tracking area code, cell id) of a cell of a group (an area): pure,
    like :func:`group_macs`."""
    return 1 + group % 65000, (group // 65000) * 1000 * AREA + index + 1


def load_cells(db_uri: str, cells: int, seed: int, log: Any) -> None:
    """Fill the ``cell_lte`` table with ``cells`` cells in areas of
    :data:`AREA` around the world's cities, unless it holds them already."""
    from ichnaea_cell.cells import encode_cellid

    name = f"cell-{cells}-{seed}"
    db_name, conn = _connect(db_uri)
    with conn.cursor() as cur:
        cur.execute(f"USE `{db_name}`")
        cur.execute("CREATE TABLE IF NOT EXISTS bench_load_cells (name VARCHAR(64) PRIMARY KEY)")
        cur.execute("SELECT name FROM bench_load_cells")
        row = cur.fetchone()
    if row and row[0] == name:
        conn.close()
        return
    start = time.perf_counter()
    now = datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003 - naive UTC columns
    columns = ("cellid, radio, mcc, mnc, lac, cid, lat, lon, max_lat, min_lat, max_lon, "
               "min_lon, created, modified, radius, samples, source, weight, last_seen")
    with conn.cursor() as cur:
        cur.execute("DELETE FROM bench_load_cells")
        cur.execute("TRUNCATE TABLE cell_lte")
        conn.commit()
        rng = np.random.default_rng(seed + 2)
        groups = cells // AREA
        batch: list[tuple[Any, ...]] = []
        for group in range(groups):
            lat0, lon0 = group_centre(seed + 2, group)
            offsets = rng.normal(0, 1500, (AREA, 2)) / world_mod.M_PER_DEG
            radius = rng.integers(500, 5000, AREA)
            samples = rng.integers(2, 2000, AREA)
            days = rng.integers(10, 900, AREA)
            for i in range(AREA):
                lac, cid = cell_identity(group, i)
                lat, lon = lat0 + offsets[i, 0], lon0 + offsets[i, 1]
                d = radius[i] / world_mod.M_PER_DEG
                created = now - timedelta(days=int(days[i]))
                batch.append((encode_cellid("lte", CELL_MCC, CELL_MNC, lac, cid), 3,
                              CELL_MCC, CELL_MNC, lac, cid, lat, lon, lat + d, lat - d,
                              lon + d, lon - d, created,
                              now - timedelta(days=int(days[i]) // 3), int(radius[i]),
                              int(samples[i]), 3, float(samples[i]),
                              (now - timedelta(days=int(days[i]) // 6)).date()))
            if (group + 1) % 200 == 0 or group == groups - 1:
                cur.executemany(f"INSERT INTO cell_lte ({columns}) VALUES "
                                f"({', '.join(['%s'] * 19)})", batch)
                batch.clear()
                conn.commit()
        cur.execute("INSERT INTO bench_load_cells (name) VALUES (%s)", (name,))
        conn.commit()
    conn.close()
    log(f"loaded {groups * AREA} LTE cells in {time.perf_counter() - start:.0f} s")


def memory_fit(db_uri: str) -> tuple[float, float]:
    """MiB of MariaDB's buffer pool and of the wifi table with its indexes."""
    db_name, conn = _connect(db_uri)
    with conn.cursor() as cur:
        cur.execute("SELECT @@innodb_buffer_pool_size")
        pool = cur.fetchone()[0]
        cur.execute("SELECT data_length + index_length FROM information_schema.tables "
                    "WHERE table_schema = %s AND table_name = 'wifi'", (db_name,))
        row = cur.fetchone()
    conn.close()
    return int(pool) / 2**20, (int(row[0]) if row else 0) / 2**20


# ---------------------------------------------------------------------------
# requests


def request(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
            ) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def wifi_requests(stations: int, seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed + 1)
    out = []
    for _ in range(count):
        group = rng.randrange(stations // GROUP)
        macs = rng.sample(group_macs(seed, group), rng.randint(8, 15))
        macs += [f"{rng.getrandbits(48) & ~(0x03 << 40):012x}" for _ in range(2)]
        body = {"considerIp": False, "wifiAccessPoints": [
            {"macAddress": ":".join(m[i:i + 2] for i in range(0, 12, 2)),
             "signalStrength": rng.randint(-95, -45)} for m in macs]}
        out.append(request("POST", f"/v1/geolocate?key={world_mod.API_KEY}", body))
    return out


def cell_requests(cells: int, seed: int, count: int, path: str) -> list[bytes]:
    """Cell-only queries: a serving cell with a signal and, two times in
    three, one or two neighbours of its area; ``path``: the endpoint."""
    rng = random.Random(seed + 3)
    out = []
    for _ in range(count):
        group = rng.randrange(cells // AREA)
        chosen = rng.sample(range(AREA), 1 + rng.choice((0, 1, 2)))
        towers = []
        for n, index in enumerate(chosen):
            lac, cid = cell_identity(group, index)
            towers.append({"radioType": "lte", "mobileCountryCode": CELL_MCC,
                           "mobileNetworkCode": CELL_MNC, "locationAreaCode": lac,
                           "cellId": cid, "signalStrength": rng.randint(-115, -70),
                           "serving": 1 if n == 0 else 0})
        body = {"considerIp": False, "cellTowers": towers}
        out.append(request("POST", f"{path}?key={world_mod.API_KEY}", body))
    return out


def geoip_requests(count: int) -> list[bytes]:
    rng = random.Random(5)
    cities = len(world_mod.CITIES[: world_mod.Params.cities])
    out = []
    for _ in range(count):
        ip = f"45.{rng.randrange(cities)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        out.append(request("GET", f"/v1/geolocate?key={world_mod.API_KEY}",
                           headers={"X-Forwarded-For": ip}))
    return out


class Connection:
    """One keep-alive HTTP/1.1 connection that reads just enough of each answer."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def ask(self, data: bytes) -> int:
        self.sock.sendall(data)
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return status

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk

    def _read(self) -> None:
        self.buffer += self._recv()

    def close(self) -> None:
        self.sock.close()


def run_load(port: int, requests: list[bytes], clients: int, seconds: float,
             warmup: float = 1.0, ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
    """``clients`` threads asking in a loop; latencies of the requests after the warm-up."""
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def client(index: int) -> None:
        conn = Connection(port)
        i = index
        try:
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    break
                status = conn.ask(requests[i % len(requests)])
                done = time.perf_counter()
                i += clients
                if sent >= measure_from:
                    latencies[index].append(done - sent)
                    if status not in ok:
                        errors[index] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies_ms": [1000 * x for lat in latencies for x in lat],
            "errors": sum(errors), "seconds": seconds}


def combine(parts: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Requests per second and latency percentiles over the slices of one scenario."""
    all_ms = np.array([x for part in parts for x in part["latencies_ms"]])
    return {
        "requests": len(all_ms),
        "errors": sum(part["errors"] for part in parts),
        "rps": len(all_ms) / seconds,
        "p50_ms": float(np.percentile(all_ms, 50)),
        "p95_ms": float(np.percentile(all_ms, 95)),
        "p99_ms": float(np.percentile(all_ms, 99)),
    }


# ---------------------------------------------------------------------------
# the server


def start_server(db_uri: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    world_mod.configure_env(db_uri, REDIS_URI)
    for name in ("DB_READWRITE_URI", "DB_READONLY_URI", "REDIS_URI", "ICHNAEA_VAR_DIR",
                 "GEOIP_PATH", "ICHNAEA_LOCATE_LIMIT_IP", "ICHNAEA_LOCATE_LIMIT_PREFIX"):
        env[name] = os.environ[name]
    env["LOGGING_LEVEL"] = "WARNING"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "ichnaea"), "serve", "--workers", "2", "--port",
         str(port), "--host", "127.0.0.1"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = Connection(port)
            ok = conn.ask(request("GET", "/__lbheartbeat__")) == 200
            conn.close()
            if ok:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    errors = server.stderr.read().decode() if server.stderr else ""
    raise RuntimeError("the server did not start: " + errors[-2000:])


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def find_process(comm: tuple[str, ...], cmdline: str = "") -> int | None:
    """The first process with one of these names (and this text in its command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in comm and \
                    cmdline in (entry / "cmdline").read_text().replace("\0", " "):
                return int(entry.name)
        except OSError:
            continue
    return None


class CpuWatch:
    """CPU seconds used by the web workers, the database, Redis and this client."""

    def __init__(self, server: int) -> None:
        redis_port = REDIS_URI.rsplit(":", 1)[-1].split("/")[0]
        self.pids = {"web workers": children(server),
                     "MariaDB": find_process(("mariadbd", "mysqld")),
                     "Redis": find_process(("redis-server",), f":{redis_port}"),
                     "client": os.getpid()}
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        out = {}
        for name, pids in self.pids.items():
            total = 0.0
            for pid in pids if isinstance(pids, list) else [pids]:
                try:
                    total += cpu_seconds(pid) if pid else 0.0
                except OSError:
                    pass
            out[name] = total
        return out

    def used(self) -> dict[str, float]:
        end = self._read()
        return {name: end[name] - self.start[name] for name in end}


class MemoryWatch:
    """The largest resident memory of any web worker, sampled every 0.2 s."""

    def __init__(self, parent: int) -> None:
        self.parent = parent
        self.peak = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while self.running:
            for pid in children(self.parent):
                try:
                    self.peak = max(self.peak, rss_mib(pid))
                except OSError:
                    pass
            time.sleep(0.2)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=12.0,
                        help="measured seconds per kind of request, over all rounds")
    parser.add_argument("--rounds", type=int, default=4,
                        help="the kinds of request take turns this many times")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    db_uri = DB_URI.format(stations=args.stations)
    load(db_uri, args.stations, args.seed, log)
    load_cells(db_uri, args.stations, args.seed, log)
    pool_mib, table_mib = memory_fit(db_uri)
    print(f"MariaDB buffer pool {pool_mib:.0f} MiB, wifi table {table_mib:.0f} MiB "
          "(data and indexes)" + (": the table does not fit, lookups read from disk"
                                  if table_mib > pool_mib else ""))
    world = world_mod.build(world_mod.Params())
    world_mod.write_geoip(world, world_mod.VAR_DIR / "world-geoip.mmdb")
    server = start_server(db_uri, PORT)
    try:
        runs = {}
        scenarios = [
            ("heartbeat", [request("GET", "/__lbheartbeat__")]),
            ("wifi", wifi_requests(args.stations, args.seed, 5000)),
            ("cell", cell_requests(args.stations, args.seed, 5000, "/v1/geolocate")),
            ("country", cell_requests(args.stations, args.seed, 2000, "/v1/country")),
            ("geoip", geoip_requests(2000)),
        ]
        # warm every worker's caches (API key, GeoIP reader, connections) first
        run_load(PORT, [r for _, requests in scenarios[1:] for r in requests[:100]],
                 args.clients, 2.0, 0.0)
        # the scenarios take turns, so that a change in the machine's load hits them alike
        slices: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in scenarios}
        cpu: dict[str, dict[str, float]] = {name: {} for name, _ in scenarios}
        rss: dict[str, float] = {name: 0.0 for name, _ in scenarios}
        for _ in range(args.rounds):
            for name, requests in scenarios:
                watch, cpu_watch = MemoryWatch(server.pid), CpuWatch(server.pid)
                slices[name].append(run_load(PORT, requests, args.clients,
                                             args.seconds / args.rounds, warmup=0.5))
                for part, seconds in cpu_watch.used().items():
                    cpu[name][part] = cpu[name].get(part, 0.0) + seconds
                rss[name] = max(rss[name], watch.stop())
        for name, parts in slices.items():
            runs[name] = combine(parts, args.seconds)
            runs[name]["worker_rss_mib"] = rss[name]
            runs[name]["cpu_ms_per_request"] = {
                part: 1000 * seconds / max(runs[name]["requests"], 1)
                for part, seconds in cpu[name].items()}
            log(f"{name}: {runs[name]}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    ratio = runs["wifi"]["rps"] / runs["heartbeat"]["rps"]
    cell_ratio = runs["cell"]["rps"] / runs["wifi"]["rps"]
    head = f"{'request':<12} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(f"{args.stations} wifi stations and as many LTE cells, {args.clients} clients, "
          f"{args.seconds:.0f} s per kind of request in {args.rounds} turns, "
          f"ichnaea serve --workers 2 (MariaDB, Redis) on {os.cpu_count()} cores")
    print(head)
    print("-" * len(head))
    for name, r in runs.items():
        print(f"{name:<12} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['errors']:>7}")
    print(f"wifi / heartbeat requests per second: {ratio:.2f}")
    print(f"largest web worker RSS under wifi load: {runs['wifi']['worker_rss_mib']:.1f} MiB")
    print("CPU ms per request (MariaDB and Redis are shared with whatever else runs): "
          + "; ".join(f"{name}: " + ", ".join(f"{part} {ms:.2f}" for part, ms in
                                              r["cpu_ms_per_request"].items())
                      for name, r in runs.items()))
    if args.json:
        args.json.write_text(json.dumps({"stations": args.stations, "clients": args.clients,
                                         "runs": runs, "ratio": ratio,
                                         "cell_ratio": cell_ratio}, indent=2))
    print(f"locate-ratio: {ratio:.3f}")
    print(f"cell/wifi: {cell_ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
