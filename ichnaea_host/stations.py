"""Radio-agnostic station machinery for the radio plugins.

A station is a network (an access point, a beacon, a cell) whose position we
learn from observations. The columns, the observation weights, the blocking
rule, the transition table (new, change, confirm, replace, block ...) and the
station score are the same for every network kind; a radio plugin supplies
its key, its limits and its signal weight by subclassing
:class:`StationShardUpdater`.
"""

from __future__ import annotations

import collections
import functools
import math
import operator
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import peewee
from pymysql.converters import escape_string

from . import geocode
from .db import BaseModel, BinaryKeyField, is_mysql, retry_on_lock, select_for_update
from .geo import A, F, circle_radius, distance
from .interfaces import LocationSource, Query, Region, StationUpdater, UpdateStats
from .log import get_logger
from .regions import region_name, region_radius

SOURCE_IDS = {"fixed": 0, "gnss": 3, "fused": 6, "query": 9}
QUERY_SOURCE = SOURCE_IDS["query"]
GNSS_SOURCE = SOURCE_IDS["gnss"]
BLOCK_DAYS = 2
MAX_OLD_WEIGHT = 10000.0
MAX_SAMPLES = 4294967295
MAX_WEIGHT = 1e9


def utcnow() -> datetime:
    return datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003 - naive UTC columns


# ---------------------------------------------------------------------------
# columns


def station_fields() -> dict[str, peewee.Field]:
    """The columns every station table has, besides its key."""
    return {
        "lat": peewee.DoubleField(null=True),
        "lon": peewee.DoubleField(null=True),
        "max_lat": peewee.DoubleField(null=True),
        "min_lat": peewee.DoubleField(null=True),
        "max_lon": peewee.DoubleField(null=True),
        "min_lon": peewee.DoubleField(null=True),
        "created": peewee.DateTimeField(null=True, index=True),
        "modified": peewee.DateTimeField(null=True, index=True),
        "radius": peewee.IntegerField(null=True),
        "region": peewee.CharField(max_length=2, null=True, index=True),
        "samples": peewee.BigIntegerField(null=True),
        "source": peewee.SmallIntegerField(null=True),
        "weight": peewee.DoubleField(null=True),
        "last_seen": peewee.DateField(null=True),
        "block_first": peewee.DateField(null=True),
        "block_last": peewee.DateField(null=True),
        "block_count": peewee.SmallIntegerField(null=True),
    }


def shard_model(table: str, key_name: str, key_field: peewee.Field,
                base: type[peewee.Model] = BaseModel) -> type[peewee.Model]:
    """A peewee model for one station shard table."""
    attrs: dict[str, Any] = {key_name: key_field, **station_fields(), "__module__": __name__}
    attrs["Meta"] = type("Meta", (), {"table_name": table,
                                      "indexes": ((("lat", "lon"), False),)})
    return type(f"Station_{table}", (base,), attrs)


# ---------------------------------------------------------------------------
# weights


def accuracy_weight(accuracy: float | None, max_accuracy: float) -> float:
    value = abs(accuracy) if accuracy else 10.0
    value = max(value, 10.0)
    return 0.0 if value > max_accuracy else math.sqrt(10.0 / value)


def age_weight(age: float | None) -> float:
    value = abs(age) if age else 2000.0
    value = max(value, 2000.0)
    return 0.0 if value > 20000 else min(math.sqrt(2000.0 / value), 1.0)


def speed_weight(speed: float | None) -> float:
    value = abs(speed) if speed else 1.0
    value = max(value, 1.0)
    return 0.0 if value > 50 else min(math.sqrt(5.0 / value), 1.0)


# ---------------------------------------------------------------------------
# blocking and scores


def is_blocked(row: Any, today: date) -> bool:
    if row.block_last is not None and (today - row.block_last).days < BLOCK_DAYS:
        return True
    if row.created is not None and row.block_count:
        age_days = abs((row.created.date() - today).days)
        return row.block_count >= int(round(age_days / 30.0))
    return False


