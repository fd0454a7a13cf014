"""Cell import and export speed (issue 9): ``python bench/import.py [--rows N]``.

Generates a public cell export file of N rows (default 1,000,000) in the
original service's format (gzipped CSV, CRLF lines, the header of
:mod:`ichnaea_cell.export`), imports it with ``ichnaea cells import FILE``
into a database of its own (dropped and rebuilt, then ``ichnaea db
upgrade``), and times ``ichnaea cells export --full --output DIR`` on the
same cells. Goals: import at least 30,000 rows/s, export of 1M cells under
30 s. Besides the wall times it prints the CPU time per row of each command
and of the local MariaDB server (from ``/proc``; the server's figure counts
whatever else it served meanwhile).

Environment: ``BENCH_IMPORT_DB_URI`` (default
``mysql+pymysql://root@127.0.0.1:3306/ichnaea_bench_import``),
``BENCH_IMPORT_REDIS_URI`` (default ``redis://127.0.0.1:6379/12``).
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
VAR = HERE / "var" / "import"
DB_URI = os.environ.get("BENCH_IMPORT_DB_URI",
                        "mysql+pymysql://root@127.0.0.1:3306/ichnaea_bench_import")
REDIS_URI = os.environ.get("BENCH_IMPORT_REDIS_URI", "redis://127.0.0.1:6379/12")
HEADER = ("radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,"
          "created,updated,averageSignal")
#: (label, share of rows, largest psc)
RADIOS = (("GSM", 0.30, 511), ("UMTS", 0.20, 511), ("LTE", 0.45, 503), ("NR", 0.05, 1007))
#: city centres (lat, lon) with their country code
CITIES = ((52.52, 13.40, 262), (48.86, 2.35, 208), (51.51, -0.13, 234), (40.71, -74.01, 310),
          (34.05, -118.24, 310), (35.68, 139.69, 440), (-23.55, -46.63, 724),
          (19.43, -99.13, 334), (28.61, 77.21, 404), (-33.87, 151.21, 505),
          (55.76, 37.62, 250), (6.52, 3.38, 621))


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.update(DB_READWRITE_URI=DB_URI, DB_READONLY_URI=DB_URI, REDIS_URI=REDIS_URI,
               ICHNAEA_VAR_DIR=str(VAR), LOGGING_LEVEL="WARNING")
    return out


def ichnaea(*args: str, rows: int = 0) -> float:
    """Run one ``ichnaea`` command; its wall time in seconds. With ``rows``,
    also prints the CPU time per row of the command and of the database
    server (the server's includes whatever else it served meanwhile)."""
    server = server_cpu()
    ours = children_cpu()
    start = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "ichnaea"), *args], env=env(),
                          capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    ours = children_cpu() - ours
    server = server_cpu() - server
    if done.returncode:
        raise SystemExit(f"ichnaea {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    for line in done.stdout.strip().splitlines()[-3:]:
        print(f"  $ ichnaea {' '.join(args)}: {line}")
    print(f"    (load average {load()} at the end; the figures depend on it)")
    if rows:
        print(f"    CPU per row: ichnaea {ours / rows * 1e6:.1f} us, "
              f"MariaDB {server / rows * 1e6:.1f} us (CPU seconds {ours:.1f} and {server:.1f})")
    return took


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def server_cpu() -> float:
    """CPU seconds of the local MariaDB server so far (0 when it cannot be read)."""
    try:
        pid = Path("/run/mysqld/mysqld.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    """The machine's 1-minute load average (the timings share the CPUs)."""
    return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def fresh_database() -> int:
    """Drop and create the database; return the server's InnoDB buffer pool in MiB."""
    import pymysql

    from ichnaea_host.core.db import _parse_mysql

    name, options = _parse_mysql(DB_URI)
    conn: Any = pymysql.connect(**{k: options[k] for k in ("host", "port", "user", "password")})
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cur.execute("SELECT @@innodb_buffer_pool_size")
        pool_mib = int(cur.fetchone()[0]) // 2**20
    conn.close()
    import redis

    redis.Redis.from_url(REDIS_URI).flushdb()
    return pool_mib


def generate(path: Path, rows: int, seed: int = 9) -> None:
    """N distinct cells around the cities, modified within the last 300 days."""
    rng = np.random.default_rng(seed)
    now = calendar.timegm(datetime.utcnow().timetuple())  # noqa: DTZ003
    city = rng.integers(0, len(CITIES), rows)
    centres = np.array(CITIES, dtype=float)
    lat = centres[city, 0] + rng.normal(0, 0.15, rows)
    lon = centres[city, 1] + rng.normal(0, 0.2, rows)
    mcc = centres[city, 2].astype(int)
    mnc = rng.integers(1, 5, rows)
    radio = rng.choice(len(RADIOS), rows, p=[r[1] for r in RADIOS])
    # distinct identities: a running number split into area and cell
    serial = np.arange(rows)
    lac = 1 + serial % 60000
    cid = 1 + serial // 60000 + 1000 * rng.integers(0, 1000, rows)
    psc = rng.integers(0, 504, rows)
    radius = rng.integers(100, 5000, rows)
    samples = rng.integers(1, 500, rows)
    updated = now - rng.integers(3600, 300 * 86400, rows)
    created = updated - rng.integers(0, 3 * 365 * 86400, rows)
    labels = [r[0] for r in RADIOS]
    with gzip.open(path, "wb", compresslevel=5) as out:
        buf = [HEADER + "\r\n"]
        for i in range(rows):
            buf.append(f"{labels[radio[i]]},{mcc[i]},{mnc[i]},{lac[i]},{cid[i]},{psc[i]},"
                       f"{lon[i]:.7f},{lat[i]:.7f},{radius[i]},{samples[i]},1,"
                       f"{created[i]},{updated[i]},\r\n")
            if len(buf) >= 20000:
                out.write("".join(buf).encode())
                buf = []
        out.write("".join(buf).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=None,
                        help="the import's --writers (default: the command's own)")
    args = parser.parse_args(argv)
    VAR.mkdir(parents=True, exist_ok=True)
    source = VAR / f"cells-{args.rows}.csv.gz"
    if not source.is_file():
        start = time.perf_counter()
        generate(source, args.rows)
        print(f"generated {args.rows} rows in {time.perf_counter() - start:.1f} s "
              f"({source.stat().st_size / 1e6:.1f} MB)")
    pool_mib = fresh_database()
    # the table's indexes must fit the buffer pool, or the import waits on the disk
    print(f"MariaDB innodb_buffer_pool_size: {pool_mib} MiB")
    ichnaea("db", "upgrade")
    print(f"load average {load()} before the import")

    writers = [] if args.writers is None else ["--writers", str(args.writers)]
    took = ichnaea("cells", "import", str(source), *writers, rows=args.rows)
    print(f"import: {args.rows} rows in {took:.1f} s = {args.rows / took:,.0f} rows/s "
          f"(goal >= 30,000 rows/s)")

    out = VAR / "export"
    shutil.rmtree(out, ignore_errors=True)
    took = ichnaea("cells", "export", "--full", "--output", str(out), rows=args.rows)
    files = list(out.glob("*.csv.gz"))
    with gzip.open(files[0], "rt") as f:
        written = sum(1 for _ in f) - 1
    print(f"export: {written} rows in {took:.1f} s = {written / took:,.0f} rows/s; "
          f"1M rows ~ {1_000_000 / (written / took):.1f} s (goal < 30 s)")
    if written != args.rows:
        print(f"  note: {args.rows} rows generated, {written} exported")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
