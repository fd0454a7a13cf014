"""Answering geolocate queries from the learnt beacons."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

import numpy as np
import peewee

from ichnaea_host.geo import distance
from ichnaea_host.interfaces import LocationSource, Position, Query
from ichnaea_host.log import get_logger
from ichnaea_host.stations import is_blocked, station_score, utcnow

from .mac import shard_of
from .models import SHARD_MODELS
from .settings import BlueSettings

log = get_logger("ichnaea.blue")

#: signal assumed for a beacon sent without one (or with 0)
MIN_SIGNAL = -127


def load_stations(context: Any, macs: list[str]) -> list[Any]:
    """Known, unblocked beacons with a position; one query per shard."""
    by_shard: dict[str, list[str]] = defaultdict(list)
    for mac in macs:
        by_shard[shard_of(mac)].append(mac)
    today = utcnow().date()
    found = []
    for shard, shard_macs in sorted(by_shard.items()):
        model = SHARD_MODELS[shard]
        query = model.select().where(model.mac.in_(shard_macs), model.lat.is_null(False),
                                     model.lon.is_null(False))
        try:
            rows = list(context.db.read(query))
        except (peewee.DatabaseError, peewee.InterfaceError, OSError) as exc:
            log.warning("station_lookup_failed", shard=shard, error=type(exc).__name__)
            continue
        found.extend(row for row in rows if not is_blocked(row, today))
    return found


def distance_matrix(points: list[tuple[float, float]]) -> np.ndarray:
    """Metres between every pair of points (Vincenty, as the stations are learnt)."""
    size = len(points)
    dist = np.zeros((size, size))
    for i in range(size):
        for j in range(i + 1, size):
            dist[i, j] = dist[j, i] = distance(*points[i], *points[j])
    return dist


def complete_linkage(dist: np.ndarray, limit: float) -> list[list[int]]:
    """Groups of at least two in which every pair is at most ``limit`` apart
    (agglomerative clustering, complete linkage)."""
    clusters = [[i] for i in range(len(dist))]
    while len(clusters) > 1:
        best, pair = math.inf, None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                d = dist[np.ix_(clusters[a], clusters[b])].max()
                if d < best:
                    best, pair = d, (a, b)
        if pair is None or best > limit:
            break
        a, b = pair
        clusters[a] = clusters[a] + clusters[b]
        del clusters[b]
    return [c for c in clusters if len(c) >= 2]


def aggregate(members: list[Any], lookups: dict[str, dict[str, Any]], now: datetime,
              settings: BlueSettings) -> Position:
    """One position from a cluster of beacons.

    The ``max_networks`` best-scored beacons are used (the original kept the
    lowest-scored by accident); each weighs ``score * age factor / signal²``.
    The score of the answer is that of the whole cluster.
    """
    today = now.date()
    scored = sorted(((station_score(s, now), s) for s in members), key=lambda pair: -pair[0])
    total_score = sum(score for score, _ in scored)
    sample = scored[: settings.max_networks]
    weights, lats, lons = [], [], []
    for score, station in sample:
        lookup = lookups.get(station.mac) or {}
        age = max(abs(lookup.get("age") or 0), 1000)
        signal = lookup.get("signal") or MIN_SIGNAL
        weights.append(score * min(math.sqrt(2000.0 / age), 1.0) / signal**2)
        lats.append(station.lat)
        lons.append(station.lon)
    w = np.array(weights)
    if w.sum() <= 0:
        w = np.ones(len(weights))
    lat = float(np.average(lats, weights=w))
    lon = float(np.average(lons, weights=w))
    dists = [distance(lat, lon, a, b) for a, b in zip(lats, lons, strict=True)]
    accuracy = float(np.percentile(dists, 95)) if dists else settings.min_accuracy
    accuracy = min(max(accuracy, settings.min_accuracy), settings.max_accuracy)
    used = [("blue", s.mac, bool(s.last_seen and s.last_seen >= today)) for _, s in sample]
    return Position(lat=lat, lon=lon, accuracy=accuracy, score=total_score,
                    source="blue", used_networks=used)


class BluePositionSource(LocationSource):
    PLUGIN_NAME = "blue"
    KIND = "position"
    DEFAULT_ORDER = 10
    INTERNAL = True

    @property
    def settings(self) -> BlueSettings:
        return self.context.plugin_settings("blue") or BlueSettings()  # type: ignore[return-value]

    def should_search(self, query: Query, results: Any) -> bool:
        return bool(query.networks.get("blue"))

    def search(self, query: Query) -> list[Position]:
        lookups = {n["mac"]: n for n in query.networks.get("blue") or []}
        stations = load_stations(self.context, list(lookups))
        if len(stations) < 2:  # one beacon alone must not reveal where it is
            return []
        settings = self.settings
        now = utcnow()
        dist = distance_matrix([(s.lat, s.lon) for s in stations])
        groups = complete_linkage(dist, settings.cluster_meters)
        return [aggregate([stations[i] for i in group], lookups, now, settings)
                for group in groups]
