"""Web site latency (issue 9): ``python bench/pages.py [--requests 200]``.

Fills the statistics tables of a database of its own (a year of daily
``stat`` rows for every network kind, ~250 ``region_stat`` rows), puts a
month of export files into the exports folder, starts ``ichnaea serve``
(one worker) and asks every cached page and JSON endpoint of the site
(:mod:`ichnaea_host.site.views`) N times over one keep-alive connection,
after one warming request each (the site's Redis cache filled). Prints
p50/p95/max per path. Goal: p95 under 20 ms.

Environment: ``BENCH_PAGES_DB_URI`` (default
``mysql+pymysql://root@127.0.0.1:3306/ichnaea_bench_pages``),
``BENCH_PAGES_REDIS_URI`` (default ``redis://127.0.0.1:6379/14``),
``BENCH_PAGES_PORT`` (default 8733).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
VAR = HERE / "var" / "pages"
DB_URI = os.environ.get("BENCH_PAGES_DB_URI",
                        "mysql+pymysql://root@127.0.0.1:3306/ichnaea_bench_pages")
REDIS_URI = os.environ.get("BENCH_PAGES_REDIS_URI", "redis://127.0.0.1:6379/14")
PORT = int(os.environ.get("BENCH_PAGES_PORT", "8733"))
PAGES = ("/", "/api", "/contact", "/optout", "/privacy", "/terms", "/map", "/map.json",
         "/stats", "/stats/regions", "/downloads", "/robots.txt", "/favicon.ico",
         "/apple-touch-icon-precomposed.png", "/static/datamap/tiles/0/0/0.png")


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.update(DB_READWRITE_URI=DB_URI, DB_READONLY_URI=DB_URI, REDIS_URI=REDIS_URI,
               ICHNAEA_VAR_DIR=str(VAR), LOGGING_LEVEL="WARNING")
    return out


def ichnaea_path() -> str:
    return str(Path(sys.executable).parent / "ichnaea")


def connect(database: bool = True) -> tuple[str, Any]:
    import pymysql

    from ichnaea_host.core.db import _parse_mysql

    name, options = _parse_mysql(DB_URI)
    kwargs = {k: options[k] for k in ("host", "port", "user", "password")}
    if database:
        kwargs["database"] = name
    return name, pymysql.connect(**kwargs)


def fill(rng: Any) -> list[str]:
    """Fresh database with full stats tables; the stats JSON paths of the kinds."""
    name, conn = connect(database=False)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    import redis

    redis.Redis.from_url(REDIS_URI).flushdb()
    subprocess.run([ichnaea_path(), "db", "upgrade"], env=env(), check=True,
                   capture_output=True)

    os.environ.update(env())
    from ichnaea_cell.mcc import mcc_table
    from ichnaea_host.plugins.runtime import Runtime
    from ichnaea_host.site import data

    rt = Runtime()
    kinds = data.kinds(rt)
    keys = sorted({k for kind in kinds for k in (kind.observations_key, kind.stations_key)})
    today = datetime.utcnow().date()  # noqa: DTZ003
    stat_rows = []
    for key in keys:
        total = int(rng.integers(10_000, 1_000_000))
        for day in range(400, -1, -1):
            total += int(rng.integers(100, 5_000))
            stat_rows.append((key, today - timedelta(days=day), total))
    codes = sorted({c for codes in mcc_table().values() for c in codes})
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    extra = (a + b for a in letters for b in letters)
    while len(codes) < 250:
        code = next(extra)
        if code not in codes:
            codes.append(code)
    region_kinds = ("gsm", "wcdma", "lte", "blue", "wifi")
    region_rows = [(code, kind, int(count)) for code in codes
                   for kind, count in zip(region_kinds, rng.integers(0, 2_000_000, 5),
                                          strict=True)]
    _, conn = connect()
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO stat (`key`, time, value) VALUES (%s, %s, %s)", stat_rows)
        cur.executemany("INSERT INTO region_stat (region, kind, count) VALUES (%s, %s, %s)",
                        region_rows)
    conn.commit()
    conn.close()
    print(f"filled {len(stat_rows)} stat rows ({len(keys)} keys), "
          f"{len(codes)} regions in region_stat")

    exports = VAR / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    now = datetime.utcnow().replace(minute=0, second=0, microsecond=0)  # noqa: DTZ003
    names = [f"MLS-full-cell-export-{today - timedelta(days=d):%Y-%m-%d}T000000.csv.gz"
             for d in range(30)]
    names += [f"MLS-diff-cell-export-{now - timedelta(hours=h):%Y-%m-%dT%H}0000.csv.gz"
              for h in range(48)]
    for file_name in names:
        with gzip.open(exports / file_name, "wb") as f:
            f.write(b"radio,mcc\r\n")
    return [f"/stats_{kind.name}.json" for kind in kinds]


def start_server() -> subprocess.Popen[bytes]:
    server = subprocess.Popen([ichnaea_path(), "serve", "--workers", "1", "--port", str(PORT),
                               "--host", "127.0.0.1"], env=env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            conn.request("GET", "/__lbheartbeat__")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not start: " + server.stderr.read().decode()[-2000:])


def measure(path: str, count: int) -> tuple[int, int, list[float]]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    conn.request("GET", path)
    first = conn.getresponse()
    size = len(first.read())
    times = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return first.status, size, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    VAR.mkdir(parents=True, exist_ok=True)
    json_paths = fill(np.random.default_rng(5))
    server = start_server()
    worst = 0.0
    try:
        print(f"{'path':40} status   bytes   p50 ms   p95 ms   max ms")
        for path in (*PAGES, *json_paths):
            status, size, times = measure(path, args.requests)
            p50, p95 = np.percentile(times, [50, 95])
            worst = max(worst, float(p95))
            print(f"{path:40} {status:6} {size:7} {p50:8.2f} {p95:8.2f} {max(times):8.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"worst p95: {worst:.2f} ms (goal < 20 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
