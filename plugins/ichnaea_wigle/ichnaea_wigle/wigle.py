"""WiGLE CSV files as ``/v2/geosubmit`` reports.

The format, as its producers write it:

- a pre-header line ``WigleWifi-1.4,appRelease=...,model=...`` (or ``-1.6``,
  which WiGLE's Android app writes as a CSV record, quoted where needed);
- a header naming the columns: ``MAC,SSID,AuthMode,FirstSeen,Channel,RSSI,
  CurrentLatitude,CurrentLongitude,AltitudeMeters,AccuracyMeters,Type`` in
  1.4, with ``Frequency``, ``RCOIs`` and ``MfgrId`` in 1.6 and some ESP32
  wardrivers. Columns are found by their name, so any order and any extra
  column is read;
- one row per sighting of a network. ``Type`` is ``WIFI``, ``BT`` or ``BLE``
  (MAC address; the SSID column holds a Bluetooth device's name), or a cell:
  ``GSM``, ``WCDMA``, ``LTE``, ``NR`` with the identity in the MAC column as
  ``<MCC><MNC>_<LAC or TAC>_<cell id>`` (WiGLE's ``GsmOperator``: the MCC is
  three digits, the MNC the two or three after it) and the ARFCN/UARFCN/
  EARFCN/NRARFCN in ``Channel``; ``CDMA`` cells are named
  ``<SID>_<NID>_<BID>``, without a country, and are skipped, as the cell
  plugin skips CDMA.

Producers differ: WiGLE's app quotes SSIDs with commas (older versions
replaced the comma by ``_``), ESP32 firmwares write CRLF, an empty
``AccuracyMeters``, sometimes an SSID with commas unquoted (the row then has
more fields than the header: the extra fields are joined back into the
SSID), and a UTF-8 byte-order mark or invalid UTF-8 in names (replaced).

``FirstSeen`` is ``YYYY-MM-DD HH:MM:SS`` without a zone. WiGLE's format says
UTC, and the Android app writes UTC since August 2023 (before, the phone's
local time); GPS-based wardrivers write GPS time, which is UTC. It is read as
UTC unless the import is given the offset the file was written in.

**Reports.** Rows of one sighting, that is with the same ``FirstSeen`` second
and the same position (to 1e-7 degrees), become one report, whatever their
radio and wherever they are in the file (within the last
:data:`OPEN_REPORTS` sightings). No wider window: at 50 km/h a car covers
14 m a second, and a network joined to a report of another fix would be
learnt where it was not seen. The report's position is a GNSS one with
``AccuracyMeters`` as its accuracy (left out when empty or 0) and
``AltitudeMeters`` as its altitude (left out when 0, which WiGLE writes for
"unknown"); its timestamp is ``FirstSeen``.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

#: the columns a file must name
REQUIRED = ("MAC", "FirstSeen", "CurrentLatitude", "CurrentLongitude", "Type")
#: sightings kept open for rows of theirs further down the file
OPEN_REPORTS = 1000
#: reports queued at once
BATCH = 500
#: WiGLE's cell types and the radio names of the cell plugin
CELL_RADIOS = {"GSM": "gsm", "WCDMA": "wcdma", "UMTS": "wcdma", "LTE": "lte", "NR": "nr"}
BLUETOOTH = ("BT", "BLE")
CELL_KEY = re.compile(r"(\d{3})(\d{2,3})_(\d+)_(\d+)")
HEX = re.compile(r"[0-9a-f]{12}")
MAX_LAT = 85.051  # the pipeline's bound (Web Mercator)

# why a row was skipped (the summary's words)
NO_POSITION = "no position"
BAD_MAC = "invalid MAC"
BAD_CELL = "invalid cell identity"
CDMA = "CDMA cells"
MALFORMED = "malformed rows"
REFUSED = "refused by the submit checks"


class NotWigle(Exception):
    """The file is not a WiGLE CSV file, or cannot be read to its end."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}: line {line}: {message}")
        self.path = path
        self.line = line


@dataclass
class FileStats:
    rows: int = 0
    used: int = 0
    reports: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: FileStats) -> None:
        self.rows += other.rows
        self.used += other.used
        self.reports += other.reports
        self.skipped.update(other.skipped)

    def summary(self) -> str:
        text = (f"{self.rows} rows read, {self.used} used in {self.reports} "
                f"report{'' if self.reports == 1 else 's'}, {sum(self.skipped.values())} skipped")
        if self.skipped:
            text += " (" + ", ".join(f"{n} {reason}" for reason, n
                                     in sorted(self.skipped.items(), key=lambda i: -i[1])) + ")"
        return text


