"""The original service's locate method, as the baseline of ``bench/accuracy.py``.

Written from the facts of ../shared/spec/api.md §3.3 (not from the plugins'
code, so that changing the plugins never moves the baseline):

* stations are looked up per shard; blocked ones and ones without a position
  are dropped; fewer than two found answer nothing;
* complete-linkage clusters of at most 500 m (WiFi) or 100 m (Bluetooth);
  clusters of one are dropped;
* in each cluster the N *lowest*-scored networks are kept (20 WiFi, 10
  Bluetooth; the original sorts ascending by accident);
* position = mean weighted by ``score * min(sqrt(2000 / age), 1) / signal**2``
  (missing signal: -100 WiFi, -127 Bluetooth; age at least 1000 ms);
* accuracy = the 95th percentile (linear interpolation) of the distances from
  the position to the kept networks, clamped to 10-500 m (WiFi) or 10-50 m
  (Bluetooth); score = the sum of the whole cluster's station scores.

Cells (spec §3.3 "Cells"): the known cells are grouped by area (radio, mcc,
mnc, lac); one cell answers its own position with its radius clamped to
1-50 km; several answer their mean weighted by ``score * age factor /
signal**2`` (missing signal: the radio's weakest) with the 95th percentile
of their distances, clamped the same. Only when no cell is known, each area
of the query answers its position and radius clamped to 50-500 km, as a
``lacf`` fallback, scored by its age, data span and cell count.

The original also refined the WiFi mean with a least-squares fit, which moves
the answer by centimetres for metre-scale spreads (spec §3.3); it is left
out. The choice of the best result is the same for both methods, so the
baseline reuses the service's result selection; GeoIP answers the service's
position with the original's radius: the database's ``accuracy_radius``
capped by the subdivision's extent and by the city's (25 km, or the city's
own from a short table).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Any

import numpy as np

from ichnaea_host.api.search import best_position
from ichnaea_host.core.answers import Position, Query
from ichnaea_host.core.geo import distance
from ichnaea_host.stations import is_blocked, station_score, utcnow

KINDS = {
    # kind: (cluster metres, networks kept, min accuracy, max accuracy, missing signal)
    "wifi": (500.0, 20, 10.0, 500.0, -100),
    "blue": (100.0, 10, 10.0, 50.0, -127),
}


def _model(kind: str) -> Any:
    if kind == "wifi":
        from ichnaea_wifi.models import MODEL
    else:
        from ichnaea_blue.models import MODEL
    return MODEL


def load_stations(rt: Any, kind: str, macs: list[str]) -> list[Any]:
    """The original looked the networks up per shard table; the rows are the same."""
    model = _model(kind)
    today = utcnow().date()
    query = model.select().where(model.mac.in_(macs), model.lat.is_null(False),
                                 model.lon.is_null(False))
    return [r for r in rt.db.read(query) if not is_blocked(r, today)]


def complete_linkage(points: list[tuple[float, float]], limit: float) -> list[list[int]]:
    """Clusters of two or more in which every pair is at most ``limit`` apart."""
    size = len(points)
    dist = np.zeros((size, size))
    for i in range(size):
        for j in range(i + 1, size):
            dist[i, j] = dist[j, i] = distance(*points[i], *points[j])
    clusters = [[i] for i in range(size)]
    while len(clusters) > 1:
        best, pair = math.inf, (0, 0)
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                d = dist[np.ix_(clusters[a], clusters[b])].max()
                if d < best:
                    best, pair = d, (a, b)
        if best > limit:
            break
        a, b = pair
        clusters[a] += clusters.pop(b)
    return [c for c in clusters if len(c) >= 2]


def mac_positions(rt: Any, kind: str, lookups: list[dict[str, Any]]) -> list[Position]:
    limit, keep, min_acc, max_acc, min_signal = KINDS[kind]
    by_mac = {n["mac"]: n for n in lookups}
    stations = load_stations(rt, kind, list(by_mac))
    if len(stations) < 2:
        return []
    now = utcnow()
    results = []
    for cluster in complete_linkage([(s.lat, s.lon) for s in stations], limit):
        scored = sorted(((station_score(stations[i], now), stations[i]) for i in cluster),
                        key=lambda pair: pair[0])  # ascending, as the original
        sample = scored[:keep]
        weights, lats, lons = [], [], []
        for score, station in sample:
            lookup = by_mac[station.mac]
            age = max(abs(lookup.get("age") or 0), 1000)
            signal = lookup.get("signal") or min_signal
            weights.append(score * min(math.sqrt(2000.0 / age), 1.0) / signal**2)
            lats.append(station.lat)
            lons.append(station.lon)
        w = np.array(weights) if sum(weights) > 0 else np.ones(len(weights))
        lat = float(np.average(lats, weights=w))
        lon = float(np.average(lons, weights=w))
        dists = [distance(lat, lon, a, b) for a, b in zip(lats, lons, strict=True)]
        accuracy = min(max(float(np.percentile(dists, 95)), min_acc), max_acc)
        results.append(Position(lat=lat, lon=lon, accuracy=accuracy,
                                score=sum(score for score, _ in scored), source=kind))
    return results


CELL_MIN_SIGNAL = {"gsm": -113, "wcdma": -121, "lte": -140, "nr": -156}


def area_score(area: Any, now: Any) -> float:
    modified = area.modified or now
    age = 1.0 / math.sqrt(max((now - modified).days, 0) // 30 + 1)
    last = max(modified.date(), area.last_seen) if area.last_seen else modified.date()
    collection = min(max((last - (area.created or now).date()).days, 1) / 10.0, 1.0)
    cells = area.num_cells or 0
    if cells > 1 and not area.radius:
        cells = 1
    return age * collection * min(math.sqrt(max(cells, 1)), 10.0)


def cell_positions(rt: Any, lookups: list[dict[str, Any]], lacf: bool) -> list[Position]:
    from ichnaea_cell.cells import areaid_hex, cellid_hex
    from ichnaea_cell.models import CELL_MODELS, CellArea

    now = utcnow()
    today = now.date()
    by_area: dict[str, list[tuple[Any, dict[str, Any]]]] = defaultdict(list)
    for radio in sorted({c["radio"] for c in lookups}):
        wanted = {cellid_hex(c): c for c in lookups if c["radio"] == radio and c["cid"]}
        if not wanted:
            continue
        model = CELL_MODELS[radio]
        query = model.select().where(model.cellid.in_(list(wanted)), model.lat.is_null(False),
                                     model.lon.is_null(False))
        for row in rt.db.read(query):
            if not is_blocked(row, today):
                lookup = wanted[row.cellid]
                by_area[areaid_hex(lookup)].append((row, lookup))
    results = []
    for members in by_area.values():
        scores = [station_score(row, now) for row, _ in members]
        if len(members) == 1:
            row = members[0][0]
            results.append(Position(lat=row.lat, lon=row.lon, score=scores[0], source="cell",
                                    accuracy=min(max(row.radius or 0, 1000.0), 50000.0)))
            continue
        weights = []
        for (_, lookup), score in zip(members, scores, strict=True):
            age = max(abs(lookup.get("age") or 0), 1000)
            signal = lookup.get("signal") or CELL_MIN_SIGNAL[lookup["radio"]]
            weights.append(score * min(math.sqrt(2000.0 / age), 1.0) / signal**2)
        w = np.array(weights) if sum(weights) > 0 else np.ones(len(weights))
        lat = float(np.average([r.lat for r, _ in members], weights=w))
        lon = float(np.average([r.lon for r, _ in members], weights=w))
        spread = np.percentile([distance(lat, lon, r.lat, r.lon) for r, _ in members], 95)
        results.append(Position(lat=lat, lon=lon, score=sum(scores), source="cell",
                                accuracy=min(max(float(spread), 1000.0), 50000.0)))
    if results or not lacf:
        return results
    areaids = sorted({areaid_hex(c) for c in lookups})
    query = CellArea.select().where(CellArea.areaid.in_(areaids), CellArea.lat.is_null(False),
                                    CellArea.lon.is_null(False))
    return [Position(lat=a.lat, lon=a.lon, score=area_score(a, now), source="cell",
                     accuracy=min(max(a.radius or 0, 50000.0), 500000.0), fallback="lacf")
            for a in rt.db.read(query)]


def locate(rt: Any, fragments: dict[str, Any], body: dict[str, Any],
           ip: str | None) -> Position | None:
    """The baseline's answer to a geolocate body (None: not found)."""
    from ichnaea_geoip.source import GeoIPPositionSource

    networks = {name: frag.parse_query(body.get(frag.FIELD) or [], body)
                for name, frag in fragments.items()}
    results: list[Position] = []
    for kind in ("blue", "wifi"):
        if networks.get(kind):
            results.extend(mac_positions(rt, kind, networks[kind]))
    if networks.get("cell"):
        lacf = (body.get("fallbacks") or {}).get("lacf", True) is not False
        results.extend(cell_positions(rt, networks["cell"], lacf))
    if ip and body.get("considerIp", True):
        query = Query(ip=ip, networks=networks)
        results.extend(original_geoip(rt, found, ip)
                       for found in GeoIPPositionSource(rt).search(query))
    return best_position(results)


def original_geoip(rt: Any, found: Position, ip: str) -> Position:
    """The service's GeoIP answer with the original's radius."""
    from ichnaea_geoip import source

    record = source.reader(rt).city(ip)  # type: ignore[union-attr]
    code = source.genc_code(record.country.iso_code)
    radius = source.region_radius(code)
    if record.location.accuracy_radius:
        radius = min(record.location.accuracy_radius * 1000.0, radius)
    if record.subdivisions:
        radius = min(source.SUB_RADII.get(code, source.SUB_RADIUS), radius)
    if record.city.geoname_id:
        radius = min(source.CITY_RADII.get(record.city.geoname_id, source.CITY_RADIUS), radius)
    return dataclasses.replace(found, accuracy=radius)
