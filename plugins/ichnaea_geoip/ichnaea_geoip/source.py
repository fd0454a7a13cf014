"""GeoIP position and region sources, the heartbeat check and the doctor's check."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ichnaea_host import (
    CheckResult,
    HeartbeatCheck,
    Position,
    PositionSource,
    Query,
    Region,
    RegionSource,
    genc_code,
    get_logger,
    region_name,
    region_radius,
)

from .settings import GeoIPSettings

log = get_logger("ichnaea.geoip")

VALID_TYPES = ("GeoIP2-City", "GeoLite2-City", "DBIP-City-Lite", "DBIP-Location (compat)")
CITY_RADIUS = 25000.0
SUB_RADIUS = 400000.0
CITY_RADII = {2643743: 40000.0, 5128581: 41000.0, 2950159: 27000.0}
SUB_RADII = {"AU": 1.2e6, "BR": 1e6, "CA": 1.4e6, "CD": 5e5, "CL": 5e5, "CN": 1e6, "DZ": 6e5,
             "EG": 5e5, "GL": 1.6e6, "ID": 5.5e5, "KZ": 5.5e5, "LY": 5e5, "ML": 6e5, "NE": 6e5,
             "RU": 1.2e6, "SA": 6.5e5, "SD": 4.5e5, "SO": 5e5, "US": 1.2e6}
REGION_SCORE = {"GB": 0.8, "US": 0.8, "SE": 0.7, "CN": 0.6}
DEFAULT_REGION_SCORE = 0.3

#: path -> (the file's identity when opened, its reader or None, when to look again)
_readers: dict[str, tuple[tuple[int, int, int] | None, Any, float]] = {}
_lock = threading.Lock()
#: a usable database file is looked at again (replaced? rewritten?) this often
RECHECK_SECONDS = 1.0


def database_path(context: Any, settings: GeoIPSettings) -> Path:
    if settings.path:
        return Path(settings.path)
    path = Path(context.settings.var_dir) / "geoip" / "demo-city.mmdb"
    if not path.exists():
        from .demo import build_demo_database

        build_demo_database(path)
        log.info("geoip_demo_database_built", path=str(path))
    return path


def _identity(path: str) -> tuple[int, int, int] | None:
    """What changes when the file is replaced or rewritten; None when it is missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _configured(context: Any, settings: GeoIPSettings) -> str:
    """The configured path, as text, without looking at the disk."""
    if settings.path:
        return str(settings.path)
    return os.path.join(context.settings.var_dir, "geoip", "demo-city.mmdb")


def reader(context: Any, settings: GeoIPSettings) -> Any | None:
    """The process's reader of the configured database; None when it is unusable.

    A database that appears after start-up is picked up at the next lookup,
    one that is replaced (as ``geoipupdate`` does) or rewritten within
    ``RECHECK_SECONDS``: a usable file is not looked at on every request. An
    unusable one is reported once, not at every request.
    """
    key = _configured(context, settings)
    cached = _readers.get(key)
    if cached is not None and cached[1] is not None and time.monotonic() < cached[2]:
        return cached[1]
    try:
        database_path(context, settings)  # the demo database is built on first use
    except Exception as exc:  # noqa: BLE001 - a broken demo build must not stop the web tier
        log.error("geoip_unavailable", error=repr(exc))
        return None
    identity = _identity(key)
    with _lock:
        cached = _readers.get(key)
        if cached is not None and cached[0] == identity:
            _readers[key] = (identity, cached[1], time.monotonic() + RECHECK_SECONDS)
            return cached[1]
        db = _open(key)
        _readers[key] = (identity, db, time.monotonic() + RECHECK_SECONDS)
        return db


def diagnose(path: str) -> tuple[Any | None, str | None]:
    """Open the database at ``path``: (its reader, None) when it is a usable
    City database, else (None, one sentence saying what is wrong with it)."""
    import geoip2.database
    from maxminddb import InvalidDatabaseError

    if not os.path.exists(path):
        return None, f"{path} is missing"
    if os.path.isdir(path):
        return None, f"{path} is a folder, not a database file"
    if not os.access(path, os.R_OK):
        return None, f"{path} is not readable by this process (permissions)"
    try:
        db = geoip2.database.Reader(path)
        kind = db.metadata().database_type
    except (OSError, ValueError, InvalidDatabaseError) as exc:
        return None, f"{path} is not a MaxMind-format database ({type(exc).__name__})"
    if kind not in VALID_TYPES:
        db.close()
        return None, (f"{path} is a {kind} database, not a City one "
                      f"({', '.join(VALID_TYPES)})")
    return db, None


def _open(path: str) -> Any | None:
    db, problem = diagnose(path)
    if db is None:
        log.error("geoip_unavailable", path=path, error=problem,
                  effect="no GeoIP answers until the file is fixed (picked up without a restart)")
        return None
    log.info("geoip_opened", path=path, database_type=db.metadata().database_type)
    return db


def is_demo(settings: GeoIPSettings) -> bool:
    """Whether the demo database answers: ``GEOIP_PATH`` is not set."""
    return not settings.path


class Record:
    def __init__(self, code: str, lat: float, lon: float, radius: float,
                 region_radius_m: float, city: bool, score: float) -> None:
        self.code, self.lat, self.lon = code, lat, lon
        self.radius, self.region_radius, self.city, self.score = (radius, region_radius_m,
                                                                  city, score)


def radius_scale(settings: GeoIPSettings) -> float:
    return float(settings.radius_scale)