# ---------------------------------------------------------------------------
# the file


def open_text(path: Path, progress: Callable[[int], Any] | None = None) -> IO[str]:
    """The file as text (a byte-order mark dropped, undecodable bytes
    replaced: SSIDs are not always UTF-8), gunzipped when gzipped."""
    from ichnaea_host import open_data_file

    return open_data_file(path, progress, encoding="utf-8-sig", errors="replace")


def read_header(path: Path, rows: Iterator[list[str]], line: Callable[[], int]
                ) -> tuple[dict[str, int], int]:
    """Reads the pre-header and header lines: the column of each name (in
    lower case) and the number of fields of the header. Raises
    :class:`NotWigle` naming the line that is not WiGLE CSV."""
    first = next(rows, None)
    if first is None:
        raise NotWigle(path, 1, "empty file, not a WiGLE CSV file")
    if first and first[0].strip().lower().startswith("wiglewifi-"):
        header = next(rows, None)
    else:  # some tools leave the pre-header out
        header = first
    if header is None:
        raise NotWigle(path, line() + 1, "no header line after the WigleWifi pre-header")
    columns = {name.strip().lower(): i for i, name in reversed(list(enumerate(header)))}
    missing = [name for name in REQUIRED if name.lower() not in columns]
    if missing:
        shown = ",".join(header)[:80]
        if header is first:
            raise NotWigle(path, line(), "not a WiGLE CSV file: expected a 'WigleWifi-1.x,...' "
                                         f"line, found {shown!r}")
        raise NotWigle(path, line(), f"not a WiGLE CSV header: no {', '.join(missing)} column "
                                     f"in {shown!r}")
    return columns, len(header)


# ---------------------------------------------------------------------------
# rows


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(text: str) -> int | None:
    value = _float(text)
    return int(value) if value is not None and value == int(value) else None


