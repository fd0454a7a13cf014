"""Answering geolocate queries from the learnt access points."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date
from typing import Any

import numpy as np
import peewee

from ichnaea_host.interfaces import LocationSource, Position, Query
from ichnaea_host.log import get_logger
from ichnaea_host.stations import is_blocked, station_score, utcnow

from .mac import shard_of
from .models import SHARD_MODELS
from .settings import WifiSettings

log = get_logger("ichnaea.wifi")

MIN_SIGNAL = -100


def load_stations(context: Any, macs: list[str]) -> list[Any]:
    """Known, unblocked stations with a position; one query per shard."""
    by_shard: dict[str, list[str]] = defaultdict(list)
    for mac in macs:
        by_shard[shard_of(mac)].append(mac)
    today = utcnow().date()
    found: list[Any] = []
    for shard, shard_macs in sorted(by_shard.items()):
        model: Any = SHARD_MODELS[shard]
        query = model.select().where(model.mac.in_(shard_macs), model.lat.is_null(False),
                                     model.lon.is_null(False))
        try:
            rows = list(context.db.read(query))
        except (peewee.DatabaseError, peewee.InterfaceError, OSError) as exc:
            log.warning("station_lookup_failed", shard=shard, error=type(exc).__name__)
            continue
        found.extend(row for row in rows if not is_blocked(row, today))
    return found


def pairwise_distances(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    lat1, lat2 = np.radians(lats)[:, None], np.radians(lats)[None, :]
    dlat = lat2 - lat1
    dlon = np.radians(lons)[None, :] - np.radians(lons)[:, None]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    return 2 * 6371009.0 * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def complete_linkage(dist: np.ndarray, limit: float) -> list[list[int]]:
    """Groups of two or more networks in which every pair is at most ``limit`` apart.

    Agglomerative clustering with complete linkage, cut at ``limit``: the two
    closest groups merge while their farthest members are within ``limit``.
    A merged group's distance to any other is the larger of its parts'
    (Lance-Williams), so each merge costs one pass over the matrix.
    """
    size = len(dist)
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
        lats = np.array([s.lat for s in stations])
        lons = np.array([s.lon for s in stations])
        groups = complete_linkage(pairwise_distances(lats, lons), settings.cluster_meters)
        results = []
        for group in groups:
            members = [stations[i] for i in group]
            results.append(self._aggregate(members, lookups, now.date(), settings))
        return results

    def _aggregate(self, members: list[Any], lookups: dict[str, Any], today: date,
                   settings: WifiSettings) -> Position:
        now = utcnow()
        scored = sorted(((station_score(s, now), s) for s in members),
                        key=lambda pair: -pair[0])
        total_score = sum(score for score, _ in scored)
        sample = scored[: settings.max_networks]
        weights, lats, lons = [], [], []
        for score, station in sample:
            lookup = lookups[station.mac]
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
        dists = pairwise_distances(np.array([lat, *lats]), np.array([lon, *lons]))[0, 1:]
        accuracy = float(np.percentile(dists, 95)) if len(dists) else settings.min_accuracy
        accuracy = min(max(accuracy, settings.min_accuracy), settings.max_accuracy)
        used = [("wifi", s.mac, bool(s.last_seen and s.last_seen >= today)) for _, s in sample]
        return Position(lat=lat, lon=lon, accuracy=accuracy, score=total_score,
                        source="wifi", used_networks=used)