def station_score(row: Any, now: datetime) -> float:
    """How much a station's position can be trusted (age, collection span, samples)."""
    modified = row.modified or now
    months = max((now - modified).days, 0) // 30
    age = 1.0 / math.sqrt(months + 1)
    last = max(modified.date(), row.last_seen) if row.last_seen else modified.date()
    created = (row.created or now).date()
    first = max(created, row.block_last) if row.block_last else created
    collection = min(max((last - first).days, 1) / 10.0, 1.0)
    samples = row.samples or 0
    if samples > 1 and not row.radius:
        samples = 1
    sample_weight = min(max(math.log2(max(samples, 1)), 0.5), 10.0)
    return age * collection * sample_weight


#: regions of the stations placed by this process, remembered per grid square
REGIONS = geocode.RegionGrid()


# ---------------------------------------------------------------------------
# the updater


#: what the updater keeps of an observation: (lat, lon, weight, from a query)
Point = tuple[float, float, float, bool]

#: metres per degree that no distance on the WGS-84 ellipsoid exceeds: a
#: meridian's arc is at most 111.694 km per degree of latitude (at the poles),
#: a parallel's at most 111.320 km per degree of longitude (at the equator),
#: and the geodesic is no longer than the path along the two
METRES_PER_DEGREE_BOUND = 111_700.0


def within(lat1: float, lon1: float, lat2: float, lon2: float, max_dist: float) -> bool:
    """``distance(...) <= max_dist``, without the Vincenty iterations when the
    degrees between the points settle it (observations of one network nearly
    always lie well within the limit)."""
    if (abs(lat1 - lat2) + abs(lon1 - lon2)) * METRES_PER_DEGREE_BOUND < max_dist * 0.999:
        return True
    return distance(lat1, lon1, lat2, lon2) <= max_dist


#: the corners of a station's box are ordered by a flat approximation when
#: the box is small (at most 0.1 by 0.2 degrees, about 11 km) and away from
#: the poles; its error there stays below 0.01 %, ten times less than this
_FLAT_ERROR = 1e-3
_E2 = F * (2 - F)


def station_radius(lat: float, lon: float, max_lat: float, max_lon: float,
                   min_lat: float, min_lon: float) -> int:
    """:func:`circle_radius`, computing the exact (Vincenty) distance only to
    the corners that may be the farthest: the others are ruled out by a flat
    approximation, with a margin ten times its error. Same result, about half
    the time of the four exact distances."""
    if max_lat == min_lat and max_lon == min_lon:  # one position: four equal corners
        return round(distance(lat, lon, max_lat, max_lon))
    corners = ((min_lat, min_lon), (min_lat, max_lon), (max_lat, min_lon), (max_lat, max_lon))
    if not (abs(lat) <= 70.0 and abs(max_lat) <= 70.0 and abs(min_lat) <= 70.0
            and max(abs(lat - max_lat), abs(lat - min_lat)) <= 0.1
            and max(abs(lon - max_lon), abs(lon - min_lon)) <= 0.2):
        return circle_radius(lat, lon, max_lat, max_lon, min_lat, min_lon)
    sin_lat = math.sin(math.radians(lat))
    w = 1.0 - _E2 * sin_lat * sin_lat
    meridian = A * (1.0 - _E2) / (w * math.sqrt(w))  # metres per radian of latitude
    normal = A / math.sqrt(w)  # per radian of longitude, times the cosine
    flat = [math.hypot(meridian * math.radians(c_lat - lat),
                       normal * math.cos(math.radians((c_lat + lat) / 2))
                       * math.radians(c_lon - lon))
            for c_lat, c_lon in corners]
    farthest = max(flat) * (1.0 - _FLAT_ERROR)
    return round(max(distance(lat, lon, c_lat, c_lon)
                     for (c_lat, c_lon), f in zip(corners, flat, strict=True)
                     if f * (1.0 + _FLAT_ERROR) >= farthest))


