"""Import of public cell exports: the original service's and OpenCellID's.

Both are CSV files (gzipped or plain) with the columns ``radio, mcc, net,
area, cell, unit, lon, lat, range, samples, changeable, created, updated,
averageSignal``; a first row equal to that header is skipped. Radios GSM,
UMTS, LTE and NR are imported, CDMA rows are skipped and counted, and
invalid rows (bad numbers, out-of-range identities or positions) are skipped
and counted with their line numbers.

Rows are written in batches, each one transaction: a new cell is inserted
(its bounding box is its position), a known cell is updated only when the
file's row is newer (``updated`` against the cell's ``modified``). The areas
of written cells are queued for the area job. A file that cannot be read to
its end (a truncated gzip, a malformed line) stops the import at that line:
the batches before it stay written, the rows of the unfinished batch do not.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from ichnaea_host import geocode
from ichnaea_host.db import retry_on_lock, select_for_update, upsert
from ichnaea_host.interfaces import HostContext
from ichnaea_host.log import get_logger

from .cells import (
    AREAID_BYTES,
    CID_RANGE,
    LAC_RANGE,
    MNC_RANGE,
    PSC_RANGE,
    RADIO_CODES,
    encode_cellid,
)
from .models import CELL_MODELS
from .updater import area_queue

log = get_logger("ichnaea.cell")

HEADER = ["radio", "mcc", "net", "area", "cell", "unit", "lon", "lat", "range", "samples",
          "changeable", "created", "updated", "averageSignal"]
RADIO_MAP = {"GSM": "gsm", "UMTS": "wcdma", "LTE": "lte", "NR": "nr"}
SKIPPED_RADIOS = {"CDMA"}
MAX_RADIUS = 100_000
EPOCH = datetime(1970, 1, 1)
BATCH = 1000
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


class CountingReader(io.RawIOBase):
    """A raw file that reports how many bytes were read (for a progress bar)."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int], Any] | None) -> None:
        self.raw = raw
        self.progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n and self.progress is not None:
            self.progress(n)
        return n


def open_text(path: Path, progress: Callable[[int], Any] | None = None) -> IO[str]:
    """The file as text, gunzipped when it starts with the gzip magic bytes."""
    raw = open(path, "rb")  # noqa: SIM115 - closed with the returned wrapper
    magic = raw.read(2)
    raw.seek(0)
    stream: IO[bytes] = io.BufferedReader(CountingReader(raw, progress), 1 << 16)
    if magic == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
    return io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="")


# ---------------------------------------------------------------------------
# rows


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


def _time(value: str) -> datetime:
    seconds = _int(value, 0, 253_402_300_799 - 86400)
    return EPOCH + timedelta(seconds=seconds)


def parse_row(row: list[str]) -> dict[str, Any] | None:
    """The cell of one CSV row; None for a skipped radio; InvalidRow when invalid."""
    if len(row) not in (13, 14):
        raise InvalidRow("columns")
    label = row[0].strip().upper()
    if label in SKIPPED_RADIOS:
        return None
    radio = RADIO_MAP.get(label)
    if radio is None:
        raise InvalidRow(row[0])
    mcc = _int(row[1], 1, 999)
    if mcc not in geocode.valid_mccs():
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
    created = _time(row[11])
    modified = _time(row[12])
    return {
        "cellid": encode_cellid(radio, mcc, mnc, lac, cid).hex(),
        "radio": RADIO_CODES[radio], "mcc": mcc, "mnc": mnc, "lac": lac, "cid": cid,
        "psc": psc, "lat": lat, "lon": lon, "radius": radius, "samples": samples,
        "created": created, "modified": modified, "_radio": radio,
    }