def _mac(text: str) -> str | None:
    digits = text.strip().lower().replace(":", "").replace("-", "").replace(".", "")
    if not HEX.fullmatch(digits):
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def parse_time(text: str, offset: timedelta) -> int | None:
    """``FirstSeen`` in milliseconds since the epoch; None when unreadable."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone(offset) if offset else UTC)
    return int(when.timestamp()) * 1000


class Reader:
    """Turns the rows of one file into reports, counting what it skips."""

    def __init__(self, columns: dict[str, int], width: int, stats: FileStats,
                 offset: timedelta = timedelta(0)) -> None:
        self.columns = columns
        #: the fields of the header
        self.width = width
        self.ssid_at = columns.get("ssid")
        self.stats = stats
        self.offset = offset
        #: the reports of open sightings, by (FirstSeen, lat, lon)
        self.open: OrderedDict[tuple[str, float, float], dict[str, Any]] = OrderedDict()

    def value(self, row: list[str], name: str) -> str:
        at = self.columns.get(name)
        return row[at].strip() if at is not None and at < len(row) else ""

    def fit(self, row: list[str]) -> list[str] | None:
        """The row with a field per column, None when it is malformed (shorter
        than the header). A longer row held an unquoted SSID with commas when
        the SSID is the second column (some ESP32 firmwares): its fields are
        joined back; otherwise the fields after the header's are ignored."""
        extra = len(row) - self.width
        if extra < 0:
            return None
        if extra > 0 and self.ssid_at == 1:
            return [row[0], ",".join(row[1:2 + extra]), *row[2 + extra:]]
        return row

    def add(self, row: list[str]) -> list[dict[str, Any]]:
        """Reads one row; returns the reports it closes (sightings no longer open)."""
        if not any(cell.strip() for cell in row):
            return []  # an empty line
        self.stats.rows += 1
        fitted = self.fit(row)
        if fitted is None:
            self.stats.skipped[MALFORMED] += 1
            return []
        row = fitted
        kind = self.value(row, "type").upper() or "WIFI"
        lat = _float(self.value(row, "currentlatitude"))
        lon = _float(self.value(row, "currentlongitude"))
        if (lat is None or lon is None or not -MAX_LAT <= lat <= MAX_LAT
                or not -180.0 <= lon <= 180.0 or (lat == 0.0 and lon == 0.0)):
            self.stats.skipped[NO_POSITION] += 1
            return []
        entry = self.entry(kind, row)
        if entry is None:
            return []
        list_name, network = entry
        first_seen = self.value(row, "firstseen")
        key = (first_seen, round(lat, 7), round(lon, 7))
        report = self.open.get(key)
        if report is None:
            report = self.open[key] = self.new_report(first_seen, lat, lon, row)
        report.setdefault(list_name, []).append(network)
        closed = []
        while len(self.open) > OPEN_REPORTS:
            closed.append(self.open.popitem(last=False)[1])
        return closed

    def close(self) -> list[dict[str, Any]]:
        """The reports still open at the end of the file."""
        reports = list(self.open.values())
        self.open.clear()
        return reports

    def new_report(self, first_seen: str, lat: float, lon: float,
                   row: list[str]) -> dict[str, Any]:
        position: dict[str, Any] = {"latitude": lat, "longitude": lon, "source": "gnss"}
        accuracy = _float(self.value(row, "accuracymeters"))
        if accuracy is not None and accuracy > 0:
            position["accuracy"] = accuracy
        altitude = _float(self.value(row, "altitudemeters"))
        if altitude:
            position["altitude"] = altitude
        report: dict[str, Any] = {"position": position}
        timestamp = parse_time(first_seen, self.offset)
        if timestamp is not None:
            report["timestamp"] = timestamp
        return report

    def entry(self, kind: str, row: list[str]) -> tuple[str, dict[str, Any]] | None:
        """(report field, entry) of one row; None (counted) when skipped."""
        signal = _int(self.value(row, "rssi"))
        channel = _int(self.value(row, "channel"))
        if kind == "WIFI" or kind in BLUETOOTH:
            mac = _mac(self.value(row, "mac"))
            if mac is None:
                self.stats.skipped[BAD_MAC] += 1
                return None
            name = self.value(row, "ssid")
            entry: dict[str, Any] = {"macAddress": mac}
            if signal:
                entry["signalStrength"] = signal
            if kind in BLUETOOTH:
                if name:
                    entry["name"] = name
                return "bluetoothBeacons", entry
            if name:
                entry["ssid"] = name
            frequency = _int(self.value(row, "frequency"))
            if channel and channel > 1000 and not frequency:
                channel, frequency = None, channel  # old app versions: the frequency
            if channel:
                entry["channel"] = channel
            if frequency:
                entry["frequency"] = frequency
            return "wifiAccessPoints", entry
        radio = CELL_RADIOS.get(kind)
        if radio is None:
            self.stats.skipped[CDMA if kind == "CDMA" else f"{kind} rows"] += 1
            return None
        match = CELL_KEY.fullmatch(self.value(row, "mac"))
        if match is None:
            self.stats.skipped[BAD_CELL] += 1
            return None
        mcc, mnc, lac, cid = match.groups()
        entry = {"radioType": radio, "mobileCountryCode": int(mcc),
                 "mobileNetworkCode": int(mnc), "locationAreaCode": int(lac),
                 "cellId": int(cid),
                 # as NeoStumbler sends them: the MNC's leading zero is part of it
                 "mobileCountryCodeStr": mcc, "mobileNetworkCodeStr": mnc}
        if signal:
            entry["signalStrength"] = signal
        if channel:
            entry["arfcn"] = channel
        return "cellTowers", entry


def read_reports(path: Path, stats: FileStats, *, offset: timedelta = timedelta(0),
                 progress: Callable[[int], Any] | None = None) -> Iterator[list[dict[str, Any]]]:
    """The reports of one file, a few hundred at a time.

    Raises :class:`NotWigle` when the file is not WiGLE CSV (before any
    report) or cannot be read to its end (after the reports before the line).
    """
    with open_text(path, progress) as text:
        reader = csv.reader(text)
        try:
            rows = Reader(*read_header(path, iter(reader), lambda: reader.line_num),
                          stats, offset)
            batch: list[dict[str, Any]] = []
            for row in reader:
                batch.extend(rows.add(row))
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
        except csv.Error as exc:  # the line read
            raise NotWigle(path, reader.line_num, f"not CSV: {exc}") from exc
        except (OSError, EOFError) as exc:  # the line being read
            raise NotWigle(path, reader.line_num + 1,
                           f"cannot be read: {type(exc).__name__}: {exc}") from exc
        batch.extend(rows.close())
        if batch:
            yield batch


def check_header(path: Path) -> None:
    """Raises :class:`NotWigle` when the file does not start as WiGLE CSV."""
    with open_text(path) as text:
        reader = csv.reader(text)
        try:
            read_header(path, iter(reader), lambda: reader.line_num)
        except csv.Error as exc:
            raise NotWigle(path, reader.line_num, f"not CSV: {exc}") from exc
        except (OSError, EOFError) as exc:
            raise NotWigle(path, reader.line_num + 1,
                           f"cannot be read: {type(exc).__name__}: {exc}") from exc
