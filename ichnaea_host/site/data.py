"""What the site's pages show: statistics, regions and downloads.

Every figure is read through :class:`SiteCache`: Redis first (the original's
keys and lifetimes), the read-only database second, and, when both fail, the
last good copy this process has seen, marked stale. A page never fails
because Redis or the database is down; it says what it could not show.

The host knows no kind of network here either: the series and the regional
columns are those of the installed station updaters (``PLUGIN_NAME``,
:func:`ichnaea_host.pipeline.stats.stat_keys`), labelled as the original did for its
three kinds, or as a station updater class declares in ``SITE_LABELS``.
"""

from __future__ import annotations

import calendar
import dataclasses
import fnmatch
import json
import math
import threading
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from ichnaea_host.core.calibration import Calibration
from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.content_settings import exports_dir
from ichnaea_host.core.files import asset_bucket, asset_client
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.models import Stat
from ichnaea_host.core.regions import region_name
from ichnaea_host.pipeline.stats import REGION_STATS_CACHE_KEY, region_stats, stat_keys

log = get_logger("ichnaea.site")

STATS_KEY = "cache:stats:4"
#: dropped by the pipeline when it rewrites region_stat
REGIONS_KEY = REGION_STATS_CACHE_KEY
DOWNLOADS_KEY = "cache:downloads:3"
HOUR = 3600
DOWNLOADS_TTL = 1800
HISTOGRAM_DAYS = 365

FRESH, STALE, MISSING = "fresh", "stale", "missing"


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of network as the site shows it."""

    name: str
    title: str
    series: str
    observations_key: int
    stations_key: int
    region_columns: tuple[tuple[str, str], ...]
    region_total: str | None

    @property
    def json_cache_key(self) -> str:
        return f"cache:stats_{self.name}_json:2"


def kinds(rt: Any) -> list[Kind]:
    """The installed station updaters, in name order."""
    out = []
    for name, cls in sorted(rt.plugins.station_updaters().items()):
        labels = cls.SITE_LABELS
        title = labels.title or name.capitalize()
        observations, stations = stat_keys(cls)
        out.append(Kind(name=name, title=title, series=labels.series or f"MLS {title}",
                        observations_key=observations, stations_key=stations,
                        region_columns=labels.region_columns or ((name, f"{title}s"),),
                        region_total=labels.region_total))
    return out


# ---------------------------------------------------------------------------
# the cache


#: ``_get``'s ``raw`` when Redis has not been asked yet
_UNREAD = object()


class SiteCache:
    """Redis, then the database, then this process's last good copy.

    :meth:`drawn` also keeps what a page made of a value (the regions table),
    for as long as the value stays the same.
    """

    def __init__(self) -> None:
        self._last: dict[str, Any] = {}
        #: key -> (the value's JSON, what was drawn from it)
        self._drawn: dict[str, tuple[bytes, Any]] = {}
        self._lock = threading.Lock()

    def get(self, rt: Any, key: str, ttl: int, compute: Callable[[], Any], empty: Any,
            valid: Callable[[Any], bool] = lambda value: True) -> tuple[Any, str]:
        """``(value, state)``; state is FRESH, STALE (an older copy) or MISSING.

        A cached value that ``valid`` rejects (written by another version) is
        computed again.
        """
        value, state, _ = self._get(rt, key, ttl, compute, empty, valid)
        return value, state

    def drawn(self, rt: Any, key: str, ttl: int, compute: Callable[[], Any], empty: Any,
              valid: Callable[[Any], bool], draw: Callable[[Any, str], Any]) -> tuple[Any, str]:
        """``(draw(value, state), state)``, drawn again only when the value changes.

        The value's JSON, as Redis holds it, tells whether it changed: a new
        ``region_stat`` (the pipeline drops the cached rows), or the hourly
        expiry bringing other figures, is drawn anew; the same figures are not.
        """
        raw = self._read(rt, key)
        with self._lock:
            seen = self._drawn.get(key)
        if raw is not None and seen is not None and seen[0] == raw:
            return seen[1], FRESH
        value, state, raw = self._get(rt, key, ttl, compute, empty, valid, raw)
        if state != FRESH or raw is None:
            return draw(value, state), state
        if seen is not None and seen[0] == raw:  # Redis is down; the database has the same
            return seen[1], state
        result = draw(value, state)
        with self._lock:
            self._drawn[key] = (raw, result)
        return result, state

    def _read(self, rt: Any, key: str) -> bytes | None:
        """The value's JSON in Redis (None: not there, or Redis is down)."""
        try:
            raw = rt.redis.get(key)
        except Exception as exc:  # noqa: BLE001 - Redis down: go on
            log.warning("site_cache_unavailable", key=key, error=type(exc).__name__)
            return None
        return bytes(raw) if raw else None

    def _get(self, rt: Any, key: str, ttl: int, compute: Callable[[], Any], empty: Any,
             valid: Callable[[Any], bool], raw: Any = _UNREAD) -> tuple[Any, str, bytes | None]:
        """``(value, state, the value's JSON)``; no JSON for a STALE or MISSING value."""
        if raw is _UNREAD:
            raw = self._read(rt, key)
        try:
            value = json.loads(raw) if raw else None
        except ValueError as exc:  # written by someone else: computed again
            log.warning("site_cache_unavailable", key=key, error=type(exc).__name__)
            value = None
        if value is not None and valid(value):
            with self._lock:
                self._last[key] = value
            return value, FRESH, raw
        try:
            value = compute()
        except Exception as exc:  # noqa: BLE001 - the database is down: say so
            log.warning("site_data_unavailable", key=key, error=f"{type(exc).__name__}: {exc}")
            with self._lock:
                if key in self._last:
                    return self._last[key], STALE, None
            return empty, MISSING, None
        with self._lock:
            self._last[key] = value
        raw = json.dumps(value, separators=(",", ":")).encode()
        try:
            rt.redis.set(key, raw, ex=ttl)
        except Exception as exc:  # noqa: BLE001
            log.warning("site_cache_not_saved", key=key, error=type(exc).__name__)
        return value, FRESH, raw