def read_cells(text: IO[str], stats: ImportStats) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, cell) of every importable row; counts the others."""
    reader = csv.reader(text)
    line = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (OSError, EOFError, csv.Error, UnicodeDecodeError, ValueError) as exc:
            raise ImportError_(line + 1, f"{type(exc).__name__}: {exc}") from exc
        line = reader.line_num
        if line == 1 and [c.strip().lower() for c in row] == [h.lower() for h in HEADER]:
            continue
        if not row or not any(c.strip() for c in row):
            continue
        if not row[0].strip():
            stats.add_invalid(line)
            continue
        try:
            cell = parse_row(row)
        except (InvalidRow, OverflowError):
            stats.add_invalid(line)
            continue
        if cell is None:
            stats.cdma += 1
            continue
        yield line, cell


# ---------------------------------------------------------------------------
# writing


def write_batch(context: HostContext, cells: list[dict[str, Any]],
                stats: ImportStats) -> None:
    """Write one batch in one transaction, then queue the touched areas."""
    newest: dict[str, dict[str, Any]] = {}
    for cell in cells:
        kept = newest.get(cell["cellid"])
        if kept is None or kept["modified"] <= cell["modified"]:
            newest[cell["cellid"]] = cell
    by_radio: dict[str, list[dict[str, Any]]] = {}
    for cell in newest.values():
        by_radio.setdefault(cell["_radio"], []).append(cell)

    def transaction() -> tuple[int, int, int, set[bytes]]:
        new = updated = unchanged = 0
        touched: set[bytes] = set()
        with context.db.rw.atomic():
            for radio, rows in sorted(by_radio.items()):
                model: Any = CELL_MODELS[radio]
                keys = [r["cellid"] for r in rows]
                existing = {c.cellid: c.modified for c in select_for_update(
                    model.select(model.cellid, model.modified).where(model.cellid.in_(keys)))}
                inserts, updates = [], []
                for r in rows:
                    values = {k: v for k, v in r.items() if k != "_radio"}
                    if r["cellid"] not in existing:
                        values.update(max_lat=r["lat"], min_lat=r["lat"],
                                      max_lon=r["lon"], min_lon=r["lon"],
                                      region=geocode.region_for_cell(r["lat"], r["lon"],
                                                                     r["mcc"]))
                        inserts.append(values)
                    elif existing[r["cellid"]] is None or existing[r["cellid"]] < r["modified"]:
                        updates.append(values)
                    else:
                        unchanged += 1
                        continue
                    touched.add(bytes.fromhex(r["cellid"])[:AREAID_BYTES])
                if inserts:
                    model.insert_many(inserts).execute()
                if updates:
                    upsert(model, updates, conflict_target=[model.cellid],
                           preserve=[getattr(model, c) for c in UPDATED_COLUMNS])
                new += len(inserts)
                updated += len(updates)
        return new, updated, unchanged, touched

    new, updated, unchanged, touched = retry_on_lock(transaction)
    stats.new += new
    stats.updated += updated
    stats.unchanged += unchanged + len(cells) - len(newest)
    if touched:
        area_queue(context).enqueue(sorted(touched))
        stats.areas += len(touched)


def import_file(context: HostContext, path: Path, *, batch: int = BATCH,
                progress: Callable[[int], Any] | None = None) -> ImportStats:
    """Import one file; raises :class:`ImportError_` (after the batches before
    the bad line were written) when it cannot be read to its end."""
    stats = ImportStats()
    pending: list[dict[str, Any]] = []
    with open_text(path, progress) as text:
        for _line, cell in read_cells(text, stats):
            pending.append(cell)
            if len(pending) >= batch:
                write_batch(context, pending, stats)
                pending = []
        if pending:
            write_batch(context, pending, stats)
    log.info("cells_imported", file=str(path), new=stats.new, updated=stats.updated,
             unchanged=stats.unchanged, cdma=stats.cdma, invalid=stats.invalid)
    return stats


# ---------------------------------------------------------------------------
# the ``ichnaea cells`` commands


def _runtime(ctx: Any) -> Any:
    obj = ctx.find_root().obj
    if obj is not None and hasattr(obj, "runtime"):
        return obj.runtime()
    from ichnaea_host.runtime import Runtime  # pragma: no cover - outside the ichnaea command

    return Runtime()  # pragma: no cover


def make_group() -> Any:
    import click

    @click.group("cells")
    def cells_group() -> None:
        """The public cell export files: import and export."""

    @cells_group.command("import")
    @click.argument("files", nargs=-1, required=True,
                    type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--batch", type=click.IntRange(1), default=BATCH, show_default=True,
                  help="rows per transaction")
    @click.pass_context
    def import_command(ctx: click.Context, files: tuple[Path, ...], batch: int) -> None:
        """Import cell export files (the original's or OpenCellID's, .csv or .csv.gz)."""
        rt = _runtime(ctx)
        total = ImportStats()
        for path in files:
            with click.progressbar(length=path.stat().st_size,
                                   label=f"Importing {path.name}") as bar:
                try:
                    stats = import_file(rt, path, batch=batch, progress=bar.update)
                except ImportError_ as exc:
                    click.echo(f"ichnaea: {path}: {exc} (the rows before its batch are "
                               "imported)", err=True)
                    ctx.exit(1)
            click.echo(f"{path.name}: {stats.summary()}")
            for name in ("new", "updated", "unchanged", "cdma", "invalid", "areas"):
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            total.invalid_lines.extend(stats.invalid_lines)
            del total.invalid_lines[SHOW_INVALID:]
        if len(files) > 1:
            click.echo(f"total: {total.summary()}")

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
        from .export import export_diff, export_full

        rt = _runtime(ctx)
        run = export_full if kind == "full" else export_diff
        try:
            where, count = run(rt, output=output)
        except Exception as exc:  # noqa: BLE001 - reported as one line
            click.echo(f"ichnaea: export failed: {type(exc).__name__}: {exc}", err=True)
            ctx.exit(1)
        click.echo(f"wrote {count} cells to {where}")

    return cells_group
