"""Answering queries from learnt stations: positions from MAC stations (WiFi
access points, Bluetooth beacons), the method both radio plugins share, and
regions from any radio's stations.

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

Stations are read with one SQL statement per query: ``SELECT .. WHERE mac IN
(..)`` on the radio's one table; rows come back as plain tuples (no model
instances), through :mod:`.sql`. :class:`~ichnaea_host.stations.MacRadio`
answers with these functions, with the limits of its settings.

``/v1/country`` is answered from the regions stored on the stations
(:func:`load_station_regions`, :func:`regions_from_stations`).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import peewee

from ichnaea_host.core.answers import Position, Region
from ichnaea_host.core.lazy import lazy_module
from ichnaea_host.core.regions import region_name, region_radius
from ichnaea_host.stations.columns import Station, utcnow
from ichnaea_host.stations.rules import is_blocked, station_score
from ichnaea_host.stations.sql import search_row_reader, search_statement

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

EARTH_RADIUS = 6371009.0
M_PER_DEGREE = EARTH_RADIUS * math.pi / 180.0
DATABASE_ERRORS = (peewee.DatabaseError, peewee.InterfaceError, OSError)


# ---------------------------------------------------------------------------
# reading the stations


def load_stations(db: peewee.Database, model: type[peewee.Model],
                  macs: Sequence[str], key: str = "mac") -> list[Station]:
    """Known, unblocked stations with a position, in one keyed ``IN`` query
    on the radio's table (``key``: its binary key column); database errors
    are the caller's.

    ``macs`` are normalised keys in lowercase hex (12 digits for a MAC,
    :func:`~.mac.normalize_mac`), so they go into the statement as binary
    literals: no parameters for the driver to escape."""
    if not macs:
        return []
    mysql = isinstance(db, peewee.MySQLDatabase)
    sql = search_statement(mysql, tuple(db.quote), model._meta.table_name, key)  # type: ignore[arg-type]
    keys = "', X'".join(macs)
    rows = db.execute_sql(f"{sql}(X'{keys}')").fetchall()
    read = search_row_reader(db, model, key)
    today = utcnow().date()
    stations = []
    for row in rows:
        station = read(row)
        if not is_blocked(station, today):
            stations.append(station)
    return stations


# ---------------------------------------------------------------------------
# clusters and their positions


def pairwise_distances(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    lat1, lat2 = np.radians(lats)[:, None], np.radians(lats)[None, :]
    dlat = lat2 - lat1
    dlon = np.radians(lons)[None, :] - np.radians(lons)[:, None]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def distance_matrix(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Metres between every pair of (lat, lon) points."""
    if not points:
        return np.zeros((0, 0))
    lats, lons = np.array(points, dtype=float).T
    return pairwise_distances(lats, lons)


def within_limit(stations: Sequence[Any], limit: float) -> bool:
    """Whether every pair of stations is certainly at most ``limit`` metres apart,
    without the matrix of their distances (the common case: one place).

    A bound of the haversine distance over the stations' bounding box: no
    pair differs by more than the box in latitude and in longitude, and no
    pair lies nearer the equator than the box's latitude closest to it.
    """
    lats = [s.lat for s in stations]
    lons = [s.lon for s in stations]
    south, north = min(lats), max(lats)
    span = max(lons) - min(lons)
    if span > 180.0:  # across the antimeridian: the matrix decides
        return False
    widest = 0.0 if south <= 0.0 <= north else min(abs(south), abs(north))
    h = (math.sin(math.radians(north - south) / 2) ** 2
         + math.cos(math.radians(widest)) ** 2 * math.sin(math.radians(span) / 2) ** 2)
    bound = 2 * EARTH_RADIUS * math.asin(min(1.0, math.sqrt(h)))
    return bound <= limit * (1 - 1e-9)


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