def list_of(*keys: str) -> Callable[[Any], bool]:
    """A check that a cached value is a list of dicts having ``keys``."""
    def check(value: Any) -> bool:
        return isinstance(value, list) and all(
            isinstance(item, dict) and all(k in item for k in keys) for item in value)
    return check


def points_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) for v in p)
        for p in value)


def downloads_dict(value: Any) -> bool:
    files = list_of("name", "path", "size")
    return isinstance(value, dict) and all(
        files(value.get(part)) for part in ("full", "diff1", "diff2")) and \
        list_of("name", "title", "text", "empty", "files")(value.get("sections")) and \
        all(files(section["files"]) for section in value["sections"])


# ---------------------------------------------------------------------------
# statistics


def _latest(rt: Any, key: int) -> int:
    query = (Stat.select(Stat.value).where(Stat.key == key)
             .order_by(Stat.time.desc()).limit(1))
    return int(rt.db.read(query).scalar() or 0)


def global_stats(rt: Any) -> list[dict[str, Any]]:
    """The latest total of every kind's networks and observations."""
    rows = []
    for kind in kinds(rt):
        rows.append({"name": f"{kind.title} networks", "value": _latest(rt, kind.stations_key)})
        rows.append({"name": f"{kind.title} observations",
                     "value": _latest(rt, kind.observations_key)})
    return rows


def accuracy_rows(rt: Any) -> list[dict[str, Any]]:
    """The measured accuracy per kind of answer over the last days
    (:mod:`ichnaea_host.core.calibration`): samples, median and 90th
    percentile error in metres, the share (per cent) of answers whose circle
    held the true position, and whether the kind answers from its measurements."""
    rows = []
    least = rt.settings.calibration_min_samples
    for kind, summary in sorted(rt.source(Calibration).summaries().items()):
        median, p90 = summary.error_quantile(0.5), summary.error_quantile(0.9)
        rows.append({"kind": kind, "samples": summary.samples,
                     "median": round(median) if median is not None else None,
                     "p90": round(p90) if p90 is not None else None,
                     "inside": round(100.0 * (summary.share_inside or 0.0), 1),
                     "measured": summary.samples >= least})
    return rows


def stats_sections(rt: Any) -> list[Any]:
    """The plugins' :class:`~ichnaea_host.core.sections.StatsSection` values, by name."""
    return sorted(rt.plugins.stats_sections.values(), key=lambda s: s.name)


def section_cache_key(section: Any) -> str:
    return f"cache:stats_section_{section.name}:1"


def section_rows(rt: Any, section: Any) -> list[dict[str, Any]]:
    """A section's ``(label, count)`` pairs as rows, each with its share of
    the total in per cent (one decimal)."""
    pairs = [(str(label), int(count)) for label, count in section.rows(rt)]
    total = sum(count for _, count in pairs)
    return [{"label": label, "count": count,
             "share": round(100.0 * count / total, 1) if total else 0.0}
            for label, count in pairs]


def month_ms(day: date) -> int:
    """The first of the day's month, 00:00 UTC, in Unix milliseconds."""
    return calendar.timegm((day.year, day.month, 1, 0, 0, 0)) * 1000


def histogram(rt: Any, key: int, today: date | None = None) -> list[list[int]]:
    """``[[month_ms, value], ...]``: the highest total per month of the last year."""
    since = (today or today_utc()) - timedelta(days=HISTOGRAM_DAYS)
    query = (Stat.select(Stat.time, Stat.value)
             .where((Stat.key == key) & (Stat.time >= since)).order_by(Stat.time))
    months: dict[int, int] = {}
    for row in rt.db.read(query):
        day = row.time if isinstance(row.time, date) else date.fromisoformat(str(row.time))
        ms = month_ms(day)
        months[ms] = max(months.get(ms, 0), int(row.value or 0))
    return [[ms, value] for ms, value in sorted(months.items())]