class Aggregate:
    """Weighted centre and bounding box of a group of observations."""

    def __init__(self, points: list[Point], max_dist: float) -> None:
        lats, lons, weights, _ = zip(*points, strict=True)
        self.max_lat, self.min_lat = max(lats), min(lats)
        self.max_lon, self.min_lon = max(lons), min(lons)
        self.consistent = within(self.min_lat, self.min_lon, self.max_lat, self.max_lon,
                                 max_dist)
        total = sum(weights)
        self.weight = total
        self.samples = len(points)
        self.lat = sum(map(operator.mul, lats, weights)) / total
        self.lon = sum(map(operator.mul, lons, weights)) / total

    @functools.cached_property
    def radius(self) -> int:
        return station_radius(self.lat, self.lon, self.max_lat, self.max_lon,
                              self.min_lat, self.min_lon)


TRANSITIONS = {
    # station label -> observation label -> status
    "none": {"gnss_consistent": "new", "query_consistent": "new",
             "gnss_inconsistent": "new_block", "query_inconsistent": "new_block"},
    "no_position": {"gnss_consistent": "change", "query_consistent": "change",
                    "gnss_inconsistent": "no_change", "query_inconsistent": "no_change"},
    "agree_gnss_position": {"gnss_consistent": "change", "query_consistent": "confirm",
                            "gnss_inconsistent": "block", "query_inconsistent": "block"},
    "agree_query_position": {"gnss_consistent": "replace", "query_consistent": "change",
                             "gnss_inconsistent": "block", "query_inconsistent": "block"},
    "disagree_position": {"gnss_consistent": "block", "query_consistent": "block",
                          "gnss_inconsistent": "block", "query_inconsistent": "block"},
    "disagree_old_position": {"gnss_consistent": "replace", "query_consistent": "replace",
                              "gnss_inconsistent": "block", "query_inconsistent": "block"},
}


#: labels of stations with a position; when that position came from GNSS (or
#: fixed/fused) reports, observations
#: from locate queries may confirm them but never move or block them: the
#: original let query data replace an old GNSS position and block a disagreeing
#: one, so a few clients (or a dual-band router's two MACs) could pollute it.
GNSS_LABELS = frozenset({"agree_gnss_position", "disagree_position",
                         "disagree_old_position"})


