"""Import of public cell exports: the original service's and OpenCellID's.

Both are CSV files (gzipped or plain) with the columns ``radio, mcc, net,
area, cell, unit, lon, lat, range, samples, changeable, created, updated,
averageSignal``; a first row equal to that header is skipped. The exports
quote nothing, so a line is split at its commas; a line with a quote in it
is read by the csv module. Radios GSM, UMTS, LTE and NR are imported, CDMA
rows are skipped and counted, and invalid rows (bad numbers, out-of-range
identities or positions) are skipped and counted with their line numbers.

Rows are written in batches, each one transaction: a new cell is inserted
(its bounding box is its position, its region looked up once per grid square
where no border can change it), a known cell is updated only when the file's
row is newer (``updated`` against the cell's ``modified``). On MySQL three
batches are written at once while the next one is read. The areas of written
cells are queued for the area job. A file that cannot be read to its end (a
truncated gzip, a malformed line) stops the import at that line: the batches
before it stay written, the rows of the unfinished batch do not.

On MySQL, the command loads the tables an import is large for in bulk
(:mod:`.bulk`): their secondary indexes are dropped for the import and
rebuilt after it, and their batches skip the look-up of known cells until
one turns up.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, NamedTuple

import peewee

from ichnaea_host import CommandContext, HostContext, get_logger, retry_on_lock

from .cells import (
    AREAID_BYTES,
    CELLID_BYTES,
    CID_RANGE,
    LAC_RANGE,
    MNC_RANGE,
    PSC_RANGE,
    RADIO_CODES,
)
from .mcc import CellRegions, valid_mccs
from .models import CELL_MODELS
from .updater import area_queue

log = get_logger("ichnaea.cell")

HEADER = ["radio", "mcc", "net", "area", "cell", "unit", "lon", "lat", "range", "samples",
          "changeable", "created", "updated", "averageSignal"]
RADIO_MAP = {"GSM": "gsm", "UMTS": "wcdma", "LTE": "lte", "NR": "nr"}
SKIPPED_RADIOS = {"CDMA"}
MAX_RADIUS = 100_000
EPOCH = datetime(1970, 1, 1)
#: the latest ``created``/``updated`` accepted, in seconds (9999-12-30 23:59:59)
MAX_TIME = 253_402_300_799 - 86400
BATCH = 5000
#: batches written at once (MySQL only): with three, the server always has
#: a statement to work on while this process builds the next (10 % faster
#: than two on two cores; four gained nothing more)
WRITERS = 3
#: how many invalid line numbers the summary names
SHOW_INVALID = 5
#: the columns an update of a known cell copies from the file
UPDATED_COLUMNS = ("psc", "lat", "lon", "radius", "samples", "created", "modified")


class ImportError_(Exception):  # noqa: N801 - not the builtin
    """The file could not be read to its end."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class InvalidRow(ValueError):
    pass


@dataclass
class ImportStats:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    cdma: int = 0
    invalid: int = 0
    invalid_lines: list[int] = field(default_factory=list)
    areas: int = 0

    def add_invalid(self, line: int) -> None:
        self.invalid += 1
        if len(self.invalid_lines) < SHOW_INVALID:
            self.invalid_lines.append(line)

    def summary(self) -> str:
        text = (f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.cdma} skipped (cdma), {self.invalid} invalid")
        if self.invalid_lines:
            more = ", ..." if self.invalid > len(self.invalid_lines) else ""
            text += f" (lines {', '.join(map(str, self.invalid_lines))}{more})"
        return text


def open_text(path: Path, progress: Callable[[int], Any] | None = None) -> IO[str]:
    """The file as text, gunzipped when gzipped (:func:`ichnaea_host.open_data_file`)."""
    from ichnaea_host import open_data_file

    return open_data_file(path, progress)


# ---------------------------------------------------------------------------
# rows