def signal_amplitudes(signals: Sequence[int | None]) -> list[float]:
    """Each signal's amplitude relative to the strongest (1.0); unknown ones count as
    the median known signal, and all count the same when none is known."""
    known = [s for s in signals if s is not None]
    if not known:
        return [1.0] * len(signals)
    fill = float(statistics.median(known))
    dbm = [fill if s is None else float(s) for s in signals]
    strongest = max(dbm)
    return [10.0 ** ((d - strongest) / 20.0) for d in dbm]


def cluster_position(members: Sequence[Any], lookups: dict[str, dict[str, Any]], now: datetime,
                     settings: Any, kind: str) -> Position:
    """One position from a cluster: the weighted mean of its ``max_networks``
    best-scored networks, and the 95 % radius of that mean. ``kind`` is the
    source's name (``wifi``, ``blue``).

    Plain Python: a cluster holds a few dozen networks at most, and numpy's
    cost per call is larger than the arithmetic on arrays that small."""
    scored = sorted(((station_score(s, now), s) for s in members), key=lambda pair: -pair[0])
    top = scored[: settings.max_networks]
    used = [station for _, station in top]
    lat0, lon0 = used[0].lat, used[0].lon
    east = M_PER_DEGREE * math.cos(math.radians(lat0))
    queried = [lookups.get(s.mac) or {} for s in used]
    amplitudes = signal_amplitudes([q.get("signal") for q in queried])
    prior = settings.station_range ** 2
    xs, ys, ranges2, weights = [], [], [], []
    for (score, station), query, amplitude in zip(top, queried, amplitudes, strict=True):
        xs.append(((station.lon - lon0 + 180.0) % 360.0 - 180.0) * east)
        ys.append((station.lat - lat0) * M_PER_DEGREE)
        radius = float(station.radius or 0)
        range2 = radius * radius + prior / max(station.samples or 1, 1)
        ranges2.append(range2)
        age = max(abs(query.get("age") or 0), 1000)
        weights.append(score * min(math.sqrt(2000.0 / age), 1.0) * amplitude / range2)
    if not sum(weights) > 0:
        weights = [1.0 / r2 for r2 in ranges2]
    total = sum(weights)
    cx = sum(w * x for w, x in zip(weights, xs, strict=True)) / total
    cy = sum(w * y for w, y in zip(weights, ys, strict=True)) / total
    squares = sum(w * w for w in weights)
    effective = total * total / squares
    spread = sum(w * ((x - cx) ** 2 + (y - cy) ** 2)
                 for w, x, y in zip(weights, xs, ys, strict=True)) / total
    own = sum(w * w * r2 for w, r2 in zip(weights, ranges2, strict=True)) / (total * total)
    accuracy = math.sqrt(spread / effective + own)
    today = now.date()
    return Position(
        lat=float(lat0 + cy / M_PER_DEGREE),
        lon=float((lon0 + cx / east + 180.0) % 360.0 - 180.0),
        accuracy=min(max(accuracy, settings.min_accuracy), settings.max_accuracy),
        score=float(sum(score for score, _ in scored)),
        source=kind,
        used_networks=[(kind, s.mac, bool(s.last_seen and s.last_seen >= today))
                       for s in used])


# ---------------------------------------------------------------------------
# the source


def connection_lost(db: peewee.Database) -> bool:
    """Whether this thread's MySQL connection broke (the web tier keeps one
    between requests; a restarted server drops it)."""
    if db.is_closed() or not isinstance(db, peewee.MySQLDatabase):
        return False
    return not db.connection().open


# ---------------------------------------------------------------------------
# regions


def load_station_regions(db: peewee.Database, model_of: Callable[[str], type[peewee.Model]],
                         key_name: str, keys: Iterable[str]) -> list[Any]:
    """Known, unblocked stations with a region, one query per table of ``db``
    (the web tier's read-only connection); ``model_of`` gives a key's table."""
    by_model: dict[Any, list[str]] = defaultdict(list)
    for key in keys:
        by_model[model_of(key)].append(key)
    today = utcnow().date()
    found: list[Any] = []
    for model, model_keys in by_model.items():
        key_field = getattr(model, key_name)
        query = model.select().where(key_field.in_(model_keys), model.region.is_null(False))
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