class StationShardUpdater(StationUpdater):
    """Learns stations kept in sharded tables keyed by one column.

    Subclasses set ``KEY`` (the key column), ``MAX_DIST`` (metres within which
    observations of one station must agree), ``MAX_ACCURACY`` (observations
    less precise than this weigh nothing) and implement :meth:`model`,
    :meth:`shard_of` and :meth:`signal_weight`.
    """

    KEY: ClassVar[str] = "mac"
    MAX_DIST: ClassVar[float] = 5000.0
    MAX_ACCURACY: ClassVar[float] = 200.0

    def model(self, shard: str) -> type[peewee.Model]:
        raise NotImplementedError

    def shard_of(self, key: str) -> str:
        raise NotImplementedError

    def signal_weight(self, observation: dict[str, Any]) -> float:
        return 1.0

    def region(self, lat: float, lon: float) -> str | None:
        """The region code of a station's position (from the shipped region shapes)."""
        return REGIONS.region(lat, lon)

    def weight(self, observation: dict[str, Any]) -> float:
        return (
            self.signal_weight(observation)
            * accuracy_weight(observation.get("accuracy"), self.MAX_ACCURACY)
            * age_weight(observation.get("age"))
            * speed_weight(observation.get("speed"))
        )

    # -- the update
    def update(self, shard: str, observations: list[dict[str, Any]]) -> UpdateStats:
        stats = UpdateStats()
        key_name, weigh = self.KEY, self.weight
        groups: dict[str, list[Point]] = {}
        for obs in observations:
            weight = weigh(obs)
            key = obs.get(key_name)
            if weight <= 0.0 or key is None:
                stats.dropped += 1
                continue
            point = (obs["lat"], obs["lon"], weight, obs.get("source") == "query")
            group = groups.get(key)
            if group is None:
                groups[key] = [point]
            else:
                group.append(point)
        if not groups:
            return stats
        model = self.model(shard)

        def transaction() -> UpdateStats:
            run = UpdateStats(dropped=stats.dropped)
            with model._meta.database.atomic():
                self._apply(model, groups, run)
            return run

        def count_retry(errno: int) -> None:
            self.context.metrics.incr("data.station.dberror",
                                      tags=[f"errno:{errno}", f"type:{self.PLUGIN_NAME}"])

        return retry_on_lock(transaction, on_retry=count_retry)

    def _apply(self, model: type[peewee.Model], groups: dict[str, list[Point]],
               stats: UpdateStats) -> None:
        now = utcnow()
        today = now.date()
        key_field = getattr(model, self.KEY)
        rows = read_rows(model, key_field, list(groups))
        writes: list[dict[str, Any]] = []
        confirms: list[str] = []
        for key, points in groups.items():
            stats.observations += len(points)
            row: Any = rows.get(key)
            if row is not None and is_blocked(row, today):
                continue
            gnss = [p for p in points if not p[3]]
            used, source = (gnss, GNSS_SOURCE) if gnss else (points, QUERY_SOURCE)
            agg = Aggregate(used, self.MAX_DIST)
            label = self._station_label(row, used, today)
            status = TRANSITIONS[label][
                f"{'gnss' if source == GNSS_SOURCE else 'query'}_"
                f"{'consistent' if agg.consistent else 'inconsistent'}"]
            if (source == QUERY_SOURCE and label in GNSS_LABELS
                    and row.source != QUERY_SOURCE and status != "confirm"):
                status = "no_change"  # locate queries never move or block a GNSS station
            if status == "no_change":
                continue
            if status == "confirm":
                if row.last_seen != today:
                    confirms.append(key)
                stats.confirmed += 1
                continue
            writes.append(self._values(status, key, row, agg, source, now))
            if status in ("new", "new_block"):
                stats.new += 1
            elif status in ("change", "replace"):
                stats.changed += 1
            if status in ("block", "new_block"):
                stats.blocked += 1
        if writes:
            write_rows(model, key_field, writes)
        if confirms:
            model.update(last_seen=today).where(key_field.in_(confirms)).execute()

    def _station_label(self, row: Any, points: list[Point], today: date) -> str:
        if row is None:
            return "none"
        lat, lon = row.lat, row.lon
        if lat is None or lon is None:
            return "no_position"
        max_dist = self.MAX_DIST
        if all(within(p[0], p[1], lat, lon, max_dist) for p in points):
            return "agree_query_position" if row.source == QUERY_SOURCE else \
                "agree_gnss_position"
        if row.modified is not None and row.modified.date() < today - timedelta(days=365):
            return "disagree_old_position"
        return "disagree_position"

    def _values(self, status: str, key: str, row: Any, agg: Aggregate, source: int,
                now: datetime) -> dict[str, Any]:
        today = now.date()
        if row is None:
            values = dict.fromkeys(COPIED)
        else:
            values = {name: getattr(row, name) for name in COPIED}
        values[self.KEY] = key
        values["modified"] = now
        if status in ("new", "new_block"):
            values["created"] = now
        if status in ("new", "replace"):
            values.update(self._position(agg.lat, agg.lon, agg.max_lat, agg.min_lat,
                                         agg.max_lon, agg.min_lon, radius=agg.radius))
            values.update(samples=min(agg.samples, MAX_SAMPLES),
                          weight=min(agg.weight, MAX_WEIGHT), source=source, last_seen=today)
        elif status == "change":
            old_weight = 0.0 if row.lat is None else min(row.weight or 0.0, MAX_OLD_WEIGHT)
            lat = (agg.lat * agg.weight + (row.lat or 0.0) * old_weight) / (agg.weight +
                                                                           old_weight)
            lon = (agg.lon * agg.weight + (row.lon or 0.0) * old_weight) / (agg.weight +
                                                                           old_weight)
            bounds = _union(agg, row)
            position = self._position(lat, lon, *bounds)
            if row.region and row.lat is not None:
                position["region"] = position["region"] or row.region
            values.update(position)
            values.update(samples=min((row.samples or 0) + agg.samples, MAX_SAMPLES),
                          weight=min((row.weight or 0.0) + agg.weight, MAX_WEIGHT),
                          source=source, last_seen=today)
        elif status in ("block", "new_block"):
            region = values["region"] if status == "block" else None
            values.update(lat=None, lon=None, max_lat=None, min_lat=None, max_lon=None,
                          min_lon=None, radius=None, samples=None, weight=None, source=None,
                          last_seen=None, region=region, block_last=today,
                          block_first=values["block_first"] or today,
                          block_count=min((values["block_count"] or 0) + 1, 255))
        return values

    def _position(self, lat: float, lon: float, max_lat: float, min_lat: float,
                  max_lon: float, min_lon: float, radius: int | None = None) -> dict[str, Any]:
        if radius is None:
            radius = station_radius(lat, lon, max_lat, max_lon, min_lat, min_lon)
        return {
            "lat": lat, "lon": lon, "max_lat": max_lat, "min_lat": min_lat,
            "max_lon": max_lon, "min_lon": min_lon, "radius": radius,
            "region": self.region(lat, lon),
        }


