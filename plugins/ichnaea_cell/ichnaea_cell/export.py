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

import calendar
import gzip
import os
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ichnaea_host.content import content_settings, exports_dir
from ichnaea_host.interfaces import HostContext
from ichnaea_host.log import get_logger
from ichnaea_host.stations import utcnow

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


def unix(value: datetime | None) -> str:
    return "" if value is None else str(calendar.timegm(value.timetuple()))


def format_row(radio: str, row: dict[str, Any]) -> str:
    """One line of the file (without its CRLF)."""
    psc = row["psc"]
    return ",".join((
        RADIO_LABELS[radio], str(row["mcc"]), str(row["mnc"]), str(row["lac"]),
        str(row["cid"]), "" if psc is None else str(psc),
        f"{round(row['lon'], 7):.7f}", f"{round(row['lat'], 7):.7f}",
        str(row["radius"] or 0), str(row["samples"] or 0), "1",
        unix(row["created"]), unix(row["modified"]), "",
    ))


def export_lines(start: datetime | date, end: datetime | None = None,
                 page: int = PAGE) -> Iterator[str]:
    """The rows of cells with a position modified in [start, end), per table
    (gsm, wcdma, lte, nr), ordered by cell id, read ``page`` rows at a time."""
    for radio, model in CELL_MODELS.items():
        fields = (model.cellid, model.mcc, model.mnc, model.lac, model.cid, model.psc,
                  model.lat, model.lon, model.radius, model.samples, model.created,
                  model.modified)
        last: str | None = None
        while True:
            cond = [model.lat.is_null(False), model.lon.is_null(False), model.modified >= start]
            if end is not None:
                cond.append(model.modified < end)
            if last is not None:
                cond.append(model.cellid > last)
            rows = list(model.select(*fields).where(*cond).order_by(model.cellid)
                        .limit(page).dicts())
            for row in rows:
                yield format_row(radio, row)
            if len(rows) < page:
                break
            last = rows[-1]["cellid"]


def diff_window(now: datetime) -> tuple[datetime, datetime]:
    """(start, end) of the diff due at ``now``: the last full hour."""
    end = now.replace(minute=0, second=0, microsecond=0)
    return end - timedelta(hours=1), end


def diff_name(end: datetime) -> str:
    return f"MLS-diff-cell-export-{end:%Y-%m-%dT%H}0000.csv.gz"


def full_name(day: date) -> str:
    return f"MLS-full-cell-export-{day:%Y-%m-%d}T000000.csv.gz"


def write_file(path: Path, lines: Iterator[str]) -> int:
    """Write the gzipped CSV to ``path`` atomically (a temporary file in the
    same folder, then a rename); the number of rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv.gz", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                              compresslevel=GZIP_LEVEL) as out:
            buf: list[str] = [HEADER + "\r\n"]
            for line in lines:
                buf.append(line + "\r\n")
                count += 1
                if len(buf) >= 1000:
                    out.write("".join(buf).encode("utf-8"))
                    buf = []
            out.write("".join(buf).encode("utf-8"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def s3_client(context: HostContext) -> Any:
    import boto3  # late: only with a bucket
    from botocore.config import Config

    endpoint = content_settings(context).s3_endpoint_url or None
    config = Config(s3={"addressing_style": "path"}) if endpoint else None
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def bucket_of(context: HostContext) -> str:
    return context.settings.asset_bucket or ""


def exists(context: HostContext, name: str) -> bool:
    """Whether the export file ``name`` was written already (folder or bucket)."""
    bucket = bucket_of(context)
    if not bucket:
        return (exports_dir(context) / name).is_file()
    from botocore.exceptions import ClientError

    try:
        s3_client(context).head_object(Bucket=bucket, Key=f"export/{name}")
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def write_export(context: HostContext, name: str, lines: Iterator[str],
                 output: Path | None = None) -> tuple[str, int]:
    """Write one export file; (where it went, number of rows).

    To ``output`` when given, else to ``ASSET_BUCKET`` under ``export/``
    when a bucket is set, else to the exports folder."""
    bucket = bucket_of(context)
    if output is not None or not bucket:
        path = (output or exports_dir(context)) / name
        count = write_file(path, lines)
        where = str(path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            count = write_file(path, lines)
            s3_client(context).upload_file(str(path), bucket, f"export/{name}")
        where = f"s3://{bucket}/export/{name}"
    log.info("cell_export_written", file=where, rows=count)
    return where, count


def export_diff(context: HostContext, now: datetime | None = None,
                output: Path | None = None) -> tuple[str, int]:
    start, end = diff_window(now or utcnow())
    return write_export(context, diff_name(end), export_lines(start, end), output)


def export_full(context: HostContext, now: datetime | None = None,
                output: Path | None = None) -> tuple[str, int]:
    today = (now or utcnow()).date()
    return write_export(context, full_name(today),
                        export_lines(today - timedelta(days=FULL_DAYS)), output)


# ---------------------------------------------------------------------------
# periodic jobs: each file once, at or after its time


def run_diff(context: HostContext, now: datetime | None = None) -> bool:
    """Write the diff of the last full hour, once it is :03 past and the file
    is not there yet."""
    now = now or utcnow()
    _, end = diff_window(now)
    if now < end + timedelta(minutes=DIFF_MINUTE) or exists(context, diff_name(end)):
        return False
    export_diff(context, now)
    return False


def run_full(context: HostContext, now: datetime | None = None) -> bool:
    """Write today's full export, once it is 00:37 and the file is not there yet."""
    now = now or utcnow()
    due = now.replace(hour=FULL_TIME[0], minute=FULL_TIME[1], second=0, microsecond=0)
    if now < due or exists(context, full_name(now.date())):
        return False
    export_full(context, now)
    return False
