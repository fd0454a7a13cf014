"""Coverage tile rendering speed (issue 9): ``python bench/tiles.py [--cells N]``.

Fills the datamap tables (``datamap_ne|nw|se|sw``) of a database of its own
with N grid cells (default 1,000,000; clustered around city centres like
real data, seen over the last year) by bulk insert, times a full ``ichnaea
map render --full --output DIR``, then adds one day's new cells (default
2,000 around a few cities, seen today) and times an incremental run. Goals:
full under 60 s, incremental under 10 s.

Environment: ``BENCH_TILES_DB_URI`` (default
``mysql+pymysql://root@127.0.0.1:3306/ichnaea_bench_tiles``),
``BENCH_TILES_REDIS_URI`` (default ``redis://127.0.0.1:6379/13``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
VAR = HERE / "var" / "tiles"
DB_URI = os.environ.get("BENCH_TILES_DB_URI",
                        "mysql+pymysql://root@127.0.0.1:3306/ichnaea_bench_tiles")
REDIS_URI = os.environ.get("BENCH_TILES_REDIS_URI", "redis://127.0.0.1:6379/13")
#: (lat, lon, weight): cities of all sizes on every continent
CITIES = ((52.52, 13.40, 3), (48.86, 2.35, 3), (51.51, -0.13, 4), (40.71, -74.01, 5),
          (34.05, -118.24, 4), (41.88, -87.63, 3), (35.68, 139.69, 5), (37.57, 126.98, 3),
          (-23.55, -46.63, 3), (19.43, -99.13, 3), (28.61, 77.21, 2), (-33.87, 151.21, 2),
          (55.76, 37.62, 2), (6.52, 3.38, 1), (30.04, 31.24, 1), (-34.60, -58.38, 2),
          (45.46, 9.19, 2), (40.42, -3.70, 2), (59.33, 18.07, 1), (1.35, 103.82, 2),
          (-26.20, 28.05, 1), (43.65, -79.38, 2), (49.28, -123.12, 1), (50.08, 14.44, 1))


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.update(DB_READWRITE_URI=DB_URI, DB_READONLY_URI=DB_URI, REDIS_URI=REDIS_URI,
               ICHNAEA_VAR_DIR=str(VAR), LOGGING_LEVEL="WARNING")
    return out


def ichnaea(*args: str) -> float:
    """Run the command; print its last line, its CPU time and the load average."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "ichnaea"), *args], env=env(),
                          capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"ichnaea {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"  $ ichnaea {' '.join(args)}: {(done.stdout.strip().splitlines() or [''])[-1]}")
    print(f"    {took:.1f} s wall, {cpu:.1f} s CPU (user + sys), load average {load}")
    return took


def connect(database: bool = True) -> tuple[str, Any]:
    import pymysql

    from ichnaea_host.core.db import _parse_mysql

    name, options = _parse_mysql(DB_URI)
    kwargs = {k: options[k] for k in ("host", "port", "user", "password")}
    if database:
        kwargs["database"] = name
    return name, pymysql.connect(**kwargs)


def fresh_database() -> None:
    name, conn = connect(database=False)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    import redis

    redis.Redis.from_url(REDIS_URI).flushdb()
    ichnaea("db", "upgrade")


def grid_cells(rng: Any, count: int, cities: Any) -> tuple[Any, Any]:
    """``count`` distinct scaled (lat, lon) cells: dense cores, wider suburbs, roads."""
    weights = np.array([c[2] for c in cities], dtype=float)
    lat_all, lon_all = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    while len(lat_all) < count:
        n = int((count - len(lat_all)) * 1.3) + 100
        city = rng.choice(len(cities), n, p=weights / weights.sum())
        spread = rng.choice([0.05, 0.2, 0.8], n, p=[0.5, 0.35, 0.15])
        lat = np.array([c[0] for c in cities])[city] + rng.normal(0, 1, n) * spread
        lon = np.array([c[1] for c in cities])[city] + rng.normal(0, 1, n) * spread * 1.4
        lat_all = np.concatenate([lat_all, np.rint(np.clip(lat, -85, 85) * 1000).astype(np.int64)])
        lon_all = np.concatenate([lon_all, np.rint(np.clip(lon, -180, 180) * 1000)
                                  .astype(np.int64)])
        packed = np.unique((lat_all + 90000) * 1_000_000 + (lon_all + 180000))
        lat_all, lon_all = packed // 1_000_000 - 90000, packed % 1_000_000 - 180000
    pick = rng.permutation(len(lat_all))[:count]
    return lat_all[pick], lon_all[pick]


def insert(conn: Any, lat: Any, lon: Any, created: list[date], modified: list[date],
           ignore: bool = False) -> None:
    from ichnaea_host.pipeline import datamap

    rows: dict[str, list[tuple[bytes, date, date]]] = {s: [] for s in datamap.SHARDS}
    for la, lo, c, m in zip(lat.tolist(), lon.tolist(), created, modified, strict=True):
        rows[datamap.shard_of(la, lo)].append((datamap.encode(la, lo), c, m))
    verb = "INSERT IGNORE" if ignore else "INSERT"
    with conn.cursor() as cur:
        for shard, values in rows.items():
            for i in range(0, len(values), 10_000):
                cur.executemany(f"{verb} INTO datamap_{shard} (grid, created, modified) "
                                "VALUES (%s, %s, %s)", values[i:i + 10_000])
    conn.commit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=2_000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(11)
    today = datetime.utcnow().date()  # noqa: DTZ003 - the datamap's days are UTC days
    VAR.mkdir(parents=True, exist_ok=True)
    fresh_database()
    _, conn = connect()

    start = time.perf_counter()
    lat, lon = grid_cells(rng, args.cells, CITIES)
    age = rng.integers(1, 365, len(lat))
    modified = [today - timedelta(days=int(a)) for a in age]
    created = [m - timedelta(days=int(d)) for m, d in
               zip(modified, rng.integers(0, 200, len(lat)).tolist(), strict=True)]
    insert(conn, lat, lon, created, modified)
    print(f"inserted {len(lat)} grid cells in {time.perf_counter() - start:.1f} s")

    out = VAR / "tiles"
    shutil.rmtree(out, ignore_errors=True)
    out.with_name(out.name + ".grid.npz").unlink(missing_ok=True)  # the renderer's snapshot
    full = ichnaea("map", "render", "--full", "--output", str(out))
    print(f"full render of {len(lat)} cells: {full:.1f} s (goal < 60 s)")

    # one day's new cells around a few cities (some of them already known)
    lat2, lon2 = grid_cells(rng, args.new, CITIES[:4])
    insert(conn, lat2, lon2, [today] * len(lat2), [today] * len(lat2), ignore=True)
    incremental = ichnaea("map", "render", "--output", str(out))
    print(f"incremental render after {len(lat2)} new cells: {incremental:.1f} s (goal < 10 s)")
    conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
