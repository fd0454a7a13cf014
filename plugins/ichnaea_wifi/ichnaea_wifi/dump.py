"""The WiFi dump: a daily gzipped CSV of the learnt networks for offline
use, in which no address (BSSID) appears in clear.

Each row is one network, keyed by a hash of its address and the short hash
of the name (SSID) it was last seen with (:mod:`.ssid`), so that only someone
who sees the network (and so knows both) can find it::

    key,lat,lon,radius
    0f3a...(32 hex digits),46.951234,7.440000,42

* ``key``: ``SHA-256(BSSID bytes + SHA-256(SSID)[:4])[:16]`` in lowercase hex,
  the BSSID's 6 bytes, the SSID's UTF-8 bytes as the network sends it;
* ``lat``, ``lon``: the network's learnt position, 6 decimals;
* ``radius``: metres around it within which it was seen (0: unknown).

Rows are sorted by key (no order of addresses shows through), lines end in
``\\n``. The networks written: those with a position, not blocked (a network
that moved), with a name hash (seen with a name since migration 004) and
seen in the last ``ICHNAEA_WIFI__DUMP_DAYS`` days; networks whose owner opted
out (``_nomap``, ``_optout``) are never in the table. The file is named
``wifi-dump-YYYY-MM-DD.csv.gz`` after the day it was made, written at 01:07
UTC when ``ICHNAEA_WIFI__DUMP`` is on, to the exports folder or
``ASSET_BUCKET`` under ``export/`` (as the cell export), and listed on the
site's /downloads page (:func:`download_section`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from ichnaea_host import (
    CommandContext,
    DownloadSection,
    HostContext,
    export_exists,
    get_logger,
    is_blocked,
    publish_export,
    utcnow,
)

from .models import MODEL
from .settings import WifiSettings
from .ssid import key_from_hash

log = get_logger("ichnaea.wifi")

HEADER = "key,lat,lon,radius"
PREFIX = "wifi-dump-"
PATTERN = f"{PREFIX}*.csv.gz"
PAGE = 10000
GZIP_LEVEL = 6
#: time of day (UTC) the daily dump is due
DUMP_TIME = (1, 7)
JOB_NAME = "wifi_dump"
#: how often the scheduler lets the job look at the clock, in seconds
INTERVAL = 300.0
#: lines of one key prefix held before they go to their temporary file
BUCKET_LINES = 1000


def dump_name(day: date) -> str:
    return f"{PREFIX}{day:%Y-%m-%d}.csv.gz"


def download_section() -> DownloadSection:
    return DownloadSection(
        name="wifi-dump", title="WiFi Networks", pattern=PATTERN,
        text="An access point's address (BSSID) with its position can be personal data, so "
             "no address is published in clear. The daily WiFi dump lists the learnt "
             "networks by a key computed from a network's address and its name (SSID) "
             "together, with their position and radius: only someone who sees a network "
             "can look it up. Networks whose owner opted out are never in it.",
        empty="No WiFi dump published.")


# ---------------------------------------------------------------------------
# reading the stations


class _Row(NamedTuple):
    mac: str
    ssid_hash: str
    lat: float
    lon: float
    radius: int | None
    created: datetime | None
    block_last: date | None
    block_count: int | None


def _where(db: Any, since: date) -> tuple[str, list[Any]]:
    return ("lat IS NOT NULL AND lon IS NOT NULL AND ssid_hash IS NOT NULL "
            f"AND last_seen >= {db.param}", [since.isoformat()])


def _table(db: Any) -> str:
    return f"{db.quote[0]}{MODEL._meta.table_name}{db.quote[1]}"


def dump_size(since: date) -> int:
    """How many stations :func:`dump_lines` reads (for a progress bar); the
    blocked ones among them are not written."""
    db = MODEL._meta.database
    where, params = _where(db, since)
    return int(db.execute_sql(f"SELECT COUNT(*) FROM {_table(db)} WHERE {where}",
                              params).fetchone()[0])


def _datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _date(value: Any) -> date | None:
    if value is None or type(value) is date:
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def station_pages(since: date, page: int = PAGE) -> Iterator[list[_Row]]:
    """The stations a dump may hold, ``page`` rows at a time in key order
    (each page starts after the last key of the one before)."""
    db = MODEL._meta.database
    where, params = _where(db, since)
    sql = (f"SELECT LOWER(HEX(mac)), LOWER(HEX(ssid_hash)), lat, lon, radius, created, "
           f"block_last, block_count FROM {_table(db)} WHERE {where} AND mac > {db.param} "
           f"ORDER BY mac LIMIT {int(page)}")
    last = b""
    while True:
        rows = db.execute_sql(sql, [*params, last]).fetchall()
        yield [_Row(mac, short, float(lat), float(lon), radius, _datetime(created),
                    _date(block_last), block_count)
               for mac, short, lat, lon, radius, created, block_last, block_count in rows]
        if len(rows) < page:
            return
        last = bytes.fromhex(rows[-1][0])


def dump_lines(today: date, days: int, progress: Callable[[int], Any] | None = None,
               page: int = PAGE) -> Iterator[str]:
    """The rows of the dump, sorted by key.

    The stations come in address order; each row goes to the bucket of its
    key's first two hex digits (a temporary file once it holds
    :data:`BUCKET_LINES`), and the buckets are sorted one at a time, so the
    memory used is a 256th of the dump's. ``progress`` is told of every page
    of stations read."""
    since = today - timedelta(days=days)
    with tempfile.TemporaryDirectory(prefix="wifi-dump-") as tmp:
        folder = Path(tmp)
        held: dict[str, list[str]] = {}
        spilled: set[str] = set()

        def spill(prefix: str, lines: list[str]) -> None:
            with open(folder / prefix, "a", encoding="ascii") as f:
                f.write("\n".join(lines) + "\n")
            spilled.add(prefix)

        for rows in station_pages(since, page):
            for row in rows:
                if is_blocked(row, today):
                    continue
                key = key_from_hash(row.mac, row.ssid_hash)
                line = f"{key},{row.lat:.6f},{row.lon:.6f},{row.radius or 0}"
                bucket = held.setdefault(key[:2], [])
                bucket.append(line)
                if len(bucket) >= BUCKET_LINES:
                    spill(key[:2], bucket)
                    held[key[:2]] = []
            if progress is not None and rows:
                progress(len(rows))
        for prefix in sorted(set(held) | spilled):
            lines = held.get(prefix, [])
            if prefix in spilled:
                lines = (folder / prefix).read_text(encoding="ascii").splitlines() + lines
            lines.sort()
            yield from lines


# ---------------------------------------------------------------------------
# the file


def write_dump(context: HostContext, settings: WifiSettings, now: datetime | None = None,
               output: Path | None = None,
               progress: Callable[[int], Any] | None = None) -> tuple[str, int]:
    """Write the dump of ``now``'s day; (where it went, number of networks).

    To ``output`` when given, else to ``ASSET_BUCKET`` under ``export/`` when
    a bucket is set, else to the exports folder."""
    today = (now or utcnow()).date()
    name = dump_name(today)
    lines = dump_lines(today, settings.dump_days, progress)
    where, count = publish_export(context, name, HEADER, lines, level=GZIP_LEVEL,
                                  output=output)
    log.info("wifi_dump_written", file=where, rows=count)
    return where, count


def run(context: HostContext, settings: WifiSettings | None,
        now: datetime | None = None) -> bool:
    """The periodic job: today's dump, once it is 01:07 UTC and the file is
    not there yet, when ``ICHNAEA_WIFI__DUMP`` is on."""
    settings = settings or WifiSettings()
    if not settings.dump:
        return False
    now = now or utcnow()
    due = now.replace(hour=DUMP_TIME[0], minute=DUMP_TIME[1], second=0, microsecond=0)
    if now < due or export_exists(context, dump_name(now.date())):
        return False
    write_dump(context, settings, now)
    return False


# ---------------------------------------------------------------------------
# the command


def make_group(context: CommandContext) -> Any:
    import click

    @click.group("wifi")
    def wifi_group() -> None:
        """WiFi networks: the privacy-safe dump."""

    @wifi_group.command("dump")
    @click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="folder to write to (default: ASSET_BUCKET when set, else "
                       "ICHNAEA_CONTENT__EXPORTS_DIR or <var>/exports)")
    @click.pass_context
    def dump_command(ctx: click.Context, output: Path | None) -> None:
        """Write today's WiFi dump now (whether or not ICHNAEA_WIFI__DUMP is on)."""
        rt = context.runtime()
        settings = context.settings or WifiSettings()
        now = utcnow()
        since = now.date() - timedelta(days=settings.dump_days)
        try:
            with click.progressbar(length=dump_size(since),
                                   label="Writing the WiFi dump") as bar:
                where, count = write_dump(rt, settings, now=now, output=output,
                                          progress=bar.update)
        except Exception as exc:  # noqa: BLE001 - reported as one line
            click.echo(f"ichnaea: WiFi dump failed: {type(exc).__name__}: {exc}", err=True)
            ctx.exit(1)
        click.echo(f"wrote {count} networks to {where}")

    return wifi_group