def series_json(kind: Kind, data: list[list[int]]) -> dict[str, Any]:
    return {"series": [{"title": kind.series, "data": data}]}


# ---------------------------------------------------------------------------
# regions


def sort_key(name: str) -> str:
    """The first ten letters of a name, lower-case ASCII (for client-side sorting)."""
    folded = unicodedata.normalize("NFKD", name.replace("\u2019", "'"))
    return folded.encode("ascii", "ignore").decode().lower()[:10]


def region_rows(rt: Any) -> list[dict[str, Any]]:
    """Every region of ``region_stat``, with its name and its count of every
    kind the table holds (0 where it has none); the most networks first."""
    counted = region_stats(rt)
    kinds = sorted({kind for per_kind in counted.values() for kind in per_kind})
    rows: list[dict[str, Any]] = []
    for code, per_kind in counted.items():
        name = region_name(code)
        rows.append({"code": code, "name": name or code, "known": name is not None,
                     "order": sort_key(name or code),
                     "values": {kind: per_kind.get(kind, 0) for kind in kinds}})
    rows.sort(key=lambda r: -sum(r["values"].values()))
    return rows


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    parts: tuple[str, ...]  # the region_stat kinds summed into it

    def value(self, row: dict[str, Any]) -> int:
        return sum(row["values"].get(part, 0) for part in self.parts)


def region_columns(rt: Any, rows: list[dict[str, Any]]) -> list[Column]:
    """The table's columns: each station updater's, then one for any other
    kind ``region_stat`` holds."""
    columns: list[Column] = []
    claimed: set[str] = set()
    for kind in kinds(rt):
        for column, header in kind.region_columns:
            columns.append(Column(header, (column,)))
            claimed.add(column)
        if kind.region_total and len(kind.region_columns) > 1:
            columns.append(Column(kind.region_total, tuple(c for c, _ in kind.region_columns)))
    present = sorted({col for row in rows for col in row["values"]})
    for column in present:
        if column not in claimed:
            columns.append(Column(column.upper(), (column,)))
    return columns


# ---------------------------------------------------------------------------
# downloads


def _size_kb(size: int) -> int:
    return round(size / 1024)  # half to even, as the original


def _split(files: list[dict[str, Any]], sections: Sequence[Any] = ()) -> dict[str, Any]:
    """The cell exports by kind (``full``, ``diff1``, ``diff2``), and the files
    of each plugin's :class:`~ichnaea_host.core.sections.DownloadSection`
    (``sections``: its title and texts, and the files matching its pattern,
    newest name first); a file a section claims is in no other list."""
    parts = []
    claimed: set[int] = set()
    for section in sections:
        mine = [f for f in files if fnmatch.fnmatchcase(f["name"], section.pattern)]
        claimed.update(id(f) for f in mine)
        parts.append({"name": section.name, "title": section.title, "text": section.text,
                      "empty": section.empty,
                      "files": sorted(mine, key=lambda f: f["name"], reverse=True)})
    files = [f for f in files if id(f) not in claimed]
    full = sorted((f for f in files if "diff-" not in f["name"] and "full-" in f["name"]),
                  key=lambda f: f["name"], reverse=True)
    diffs = sorted((f for f in files if "diff-" in f["name"]),
                   key=lambda f: f["name"], reverse=True)
    half = math.ceil(len(diffs) / 2)
    return {"full": full, "diff1": diffs[:half], "diff2": diffs[half:], "sections": parts}


def local_files(folder: Path, url: Callable[[str], str]) -> list[dict[str, Any]]:
    files = []
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                rel = path.relative_to(folder).as_posix()
                files.append({"name": path.name, "path": url(rel),
                              "size": _size_kb(path.stat().st_size)})
    return files


def bucket_files(rt: Any) -> list[dict[str, Any]]:
    s3 = asset_client(rt, in_request=True)
    base = rt.settings.asset_url.rstrip("/") + "/"
    files = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=asset_bucket(rt),
                                                           Prefix="export/")
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            files.append({"name": key.rsplit("/", 1)[-1], "path": urljoin(base, key),
                          "size": _size_kb(int(obj["Size"]))})
    return files


def downloads(rt: Any, url: Callable[[str], str]) -> dict[str, Any]:
    """The export files: ``{"full": [...], "diff1": [...], "diff2": [...],
    "sections": [...]}`` (:func:`_split`)."""
    files = bucket_files(rt) if asset_bucket(rt) else local_files(exports_dir(rt), url)
    sections = sorted(rt.plugins.download_sections.values(), key=lambda s: s.name)
    return _split(files, sections)