class Cell(NamedTuple):
    """One importable row of the file."""

    #: the 13-byte cell id as an integer (``key.to_bytes(13, "big")``)
    key: int
    radio: str
    mcc: int
    mnc: int
    lac: int
    cid: int
    psc: int | None
    lat: float
    lon: float
    radius: int | None
    samples: int | None
    #: seconds since 1970 (UTC)
    created: int
    modified: int


def _int(value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        fraction = _float(value)
        if fraction != int(fraction):
            raise InvalidRow(value) from None
        number = int(fraction)
    if not low <= number <= high:
        raise InvalidRow(value)
    return number


def _float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InvalidRow(value) from None
    if not math.isfinite(number):
        raise InvalidRow(value)
    return number


def parse_row(row: list[str]) -> Cell | None:
    """The cell of one CSV row; None for a skipped radio; InvalidRow when invalid.

    A row as the exports write it (every number a plain integer or decimal,
    all in range) is read the short way; any other row, valid or not, is
    read field by field by :func:`parse_any_row`, which decides."""
    try:
        radio = RADIO_MAP[row[0]]
        mcc, mnc, lac, cid = int(row[1]), int(row[2]), int(row[3]), int(row[4])
        psc = int(row[5]) if row[5] else None
        lon, lat = float(row[6]), float(row[7])
        radius, samples = int(row[8]), int(row[9])
        created, modified = int(row[11]), int(row[12])
    except (KeyError, ValueError, IndexError):
        return parse_any_row(row)
    lac_low, lac_high = LAC_RANGE[radio]
    cid_low, cid_high = CID_RANGE[radio]
    if not (len(row) <= 14 and mcc in valid_mccs() and 0 <= mnc <= 999
            and lac_low <= lac <= lac_high and cid_low <= cid <= cid_high
            and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0
            and 0 <= radius <= 2**62 and 0 <= samples <= 2**62
            and 0 <= created <= MAX_TIME and 0 <= modified <= MAX_TIME
            and (psc is None or -(2**31) <= psc <= 2**31)):
        return parse_any_row(row)
    if radio == "gsm" and cid > 65535:
        radio = "wcdma"  # as the query path does: a 28-bit UTRAN cell id
    if psc is not None and not PSC_RANGE[radio][0] <= psc <= PSC_RANGE[radio][1]:
        psc = None
    # tuple.__new__ directly: Cell(...) would add a Python call a row
    return _new_cell(Cell, (RADIO_CODES[radio] << 96 | mcc << 80 | mnc << 64 | lac << 40 | cid,
                            radio, mcc, mnc, lac, cid, psc, lat, lon,
                            radius if radius < MAX_RADIUS else MAX_RADIUS, samples,
                            created, modified))


_new_cell = tuple.__new__


def parse_any_row(row: list[str]) -> Cell | None:
    """:func:`parse_row` for any row: blanks, spaces, decimals, lower-case radios."""
    if len(row) not in (13, 14):
        raise InvalidRow("columns")
    radio = RADIO_MAP.get(row[0])
    if radio is None:  # not written as the original writes it
        label = row[0].strip().upper()
        if label in SKIPPED_RADIOS:
            return None
        radio = RADIO_MAP.get(label)
        if radio is None:
            raise InvalidRow(row[0])
    mcc = _int(row[1], 1, 999)
    if mcc not in valid_mccs():
        raise InvalidRow(row[1])
    mnc = _int(row[2], *MNC_RANGE)
    lac = _int(row[3], *LAC_RANGE[radio])
    cid = _int(row[4], *CID_RANGE[radio])
    if radio == "gsm" and cid > 65535:
        radio = "wcdma"  # as the query path does: a 28-bit UTRAN cell id
    psc: int | None = None
    if row[5].strip():
        low, high = PSC_RANGE[radio]
        psc = _int(row[5], -(2**31), 2**31)
        if not low <= psc <= high:
            psc = None
    lon = _float(row[6])
    lat = _float(row[7])
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise InvalidRow("position")
    radius = min(_int(row[8], 0, 2**62), MAX_RADIUS) if row[8].strip() else None
    samples = _int(row[9], 0, 2**62) if row[9].strip() else None
    key = (RADIO_CODES[radio] << 96 | mcc << 80 | mnc << 64 | lac << 40 | cid)
    return Cell(key, radio, mcc, mnc, lac, cid, psc, lat, lon, radius, samples,
                _int(row[11], 0, MAX_TIME), _int(row[12], 0, MAX_TIME))


def read_cells(text: IO[str], stats: ImportStats, batch: int = BATCH
               ) -> Iterator[list[Cell]]:
    """The importable rows, ``batch`` cells at a time; counts the others.

    Raises :class:`ImportError_` at a line that cannot be read (a truncated
    gzip, a malformed CSV line), after the whole batches before it; the
    cells of the unfinished batch are not yielded."""
    cells: list[Cell] = []
    line = 0
    try:
        for line, text_line in enumerate(text, 1):
            # the exports quote nothing: a line is split at its commas, a
            # line with a quote is read by the csv module (a quoted field
            # that spans lines makes an invalid row)
            row = (text_line.rstrip("\r\n").split(",") if '"' not in text_line
                   else next(csv.reader([text_line]), []))
            try:
                cell = parse_row(row)
            except (InvalidRow, OverflowError):
                _odd_row(row, line, stats)
                continue
            if cell is None:
                stats.cdma += 1
                continue
            cells.append(cell)
            if len(cells) >= batch:
                yield cells
                cells = []
    except (OSError, EOFError, csv.Error, UnicodeDecodeError, ValueError) as exc:
        # the rows of the unfinished batch are not imported
        raise ImportError_(line + 1, f"{type(exc).__name__}: {exc}") from exc
    if cells:
        yield cells


def _odd_row(row: list[str], line: int, stats: ImportStats) -> None:
    """A row that is no cell: an empty line, the header or a row of blanks
    (skipped), or an invalid row (counted)."""
    if not row:
        return
    if line == 1 and [c.strip().lower() for c in row] == [h.lower() for h in HEADER]:
        return
    if any(c.strip() for c in row):
        stats.add_invalid(line)


# ---------------------------------------------------------------------------
# writing


#: the first parts of ``sql_time``, filled as they are met
_DAYS: dict[int, str] = {}
_CLOCKS: dict[int, str] = {}


def sql_time(seconds: int) -> str:
    """A time as the DATETIME columns store it: ``YYYY-MM-DD HH:MM:SS`` (UTC).

    Per day and time of day remembered: a million rows take a few seconds less."""
    days, rest = divmod(seconds, 86400)
    day = _DAYS.get(days)
    if day is None:
        day = _DAYS[days] = (EPOCH + timedelta(days=days)).strftime("%Y-%m-%d ")
    clock = _CLOCKS.get(rest)
    if clock is None:
        clock = _CLOCKS[rest] = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return day + clock


def _seconds(value: datetime | str | int | None) -> int | None:
    """A stored ``modified`` in whole seconds (SQLite gives its text)."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value - EPOCH) // timedelta(seconds=1)


class CellAdded(Exception):
    """A cell taken for new was already stored: added by another writer after
    the look-up, or known when the look-up was skipped."""


@dataclass
class BatchResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    #: the areas of the cells written (area ids as integers: ``key >> 40``),
    #: to queue for the area job
    areas: set[int] = field(default_factory=set)


class CellWriter:
    """Writes batches of cells to the cell tables, one transaction a batch.

    Per table, one look-up of the batch's cell ids tells new cells from
    known ones. New cells are inserted (with their region and a bounding box
    of their position) by a plain multi-row INSERT; known cells the file has
    a newer row of are written by a multi-row upsert whose update part copies
    the file's columns only where the file's row is still the newer one, so
    a cell another writer changed in the meantime keeps the newer of the two
    rows; the other known cells are left alone. Both statements are built by
    hand: peewee's query objects cost more than the database's work. Rows go
    in in key order, the order of the table's primary key.

    A table loaded in bulk (``unseen``) started empty or small: its batches
    are first written without the look-up, every cell taken for new. The
    first batch that meets a stored cell fails on the primary key, is rolled
    back and written again with the look-up, as are the table's later
    batches.
    """

    #: rows per statement (SQLite allows 32,766 parameters a statement)
    CHUNK = 1000
    #: batches looked at again after another writer added one of their cells
    ATTEMPTS = 3

    def __init__(self, db: Any, unseen: Iterable[str] = ()) -> None:
        self.db = db
        self.mysql = isinstance(db, peewee.MySQLDatabase)
        #: the tables whose batches are written without the look-up
        self.unseen = set(unseen)
        self.regions = CellRegions()
        q = self.quote
        self.columns = ", ".join(map(q, INSERTED_COLUMNS))
        if self.mysql:
            # each column's newer-row test must see the stored ``modified``:
            # MySQL assigns left to right, so ``modified`` comes last
            newer = f"({q('modified')} IS NULL OR VALUES({q('modified')}) > {q('modified')})"
            self.update = "ON DUPLICATE KEY UPDATE " + ", ".join(
                f"{q(c)} = IF({newer}, VALUES({q(c)}), {q(c)})" for c in UPDATED_COLUMNS)
            self.stored_seconds = f"TIMESTAMPDIFF(SECOND, '1970-01-01', {q('modified')})"
        else:
            self.update = (f"ON CONFLICT ({q('cellid')}) DO UPDATE SET "
                           + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in UPDATED_COLUMNS)
                           + " WHERE {table}.modified IS NULL"
                           " OR excluded.modified > {table}.modified")
            self.stored_seconds = q("modified")

    def quote(self, name: str) -> str:
        return f"{self.db.quote[0]}{name}{self.db.quote[1]}"

    def write(self, cells: list[Cell]) -> BatchResult:
        newest: dict[int, Cell] = {}
        for cell in cells:
            kept = newest.get(cell.key)
            if kept is None or kept.modified <= cell.modified:
                newest[cell.key] = cell
        by_table: dict[str, list[Cell]] = {}
        for key in sorted(newest):
            cell = newest[key]
            by_table.setdefault(TABLE_OF_RADIO[cell.radio], []).append(cell)

        def transaction() -> BatchResult:
            result = BatchResult(unchanged=len(cells) - len(newest))
            with self.db.atomic():
                for table, rows in sorted(by_table.items()):
                    self._write_table(table, rows, result)
            return result

        attempt = 1
        while True:
            try:
                return retry_on_lock(transaction)
            except CellAdded as exc:
                if exc.args[0] in self.unseen:
                    self.unseen.discard(exc.args[0])  # not counted as an attempt
                elif attempt == self.ATTEMPTS:
                    raise
                else:
                    attempt += 1

    def _write_table(self, table: str, cells: list[Cell], result: BatchResult) -> None:
        unseen = table in self.unseen
        stored = {} if unseen else self._stored(table, [cell.key for cell in cells])
        new: list[Cell] = []
        newer: list[Cell] = []
        for cell in cells:
            if cell.key not in stored:
                new.append(cell)
            else:
                modified = stored[cell.key]
                if modified is not None and modified >= cell.modified:
                    result.unchanged += 1
                    continue
                newer.append(cell)
            result.areas.add(cell.key >> 40)
        result.new += len(new)
        result.updated += len(newer)
        region = self.regions.region
        inserts = [(cell, region(cell.lat, cell.lon, cell.mcc)) for cell in new]
        # an update keeps the cell's region (the region is not among the updated columns)
        updates: list[tuple[Cell, str | None]] = [(cell, None) for cell in newer]
        for start in range(0, len(inserts), self.CHUNK):
            try:
                self._insert(table, inserts[start:start + self.CHUNK], "")
            except peewee.IntegrityError as exc:
                raise CellAdded(table if unseen else None) from exc
        for start in range(0, len(updates), self.CHUNK):
            self._insert(table, updates[start:start + self.CHUNK],
                         self.update.format(table=self.quote(table)))

    def _stored(self, table: str, keys: list[int]) -> dict[int, int | None]:
        """{key: modified in seconds} of the cells already stored."""
        found: dict[int, int | None] = {}
        sql = (f"SELECT {self.quote('cellid')}, {self.stored_seconds} FROM {self.quote(table)}"
               f" WHERE {self.quote('cellid')} IN ")
        for start in range(0, len(keys), self.CHUNK):
            part = keys[start:start + self.CHUNK]
            if self.mysql:
                cursor = self.db.execute_sql(
                    sql + "(" + ",".join([f"X'{key:026x}'" for key in part]) + ")")
            else:
                cursor = self.db.execute_sql(
                    sql + "(" + ",".join("?" * len(part)) + ")",
                    [key.to_bytes(CELLID_BYTES, "big") for key in part])
            for cellid, modified in cursor.fetchall():
                found[int.from_bytes(cellid, "big")] = _seconds(modified)
        return found

    def _insert(self, table: str, rows: list[tuple[Cell, str | None]], conflict: str) -> None:
        insert = f"INSERT INTO {self.quote(table)} ({self.columns}) VALUES "
        if self.mysql:
            values = ",".join([_mysql_row(cell, region) for cell, region in rows])
            self.db.execute_sql(f"{insert}{values} {conflict}")
        else:
            marks = "(" + ", ".join("?" * len(INSERTED_COLUMNS)) + ")"
            params = [value for cell, region in rows for value in _sqlite_row(cell, region)]
            self.db.execute_sql(f"{insert}{', '.join([marks] * len(rows))} {conflict}", params)


#: the table of each radio
TABLE_OF_RADIO = {radio: model._meta.table_name for radio, model in CELL_MODELS.items()}
#: the columns an import writes, in the order of :func:`_mysql_row` and :func:`_sqlite_row`
INSERTED_COLUMNS = ("cellid", "radio", "mcc", "mnc", "lac", "cid", "psc", "lat", "lon",
                    "max_lat", "min_lat", "max_lon", "min_lon", "region", "radius",
                    "samples", "created", "modified")


def _mysql_row(cell: Cell, region: str | None) -> str:
    """The row as MySQL literals (pymysql's parameter escaping costs more than the insert).

    Positions are DOUBLE literals (``e0``): a plain decimal would be read as
    a DECIMAL first. The bounding box names the row's own ``lat`` and
    ``lon``, set earlier in the row. Region codes are two capital letters."""
    key, _radio, mcc, mnc, lac, cid, psc, lat, lon, radius, samples, created, modified = cell
    lat_, lon_ = repr(lat), repr(lon)
    if "e" not in lat_:
        lat_ += "e0"
    if "e" not in lon_:
        lon_ += "e0"
    return (f"(X'{key:026x}',{key >> 96},{mcc},{mnc},{lac},{cid},"  # the radio's code
            f"{'NULL' if psc is None else psc},{lat_},{lon_},`lat`,`lat`,`lon`,`lon`,"
            f"{'NULL' if region is None else repr(region)},"
            f"{'NULL' if radius is None else radius},{'NULL' if samples is None else samples},"
            f"'{sql_time(created)}','{sql_time(modified)}')")


def _sqlite_row(cell: Cell, region: str | None) -> tuple[Any, ...]:
    return (cell.key.to_bytes(CELLID_BYTES, "big"), RADIO_CODES[cell.radio], cell.mcc,
            cell.mnc, cell.lac, cell.cid, cell.psc, cell.lat, cell.lon, cell.lat, cell.lat,
            cell.lon, cell.lon, region, cell.radius, cell.samples,
            sql_time(cell.created), sql_time(cell.modified))


class BatchRunner:
    """Runs the batch transactions beside the reading of the file.

    On MySQL, up to ``writers`` batches are written at once, each on its own
    connection in a thread of its own, while the file's next batch is read:
    the server's work overlaps the reading. Two batches that share a cell
    are never written at once, so the newer row of a cell always wins and
    the counts stay exact. SQLite writes each batch as it is read.
    """

    def __init__(self, context: HostContext, writers: int, stats: ImportStats,
                 bulk: Iterable[str] = ()) -> None:
        self.db = context.db.rw
        self.cells = CellWriter(self.db, unseen=bulk)
        self.areas = area_queue(context)
        self.stats = stats
        self.threads = (ThreadPoolExecutor(writers, "cell-import")
                        if context.db.is_mysql else None)
        self.writers = writers
        self.running: list[tuple[Future[BatchResult], set[int]]] = []

    def write(self, cells: list[Cell]) -> BatchResult:
        result = self.cells.write(cells)
        if result.areas:
            self.areas.enqueue([area.to_bytes(AREAID_BYTES, "big")
                                for area in sorted(result.areas)])
        return result

    def write_and_release(self, cells: list[Cell]) -> BatchResult:
        try:
            return self.write(cells)
        finally:
            self.db.close()  # this thread's connection goes back to the pool

    def submit(self, cells: list[Cell]) -> None:
        if self.threads is None:
            self.count(self.write(cells))
            return
        keys = {cell.key for cell in cells}
        while self.running and (len(self.running) >= self.writers
                                or any(keys & busy for _, busy in self.running)):
            self.finish_oldest()
        self.running.append((self.threads.submit(self.write_and_release, cells), keys))

    def finish_oldest(self) -> None:
        future, _keys = self.running.pop(0)
        self.count(future.result())

    def count(self, result: BatchResult) -> None:
        self.stats.new += result.new
        self.stats.updated += result.updated
        self.stats.unchanged += result.unchanged
        self.stats.areas += len(result.areas)

    def __enter__(self) -> BatchRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        """Wait for the batches under way (they are written whole even when
        the file turned out to be malformed after them)."""
        try:
            while self.running:
                self.finish_oldest()
        finally:
            if self.threads is not None:
                self.threads.shutdown(wait=True, cancel_futures=True)


def import_file(context: HostContext, path: Path, *, batch: int = BATCH,
                writers: int = WRITERS, progress: Callable[[int], Any] | None = None,
                bulk: Iterable[str] = ()) -> ImportStats:
    """Import one file; raises :class:`ImportError_` (after the batches before
    the bad line were written) when it cannot be read to its end. ``bulk``
    names the tables loaded in bulk (see :mod:`.bulk`)."""
    stats = ImportStats()
    with (BatchRunner(context, writers, stats, bulk) as runner,
          open_text(path, progress) as text):
        for cells in read_cells(text, stats, batch):
            runner.submit(cells)
    log.info("cells_imported", file=str(path), new=stats.new, updated=stats.updated,
             unchanged=stats.unchanged, cdma=stats.cdma, invalid=stats.invalid)
    return stats


# ---------------------------------------------------------------------------
# the ``ichnaea cells`` commands


def backend_errors() -> tuple[type[BaseException], ...]:
    """What an unreachable, unmigrated or failing database or Redis raises."""
    import pymysql

    from ichnaea_host import REDIS_ERRORS

    return (peewee.DatabaseError, peewee.InterfaceError, pymysql.MySQLError, OSError,
            *REDIS_ERRORS)


def backend_failure(exc: BaseException) -> str:
    """One line for an import stopped by its database or Redis (the batches
    written before it stay written, as after a malformed line)."""
    text = " ".join(str(exc).split())
    if ("1146" in text and "doesn't exist" in text) or "no such table" in text:
        # a missing table, as MySQL (error 1146) and SQLite say it
        return f"the database needs migrations ({text}): run 'ichnaea db upgrade'"
    return f"{type(exc).__name__}: {text}"


def make_group(context: CommandContext) -> Any:
    import click

    @click.group("cells")
    def cells_group() -> None:
        """The public cell export files: import and export."""

    @cells_group.command("import")
    @click.argument("files", nargs=-1, required=True,
                    type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--batch", type=click.IntRange(1), default=BATCH, show_default=True,
                  help="rows per transaction")
    @click.option("--writers", type=click.IntRange(1, 8), default=WRITERS, show_default=True,
                  help="transactions written at once (MySQL)")
    @click.pass_context
    def import_command(ctx: click.Context, files: tuple[Path, ...], batch: int,
                       writers: int) -> None:
        """Import cell export files (the original's or OpenCellID's, .csv or .csv.gz).

        On MySQL, an import of many rows into tables holding fewer is a bulk
        load: the tables' secondary indexes are dropped for it and rebuilt
        after it."""
        from .bulk import bulk_load, count_lines

        rt = context.runtime()
        total = ImportStats()
        try:
            with bulk_load(rt, count_lines(files) if rt.db.is_mysql else 0,
                           click.echo) as bulk:
                for path in files:
                    with click.progressbar(length=path.stat().st_size,
                                           label=f"Importing {path.name}") as bar:
                        try:
                            stats = import_file(rt, path, batch=batch, writers=writers,
                                                progress=bar.update, bulk=bulk)
                        except ImportError_ as exc:
                            click.echo(f"ichnaea: {path}: {exc} (the rows before its batch "
                                       "are imported)", err=True)
                            ctx.exit(1)
                    click.echo(f"{path.name}: {stats.summary()}")
                    for name in ("new", "updated", "unchanged", "cdma", "invalid", "areas"):
                        setattr(total, name, getattr(total, name) + getattr(stats, name))
                    total.invalid_lines.extend(stats.invalid_lines)
                    del total.invalid_lines[SHOW_INVALID:]
        except backend_errors() as exc:
            click.echo(f"ichnaea: cell import stopped: {backend_failure(exc)}", err=True)
            ctx.exit(1)
        if len(files) > 1:
            click.echo(f"total: {total.summary()}")

    @cells_group.command("restore-indexes")
    @click.pass_context
    def restore_command(ctx: click.Context) -> None:
        """Restore the cell tables' indexes a stopped bulk import left dropped."""
        from .bulk import restore_indexes

        if restore_indexes(context.runtime(), click.echo) == {}:
            click.echo("the cell tables have all their indexes")

    @cells_group.command("export")
    @click.option("--full", "kind", flag_value="full", default=True,
                  help="every cell modified in the last 365 days (default)")
    @click.option("--diff", "kind", flag_value="diff",
                  help="the cells modified in the last full hour")
    @click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="folder to write to (default: ASSET_BUCKET when set, else "
                       "ICHNAEA_CONTENT__EXPORTS_DIR or <var>/exports)")
    @click.pass_context
    def export_command(ctx: click.Context, kind: str, output: Path | None) -> None:
        """Write a public cell export file now."""
        from ichnaea_host import utcnow

        from .export import diff_window, export_diff, export_full, export_size, full_window

        rt = context.runtime()
        now = utcnow()
        run, window = ((export_full, full_window) if kind == "full"
                       else (export_diff, diff_window))
        try:
            with click.progressbar(length=export_size(*window(now)),
                                   label=f"Exporting the {kind} cell export") as bar:
                where, count = run(rt, now=now, output=output, progress=bar.update)
        except Exception as exc:  # noqa: BLE001 - reported as one line
            click.echo(f"ichnaea: export failed: {type(exc).__name__}: {exc}", err=True)
            ctx.exit(1)
        click.echo(f"wrote {count} cells to {where}")

    return cells_group