#: the station columns an update starts from (all but the key and ``modified``)
COPIED = ("lat", "lon", "max_lat", "min_lat", "max_lon", "min_lon", "created", "radius",
          "region", "samples", "source", "weight", "last_seen", "block_first", "block_last",
          "block_count")


# ---------------------------------------------------------------------------
# reading and writing station rows on MySQL, without peewee's query objects
# (building and converting them cost more than running the statements)


def _quote(db: Any, name: str) -> str:
    return f"{db.quote[0]}{name}{db.quote[1]}"


def _key_literal(value: Any) -> str:
    """A binary key (hex text, as the models show it) as a MySQL literal."""
    raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    return f"X'{raw.hex()}'"


#: what stands for NULL in a packed row (no column's text is empty: the
#: region codes are two letters, every other column a number, a date or a key)
_PACKED_NULL = ""


@functools.cache
def _row_reader(model: type[peewee.Model]) -> tuple[str, Any, list[Any], int] | None:
    """How to read a model's rows on MySQL as one packed text value each:
    the ``CONCAT_WS`` expression, the named tuple, the text -> value function
    of every column and the key's index; None when a column's type has no
    such function.

    pymysql decodes every value of every row in Python, a date or a time
    dearly: with one comma-separated text value split here, reading a row
    costs about half as much. MySQL writes a DOUBLE's shortest exact text,
    so the floats come back unchanged.
    """
    db = model._meta.database
    fields = model._meta.sorted_fields
    parts = []
    converters: list[Any] = []
    for field in fields:
        column = _quote(db, field.column_name)
        kind = type(field)
        if isinstance(field, BinaryKeyField):  # lowercase hex, as the models show keys
            column, convert = f"LOWER(HEX({column}))", str
        elif kind in (peewee.FloatField, peewee.DoubleField):
            convert = float
        elif kind in (peewee.IntegerField, peewee.BigIntegerField, peewee.SmallIntegerField):
            convert = int
        elif kind is peewee.DateTimeField:
            convert = datetime.fromisoformat
        elif kind is peewee.DateField:
            convert = date.fromisoformat
        elif kind is peewee.CharField:
            convert = str
        else:
            return None
        parts.append(f"IFNULL({column}, '{_PACKED_NULL}')")
        converters.append(convert)
    row_type = collections.namedtuple(f"{model.__name__}Row",  # type: ignore[misc]
                                      [f.name for f in fields])
    key_index = fields.index(model._meta.primary_key)
    return f"CONCAT_WS(',', {', '.join(parts)})", row_type, converters, key_index


