"""The public cell export: gzipped CSV files in the original service's format.

An hourly diff (the cells modified in the last full hour, written at :03)
and a daily full export (the cells modified in the last 365 days, written at
00:37), named as the original's::

    MLS-diff-cell-export-YYYY-MM-DDTHH0000.csv.gz
    MLS-full-cell-export-YYYY-MM-DDT000000.csv.gz

The files go to the exports folder (``ICHNAEA_CONTENT__EXPORTS_DIR``, by
default ``<var>/exports``), listed by the site's /downloads page, or to
``ASSET_BUCKET`` under ``export/`` when a bucket is set. 5G NR cells are
included with the radio ``NR``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ichnaea_host import (
    HostContext,
    export_exists,
    get_logger,
    is_mysql,
    publish_export,
    utcnow,
)

from .models import CELL_MODELS

log = get_logger("ichnaea.cell")

HEADER = ("radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,"
          "created,updated,averageSignal")
#: the radios' names in the file, in the order their tables are written
RADIO_LABELS = {"gsm": "GSM", "wcdma": "UMTS", "lte": "LTE", "nr": "NR"}
PAGE = 25000
GZIP_LEVEL = 5
#: minutes past the hour of the diff, time of day of the full export
DIFF_MINUTE = 3
FULL_TIME = (0, 37)
FULL_DAYS = 365

DIFF_JOB = "cell_export_diff"
FULL_JOB = "cell_export_full"
#: how often the scheduler lets the jobs look at the clock, in seconds
DIFF_INTERVAL = 60.0
FULL_INTERVAL = 300.0


#: the integer fields of a row, joined by the database (pymysql reads one
#: text column much faster than seven numbers): mcc..psc, then range..updated
_HEAD = ("mcc", "mnc", "lac", "cid", "IFNULL(psc, '')")
_TAIL = ("IFNULL(radius, 0)", "IFNULL(samples, 0)", "1", "IFNULL({created}, '')",
         "IFNULL({modified}, '')", "''")
#: MySQL: the positions too, as the text MariaDB sends for a DOUBLE anyway
#: (text that reads back to the very same number)
_MYSQL_ROW = ("CONCAT_WS('|', CONCAT_WS(',', {head}), lon, lat, CONCAT_WS(',', {tail}))"
              .format(head=", ".join(_HEAD), tail=", ".join(_TAIL).format(
                  created="TIMESTAMPDIFF(SECOND, '1970-01-01', created)",
                  modified="TIMESTAMPDIFF(SECOND, '1970-01-01', modified)")))
#: SQLite: its text for a REAL has 15 digits only, so the positions come as numbers
_SQLITE_ROW = "{head}, lon, lat, {tail}".format(
    head=" || ',' || ".join(_HEAD),
    tail=" || ',' || ".join(_TAIL).format(
        created="CAST(strftime('%s', created) AS INTEGER)",
        modified="CAST(strftime('%s', modified) AS INTEGER)"))


def _window_where(start: datetime | date, end: datetime | None,
                  mark: str) -> tuple[str, list[Any]]:
    """The WHERE condition (with the database's parameter ``mark``) and its
    parameters for the cells with a position modified in [start, end)."""
    where = ["lat IS NOT NULL", "lon IS NOT NULL", f"modified >= {mark}"]
    params: list[Any] = [_bound(start)]
    if end is not None:
        where.append(f"modified < {mark}")
        params.append(_bound(end))
    return " AND ".join(where), params


def export_size(start: datetime | date, end: datetime | None = None) -> int:
    """How many rows :func:`export_lines` gives for the window (for a progress bar)."""
    total = 0
    for model in CELL_MODELS.values():
        db = model._meta.database
        where, params = _window_where(start, end, db.param)
        table = f"{db.quote[0]}{model._meta.table_name}{db.quote[1]}"
        sql = f"SELECT COUNT(*) FROM {table} WHERE {where}"
        total += int(db.execute_sql(sql, params).fetchone()[0])
    return total


def _bound(value: datetime | date) -> str:
    """A time bound as the DATETIME columns compare with it."""
    return value.isoformat(" ") if isinstance(value, datetime) else value.isoformat()


def export_lines(start: datetime | date, end: datetime | None = None,
                 page: int = PAGE) -> Iterator[str]:
    """The rows of cells with a position modified in [start, end), per table
    (gsm, wcdma, lte, nr), ordered by cell id, read ``page`` rows at a time.

    Every page, the first too, starts after a cell id (the first one after
    the empty id), so that the database walks its key in order rather than
    sorting the whole table for the first page. The database joins the
    integer fields; the positions are rounded to 7 decimals here. On MySQL
    a page comes as one text (pymysql reads one value much faster than
    thousands of rows), and the next page is read while this one is
    formatted."""
    for radio, model in CELL_MODELS.items():
        db = model._meta.database
        where, params = _window_where(start, end, db.param)
        table = f"{db.quote[0]}{model._meta.table_name}{db.quote[1]}"
        pages = _mysql_pages if is_mysql(model) else _sqlite_pages
        prefix = RADIO_LABELS[radio] + ","
        for rows in pages(db, table, where, params, page):
            for head, lon, lat, tail in rows:
                yield f"{prefix}{head},{round(lon, 7):.7f},{round(lat, 7):.7f},{tail}"


Fields = tuple[str, float, float, str]


def _sqlite_pages(db: Any, table: str, where: str, params: list[Any],
                  page: int) -> Iterator[list[Fields]]:
    sql = (f"SELECT cellid, {_SQLITE_ROW} FROM {table} WHERE {where} AND cellid > ? "
           f"ORDER BY cellid LIMIT {int(page)}")
    last = b""
    while True:
        rows = db.execute_sql(sql, [*params, last]).fetchall()
        yield [row[1:] for row in rows]
        if len(rows) < page:
            return
        last = rows[-1][0]


#: room for one page as text (MariaDB's default is 1 MB)
GROUP_CONCAT_MAX = 1 << 28


def _mysql_pages(db: Any, table: str, where: str, params: list[Any],
                 page: int) -> Iterator[list[Fields]]:
    # ';' and '|' never occur in the fields: they part the rows and the row's pieces
    sql = (f"SELECT GROUP_CONCAT(line ORDER BY cellid SEPARATOR ';'), MAX(cellid), COUNT(*) "
           f"FROM (SELECT cellid, {_MYSQL_ROW} AS line FROM {table} "
           f"WHERE {where} AND cellid > %s ORDER BY cellid LIMIT {int(page)}) AS page")

    def fetch(last: bytes) -> tuple[str | None, bytes, int]:
        try:
            db.execute_sql(f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX}")
            return db.execute_sql(sql, [*params, last]).fetchone()  # type: ignore[no-any-return]
        finally:
            db.close()  # the reading thread's connection goes back to the pool

    with ThreadPoolExecutor(1, "cell-export") as reader:
        future: Future[tuple[str | None, bytes, int]] | None = reader.submit(fetch, b"")
        while future is not None:
            text, last, count = future.result()
            future = reader.submit(fetch, last) if count == page else None
            if not count:
                return
            lines = text.split(";") if text else []
            if len(lines) != count:
                raise RuntimeError(f"{table}: {count} rows read as {len(lines)}")
            rows: list[Fields] = []
            for line in lines:
                head, lon, lat, tail = line.split("|")
                rows.append((head, float(lon), float(lat), tail))
            yield rows


def diff_window(now: datetime) -> tuple[datetime, datetime]:
    """(start, end) of the diff due at ``now``: the last full hour."""
    end = now.replace(minute=0, second=0, microsecond=0)
    return end - timedelta(hours=1), end


def diff_name(end: datetime) -> str:
    return f"MLS-diff-cell-export-{end:%Y-%m-%dT%H}0000.csv.gz"


def full_name(day: date) -> str:
    return f"MLS-full-cell-export-{day:%Y-%m-%d}T000000.csv.gz"


def write_export(context: HostContext, name: str, lines: Iterator[str],
                 output: Path | None = None,
                 progress: Callable[[int], Any] | None = None) -> tuple[str, int]:
    """Write one export file; (where it went, number of rows).

    To ``output`` when given, else to ``ASSET_BUCKET`` under ``export/``
    when a bucket is set, else to the exports folder."""
    where, count = publish_export(context, name, HEADER, lines, newline="\r\n",
                                  level=GZIP_LEVEL, output=output, progress=progress)
    log.info("cell_export_written", file=where, rows=count)
    return where, count


def full_window(now: datetime) -> tuple[date, None]:
    """(start, end) of the full export due on ``now``'s day: the last 365 days."""
    return now.date() - timedelta(days=FULL_DAYS), None


def export_diff(context: HostContext, now: datetime | None = None,
                output: Path | None = None,
                progress: Callable[[int], Any] | None = None) -> tuple[str, int]:
    start, end = diff_window(now or utcnow())
    return write_export(context, diff_name(end), export_lines(start, end), output, progress)


def export_full(context: HostContext, now: datetime | None = None,
                output: Path | None = None,
                progress: Callable[[int], Any] | None = None) -> tuple[str, int]:
    now = now or utcnow()
    start, end = full_window(now)
    return write_export(context, full_name(now.date()), export_lines(start, end), output,
                        progress)


# ---------------------------------------------------------------------------
# periodic jobs: each file once, at or after its time


def run_diff(context: HostContext, now: datetime | None = None) -> bool:
    """Write the diff of the last full hour, once it is :03 past and the file
    is not there yet."""
    now = now or utcnow()
    _, end = diff_window(now)
    if now < end + timedelta(minutes=DIFF_MINUTE) or export_exists(context, diff_name(end)):
        return False
    export_diff(context, now)
    return False


def run_full(context: HostContext, now: datetime | None = None) -> bool:
    """Write today's full export, once it is 00:37 and the file is not there yet."""
    now = now or utcnow()
    due = now.replace(hour=FULL_TIME[0], minute=FULL_TIME[1], second=0, microsecond=0)
    if now < due or export_exists(context, full_name(now.date())):
        return False
    export_full(context, now)
    return False
