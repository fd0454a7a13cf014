"""Answering geolocate queries from the learnt access points.

The steps follow the original service (spec/api.md §3.3): the known,
unblocked networks of the query are looked up; fewer than two reveal nothing;
networks farther apart than ``cluster_meters`` never form one answer
(complete-linkage clusters); each cluster of two or more is one candidate,
scored by the sum of its station scores. Two things differ, on purpose:

* **Weights.** Each network counts ``score * age factor * amplitude /
  range²``: the amplitude of its signal relative to the strongest of the
  query (``10 ** (dBm / 20)``, so 6 dB weaker counts half), and the range it
  is heard over, from its learnt ``radius`` (plus ``station_range`` spread
  over its samples, for networks seen only a few times). A network whose
  observations spread over a kilometre (it moved, or travels) hardly counts,
  instead of pulling the answer away. The ``max_networks`` best-scored
  networks are used (the original kept the lowest-scored).
* **Accuracy.** The answer is a weighted mean, so its error is that of a
  mean: ``sqrt(spread² / n + Σ w² range² / (Σ w)²)``, where ``spread²`` is the
  weighted mean squared distance of the networks from the answer and ``n``
  the effective number of networks (``(Σ w)² / Σ w²``). On the benchmark
  world the true position lies inside that circle for about 95 % of
  answers, where the original's 95th percentile of the networks' distances
  holds for about 88 % (``bench/README.md``). It is clamped to
  ``min_accuracy`` .. ``max_accuracy`` as the original.

Stations are read with one SQL statement per query: one ``SELECT`` per shard
table, each naming its table and its keys, joined by ``UNION ALL``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

import numpy as np
import peewee

from ichnaea_host.interfaces import LocationSource, Position, Query
from ichnaea_host.log import get_logger
from ichnaea_host.stations import is_blocked, station_score, utcnow

from .mac import shard_of
from .models import SHARD_MODELS
from .settings import WifiSettings

log = get_logger("ichnaea.wifi")

EARTH_RADIUS = 6371009.0
M_PER_DEGREE = EARTH_RADIUS * math.pi / 180.0
COLUMNS = ("mac", "lat", "lon", "radius", "samples", "created", "modified", "last_seen",
           "block_last", "block_count")


class Station(NamedTuple):
    """The columns of a station row that locating needs."""

    mac: str
    lat: float
    lon: float
    radius: int | None
    samples: int | None
    created: datetime | None
    modified: datetime | None
    last_seen: date | None
    block_last: date | None
    block_count: int | None


def _statement(db: peewee.Database, shards: Sequence[tuple[str, int]]) -> str:
    """``SELECT .. UNION ALL SELECT ..``, one part per (shard, number of keys)."""
    q0, q1 = db.quote[0], db.quote[1]
    columns = ", ".join(f"{q0}{c}{q1}" for c in COLUMNS)
    parts = []
    for shard, count in shards:
        table = f"{q0}{SHARD_MODELS[shard]._meta.table_name}{q1}"
        keys = ", ".join([db.param] * count)
        parts.append(f"SELECT {columns} FROM {table} WHERE {q0}mac{q1} IN ({keys})")
    return " UNION ALL ".join(parts)


def load_stations(context: Any, macs: Sequence[str]) -> list[Station]:
    """Known, unblocked stations with a position, in one round trip to the database."""
    by_shard: dict[str, list[str]] = defaultdict(list)
    for mac in macs:
        by_shard[shard_of(mac)].append(mac)
    if not by_shard:
        return []
    shards = sorted(by_shard.items())
    db = context.db.ro
    sql = _statement(db, [(shard, len(keys)) for shard, keys in shards])
    params = [bytes.fromhex(mac) for _, keys in shards for mac in keys]
    try:
        rows = db.execute_sql(sql, params).fetchall()
    except (peewee.DatabaseError, peewee.InterfaceError, OSError) as exc:
        log.warning("station_lookup_failed", error=type(exc).__name__)
        return []
    fields = SHARD_MODELS["0"]._meta.fields
    convert = [fields[name].python_value for name in COLUMNS]
    today = utcnow().date()
    stations = []
    for row in rows:
        if row[1] is None or row[2] is None:  # no position (blocked, or never placed)
            continue
        station = Station._make(f(v) if v is not None else None
                                for f, v in zip(convert, row, strict=True))
        if not is_blocked(station, today):
            stations.append(station)
    return stations


def pairwise_distances(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    lat1, lat2 = np.radians(lats)[:, None], np.radians(lats)[None, :]
    dlat = lat2 - lat1
    dlon = np.radians(lons)[None, :] - np.radians(lons)[:, None]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def complete_linkage(dist: np.ndarray, limit: float) -> list[list[int]]:
    """Groups of two or more networks in which every pair is at most ``limit`` apart.

    Agglomerative clustering with complete linkage, cut at ``limit``: the two
    closest groups merge while their farthest members are within ``limit``.
    A merged group's distance to any other is the larger of its parts'
    (Lance-Williams), so each merge costs one pass over the matrix.
    """
    size = len(dist)
    if size >= 2 and dist.max() <= limit:  # the common case: all in one place
        return [list(range(size))]
    groups: list[list[int]] = [[i] for i in range(size)]
    between = np.array(dist, dtype=float, copy=True)
    np.fill_diagonal(between, np.inf)
    alive = np.ones(size, dtype=bool)
    for _ in range(size - 1):
        masked = np.where(alive[:, None] & alive[None, :], between, np.inf)
        a, b = divmod(int(np.argmin(masked)), size)
        if not masked[a, b] <= limit:
            break
        between[a, :] = np.maximum(between[a, :], between[b, :])
        between[:, a] = between[a, :]
        between[a, a] = np.inf
        alive[b] = False
        groups[a] = sorted(groups[a] + groups[b])
    return [group for group, keep in zip(groups, alive, strict=True)
            if keep and len(group) >= 2]


def signal_amplitudes(signals: Sequence[int | None]) -> np.ndarray:
    """Each signal's amplitude relative to the strongest (1.0); unknown ones count as
    the median known signal, and all count the same when none is known."""
    known = [s for s in signals if s is not None]
    if not known:
        return np.ones(len(signals))
    fill = float(np.median(known))
    dbm = np.array([fill if s is None else s for s in signals], dtype=float)
    return 10.0 ** ((dbm - dbm.max()) / 20.0)


def aggregate(members: Sequence[Any], lookups: dict[str, dict[str, Any]], now: datetime,
              settings: WifiSettings) -> Position:
    """One position from a cluster: the weighted mean of its ``max_networks``
    best-scored networks, and the 95 % radius of that mean."""
    scored = sorted(((station_score(s, now), s) for s in members), key=lambda pair: -pair[0])
    used = [station for _, station in scored[: settings.max_networks]]
    scores = np.array([score for score, _ in scored[: settings.max_networks]])
    lat0, lon0 = used[0].lat, used[0].lon
    east = M_PER_DEGREE * math.cos(math.radians(lat0))
    x = ((np.array([s.lon for s in used]) - lon0 + 180.0) % 360.0 - 180.0) * east
    y = (np.array([s.lat for s in used]) - lat0) * M_PER_DEGREE
    radius = np.array([float(s.radius or 0) for s in used])
    samples = np.array([max(s.samples or 1, 1) for s in used], dtype=float)
    ranges = np.sqrt(radius**2 + settings.station_range**2 / samples)
    queried = [lookups.get(s.mac) or {} for s in used]
    ages = np.array([max(abs(q.get("age") or 0), 1000) for q in queried])
    amplitude = signal_amplitudes([q.get("signal") for q in queried])
    weights = scores * np.minimum(np.sqrt(2000.0 / ages), 1.0) * amplitude / ranges**2
    if not weights.sum() > 0:
        weights = 1.0 / ranges**2
    total = weights.sum()
    cx, cy = (weights * x).sum() / total, (weights * y).sum() / total
    effective = total**2 / (weights**2).sum()
    spread = (weights * ((x - cx) ** 2 + (y - cy) ** 2)).sum() / total
    own = (weights**2 * ranges**2).sum() / total**2
    accuracy = math.sqrt(spread / effective + own)
    today = now.date()
    return Position(
        lat=float(lat0 + cy / M_PER_DEGREE),
        lon=float((lon0 + cx / east + 180.0) % 360.0 - 180.0),
        accuracy=min(max(accuracy, settings.min_accuracy), settings.max_accuracy),
        score=float(sum(score for score, _ in scored)),
        source="wifi",
        used_networks=[("wifi", s.mac, bool(s.last_seen and s.last_seen >= today))
                       for s in used])


class WifiPositionSource(LocationSource):
    PLUGIN_NAME = "wifi"
    KIND = "position"
    DEFAULT_ORDER = 20
    INTERNAL = True

    @property
    def settings(self) -> WifiSettings:
        return self.context.plugin_settings("wifi") or WifiSettings()  # type: ignore[return-value]

    def should_search(self, query: Query, results: Any) -> bool:
        return bool(query.networks.get("wifi"))

    def search(self, query: Query) -> list[Position]:
        lookups = {n["mac"]: n for n in query.networks.get("wifi") or []}
        stations = load_stations(self.context, list(lookups))
        if len(stations) < 2:  # one network alone must not reveal where it is
            return []
        settings = self.settings
        now = utcnow()
        dist = pairwise_distances(np.array([s.lat for s in stations]),
                                  np.array([s.lon for s in stations]))
        return [aggregate([stations[i] for i in group], lookups, now, settings)
                for group in complete_linkage(dist, settings.cluster_meters)]