def read_rows(model: type[peewee.Model], key_field: peewee.Field,
              keys: list[str]) -> dict[str, Any]:
    """The rows of these keys as named tuples by key, locked until the
    transaction ends."""
    reader = _row_reader(model) if is_mysql(model) else None
    if reader is None or not isinstance(key_field, BinaryKeyField) \
            or key_field is not model._meta.primary_key:
        query = select_for_update(model.select().where(key_field.in_(keys)))
        return {getattr(r, key_field.name): r for r in query.namedtuples()}
    db = model._meta.database
    packed, row_type, converters, key_index = reader
    cursor = db.execute_sql(
        f"SELECT {packed} FROM {_quote(db, model._meta.table_name)} "
        f"WHERE {_quote(db, key_field.column_name)} IN "
        f"({', '.join(map(_key_literal, keys))}) FOR UPDATE")
    rows = {}
    for (text,) in cursor.fetchall():
        row = row_type._make([None if value == _PACKED_NULL else convert(value)
                              for convert, value in zip(converters, text.split(","),
                                                        strict=True)])
        rows[row[key_index]] = row
    return rows


def write_rows(model: type[peewee.Model], key_field: peewee.Field,
               rows: list[dict[str, Any]], chunk: int = 500) -> None:
    """Insert the station rows, replacing every column of the existing ones.

    The same statement as :func:`ichnaea_host.db.upsert` with every column
    preserved, written out directly: building it through peewee's query
    objects cost more than running it.
    """
    db = model._meta.database
    fields = model._meta.sorted_fields
    table = _quote(db, model._meta.table_name)
    names = [_quote(db, f.column_name) for f in fields]
    others = [n for f, n in zip(fields, names, strict=True) if f is not key_field]
    mysql = is_mysql(model)
    if mysql:
        conflict = "ON DUPLICATE KEY UPDATE " + ", ".join(f"{n} = VALUES({n})" for n in others)
    else:
        conflict = (f"ON CONFLICT ({_quote(db, key_field.column_name)}) DO UPDATE SET "
                    + ", ".join(f"{n} = excluded.{n}" for n in others))
    insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES "
    if mysql:  # literals: pymysql's own escaping is the slowest part
        literals = _column_literals(model)
        for start in range(0, len(rows), chunk):
            rendered = ", ".join(
                "(" + ", ".join([_NULL if (value := row.get(name)) is None else literal(value)
                                 for name, literal in literals]) + ")"
                for row in rows[start:start + chunk])
            db.execute_sql(f"{insert}{rendered} {conflict}")
        return
    placeholders = "(" + ", ".join([db.param] * len(fields)) + ")"
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        params = [None if row.get(f.name) is None else f.db_value(row[f.name])
                  for row in part for f in fields]
        db.execute_sql(f"{insert}{', '.join([placeholders] * len(part))} {conflict}", params)


_NULL = "NULL"


@functools.cache
def _column_literals(model: type[peewee.Model]) -> list[tuple[str, Any]]:
    """(field name, value -> MySQL literal) of every column of a model."""
    out: list[tuple[str, Any]] = []
    for field in model._meta.sorted_fields:
        kind = type(field)
        literal: Any
        if isinstance(field, BinaryKeyField):
            literal = _key_literal
        elif kind in (peewee.FloatField, peewee.DoubleField):
            literal = _float_literal
        elif kind in (peewee.IntegerField, peewee.BigIntegerField, peewee.SmallIntegerField):
            literal = _int_literal
        else:
            # dates and region codes: a batch holds few different values
            literal = functools.lru_cache(maxsize=1024, typed=True)(
                functools.partial(_field_literal, field))
        out.append((field.name, literal))
    return out


def _float_literal(value: Any) -> str:
    """17 significant digits, which give back the same double, in exponent
    form: a DOUBLE literal, not a DECIMAL one (and half the time of ``repr``)."""
    text = f"{value:.16e}"
    if text[-1] in "fn":  # inf, nan
        raise ValueError(f"{text} cannot be stored")
    return text


def _int_literal(value: Any) -> str:
    return str(int(value))


