"""Learning access points from positioned reports."""

from __future__ import annotations

from typing import Any

import peewee

from ichnaea_host.stations import StationShardUpdater

from .mac import SHARDS, dedupe, normalize_entry, shard_of
from .models import SHARD_MODELS

POSITION_FIELDS = ("lat", "lon", "accuracy", "altitude", "altitudeAccuracy", "heading",
                   "pressure", "speed", "source", "timestamp")


class WifiUpdater(StationShardUpdater):
    PLUGIN_NAME = "wifi"
    #: the original's ``stat`` keys (observations, new stations)
    STAT_KEYS = (3, 4)
    SITE_LABELS = {"title": "WiFi", "series": "MLS WiFi", "region_columns": {"wifi": "WiFis"}}
    FIELD = "wifiAccessPoints"
    SHARDS = SHARDS
    BATCH = 500
    INTERVAL = 5.0
    KEY = "mac"
    MAX_DIST = 5000.0
    MAX_ACCURACY = 200.0

    def model(self, shard: str) -> type[peewee.Model]:
        return SHARD_MODELS[shard]

    def shard_of(self, key: str) -> str:
        return shard_of(key)

    def signal_weight(self, observation: dict[str, Any]) -> float:
        signal = observation.get("signal")
        signal = -80 if signal is None else signal
        return (10000.0 / (signal - 20) ** 2) ** 2

    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        entries = [n for n in (normalize_entry(e) for e in report.get(self.FIELD) or []
                               if isinstance(e, dict)) if n is not None]
        if not entries:
            return {}
        position = report["position"]
        gps_age = position.get("gps_age") or 0
        base = {k: position[k] for k in POSITION_FIELDS if position.get(k) is not None}
        out: dict[str, list[dict[str, Any]]] = {}
        for entry in dedupe(entries):
            if gps_age:
                entry["age"] = (entry.get("age") or 0) - gps_age
            observation = base.copy()
            for name, value in entry.items():
                if value is not None and name != "ssid":
                    observation[name] = value
            out.setdefault(shard_of(entry["mac"]), []).append(observation)
        return out