def lookup(context: Any, settings: GeoIPSettings, ip: str | None) -> Record | None:
    """The database's record for ``ip`` with the radius to answer, or None.

    The radius is the smallest of what is known: the region's and the
    subdivision's extent, and the record's ``accuracy_radius`` times the
    ``radius_scale`` setting. A record without an ``accuracy_radius`` (some
    databases leave it out) falls back to the original's city radii.
    """
    if not ip:
        return None
    db = reader(context, settings)
    if db is None:
        return None
    scale = radius_scale(settings)
    try:
        found = db.city(ip)
    except Exception:  # noqa: BLE001 - AddressNotFound, bad address
        return None
    lat, lon = found.location.latitude, found.location.longitude
    code = genc_code(found.country.iso_code)
    if not lat or not lon or not code:
        return None
    full_radius = region_radius(code)
    radius = full_radius
    if found.subdivisions:
        radius = min(SUB_RADII.get(code, SUB_RADIUS), radius)
    city = bool(found.city.geoname_id)
    if found.location.accuracy_radius:
        # The database's own estimate, widened from its 67 % to the API's 95 %.
        # It wins over the city's extent: a record that is unsure of its city
        # (a wide radius) must not be answered with a city-sized circle.
        radius = min(found.location.accuracy_radius * 1000.0 * scale, radius)
    elif city:
        radius = min(CITY_RADII.get(found.city.geoname_id, CITY_RADIUS), radius)
    score = REGION_SCORE.get(code, DEFAULT_REGION_SCORE) if city else 0.9
    return Record(code, round(lat, 7), round(lon, 7), round(radius, 1), full_radius, city,
                  score)


class GeoIPPositionSource(PositionSource):
    PLUGIN_NAME = "geoip"
    SETTINGS = GeoIPSettings
    settings: GeoIPSettings
    #: error / accuracy at each ?confidence= level: the "geoip" query set of
    #: bench/accuracy.py (2026-12-07)
    CONFIDENCE = {50: 0.475, 60: 0.545, 68: 0.631, 75: 0.682, 80: 0.726,
                  85: 0.814, 90: 0.892, 95: 1.022, 99: 1.277}
    DEFAULT_ORDER = 50
    FALLBACK_FIELD = "ipf"

    def should_search(self, query: Query, results: Any) -> bool:
        return bool(query.ip)

    def search(self, query: Query) -> list[Position]:
        record = lookup(self.context, self.settings, query.ip)
        if record is None:
            return []
        return [Position(lat=record.lat, lon=record.lon, accuracy=record.radius,
                         score=record.score, source="geoip",
                         fallback="ipf" if query.has_networks else None)]


class GeoIPRegionSource(RegionSource):
    PLUGIN_NAME = "geoip"
    SETTINGS = GeoIPSettings
    settings: GeoIPSettings
    DEFAULT_ORDER = 50
    FALLBACK_FIELD = "ipf"

    def should_search(self, query: Query, results: Any) -> bool:
        return bool(query.ip)

    def search(self, query: Query) -> list[Region]:
        record = lookup(self.context, self.settings, query.ip)
        if record is None:
            return []
        name = region_name(record.code)
        if name is None:
            return []
        return [Region(code=record.code, name=name, accuracy=record.region_radius,
                       score=record.score, source="geoip",
                       fallback="ipf" if query.has_networks else None)]


class GeoIPHeartbeat(HeartbeatCheck):
    PLUGIN_NAME = "geoip"
    SETTINGS = GeoIPSettings
    settings: GeoIPSettings

    def check(self) -> dict[str, Any]:
        start = time.perf_counter()
        db = reader(self.context, self.settings)
        # "database": "demo" when the demo database answers (GEOIP_PATH unset),
        # else the configured file's type ("GeoLite2-City", ...), None when it
        # is unusable. The other four fields are the original's.
        demo = is_demo(self.settings)
        if db is None:
            return {"up": False, "time": 0, "age_in_days": -1, "version": None,
                    "database": "demo" if demo else None}
        meta = db.metadata()
        built = datetime.fromtimestamp(meta.build_epoch, UTC)
        return {
            "up": True,
            "time": int((time.perf_counter() - start) * 1000),
            "age_in_days": round((datetime.now(UTC) - built).total_seconds() / 86400),
            "version": built.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "database": "demo" if demo else meta.database_type,
        }


#: a database older than this is said to be stale (GeoLite2 is rebuilt twice a
#: week, DB-IP Lite monthly)
STALE_DAYS = 45


def doctor_check(context: Any, settings: GeoIPSettings | None) -> CheckResult:
    """``ichnaea doctor``'s line on the GeoIP database: configured, usable, real
    (not the demo) and recent."""
    settings = settings or GeoIPSettings()
    db = reader(context, settings)
    where = _configured(context, settings)
    if db is None:
        found, problem = diagnose(where)
        if found is not None:  # fixed since the reader last looked
            found.close()
        return CheckResult("geoip", "FAIL",
                           f"{problem or where + ' is unusable'}: no GeoIP answers",
                           fix="point GEOIP_PATH at a GeoLite2/GeoIP2/DB-IP City .mmdb file "
                               "readable by the service")
    meta = db.metadata()
    built = datetime.fromtimestamp(meta.build_epoch, UTC)
    days = int((datetime.now(UTC) - built).total_seconds() // 86400)
    if not settings.path:
        return CheckResult("geoip", "warning",
                           f"the demo database ({where}, a few cities only): IP-only "
                           "requests elsewhere get no answer",
                           fix="set GEOIP_PATH to a GeoLite2/GeoIP2/DB-IP City database")
    if days > STALE_DAYS:
        return CheckResult("geoip", "warning",
                           f"{meta.database_type} at {where} is {days} days old",
                           fix="update it (geoipupdate, or DB-IP's monthly file)")
    return CheckResult("geoip", "ok", f"{meta.database_type} at {where}, {days} days old")