def _field_literal(field: peewee.Field, value: Any) -> str:
    kind = type(value)
    if kind is datetime:
        return "'" + value.isoformat(" ") + "'"
    if kind is date:
        return "'" + value.isoformat() + "'"
    return mysql_literal(field.db_value(value))


def mysql_literal(value: Any) -> str:
    """A MySQL literal of a station column value (floats, ints, keys, dates, codes)."""
    kind = type(value)
    if value is None:
        return "NULL"
    if kind is float:
        text = repr(value)
        if "e" in text:
            return text
        if not math.isfinite(value):
            raise ValueError(f"{text} cannot be stored")
        return text + "e0"  # a DOUBLE literal, not a DECIMAL one
    if kind is int:
        return str(value)
    if kind is bytes:
        return f"X'{value.hex()}'"
    if kind is datetime:
        return f"'{value.isoformat(' ')}'"
    if kind is date:
        return f"'{value.isoformat()}'"
    if kind is bool:
        return "1" if value else "0"
    return "'" + escape_string(str(value)) + "'"


def _union(agg: Aggregate, row: Any) -> tuple[float, float, float, float]:
    def pick(values: Iterable[float | None], func: Any) -> float:
        return func(v for v in values if v is not None)

    max_lat = pick((agg.max_lat, row.lat, row.max_lat, row.min_lat), max)
    min_lat = pick((agg.min_lat, row.lat, row.max_lat, row.min_lat), min)
    max_lon = pick((agg.max_lon, row.lon, row.max_lon, row.min_lon), max)
    min_lon = pick((agg.min_lon, row.lon, row.max_lon, row.min_lon), min)
    return max_lat, min_lat, max_lon, min_lon


def load_station_regions(db: peewee.Database, model_for_shard: Any, shard_of: Any,
                         key_name: str, keys: Iterable[str]) -> list[Any]:
    """Known, unblocked stations with a region, one query per shard table of
    ``db`` (the web tier's read-only connection)."""
    by_shard: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        by_shard[shard_of(key)].append(key)
    today = utcnow().date()
    found: list[Any] = []
    for shard, shard_keys in sorted(by_shard.items()):
        model = model_for_shard(shard)
        key_field = getattr(model, key_name)
        query = model.select().where(key_field.in_(shard_keys), model.region.is_null(False))
        found.extend(row for row in query.bind(db) if not is_blocked(row, today))
    return found


def regions_from_stations(stations: Iterable[Any], source: str) -> list[Region]:
    """One region answer per region the stations lie in, scored by their scores."""
    now = utcnow()
    scores: dict[str, float] = defaultdict(float)
    for station in stations:
        scores[station.region] += station_score(station, now)
    results = []
    for code, score in sorted(scores.items()):
        name = region_name(code)
        if name is not None:
            results.append(Region(code=code, name=name, accuracy=region_radius(code),
                                  score=score, source=source))
    return results


class StationRegionSource(LocationSource):
    """Answers ``/v1/country`` from the regions stored on learnt stations.

    A radio plugin subclasses it with ``PLUGIN_NAME`` (also the key of its
    lookups in ``query.networks``), ``KEY`` and the two shard functions.
    """

    KIND = "region"
    INTERNAL = True
    KEY: ClassVar[str] = "mac"

    def model(self, shard: str) -> type[peewee.Model]:
        raise NotImplementedError

    def shard_of(self, key: str) -> str:
        raise NotImplementedError

    def should_search(self, query: Query, results: Any) -> bool:
        return bool(query.networks.get(self.PLUGIN_NAME))

    def search(self, query: Query) -> list[Region]:
        keys = [n[self.KEY] for n in query.networks.get(self.PLUGIN_NAME) or []]
        try:
            stations = load_station_regions(self.context.db.ro, self.model, self.shard_of,
                                            self.KEY, keys)
        except (peewee.DatabaseError, peewee.InterfaceError, OSError) as exc:
            get_logger("ichnaea.stations").warning("station_lookup_failed",
                                                   source=self.PLUGIN_NAME,
                                                   error=type(exc).__name__)
            return []
        return regions_from_stations(stations, self.PLUGIN_NAME)

