"""Learning beacons from positioned reports."""

from __future__ import annotations

from typing import Any

import peewee

from ichnaea_host.stations import StationShardUpdater

from .mac import SHARDS, dedupe, normalize_entry, shard_of
from .models import SHARD_MODELS

POSITION_FIELDS = ("lat", "lon", "accuracy", "altitude", "altitudeAccuracy", "heading",
                   "pressure", "speed", "source", "timestamp")


class BlueUpdater(StationShardUpdater):
    PLUGIN_NAME = "blue"
    #: the original's ``stat`` keys (observations, new stations)
    STAT_KEYS = (8, 9)
    #: the original's ``data_type`` tag of the Bluetooth queues' gauge
    DATA_TYPE = "bluetooth"
    SITE_LABELS = {"title": "Bluetooth", "series": "MLS Bluetooth",
                   "region_columns": {"blue": "BLEs"}}
    FIELD = "bluetoothBeacons"
    SHARDS = SHARDS
    BATCH = 500
    INTERVAL = 5.0
    KEY = "mac"
    #: observations of one beacon farther apart than this block it (BLUE_MAX_RADIUS)
    MAX_DIST = 100.0
    #: observations less precise than this weigh nothing
    MAX_ACCURACY = 100.0

    def model(self, shard: str) -> type[peewee.Model]:
        return SHARD_MODELS[shard]

    def shard_of(self, key: str) -> str:
        return shard_of(key)

    def signal_weight(self, observation: dict[str, Any]) -> float:
        """Beacon signal strengths are not comparable between devices: ignored."""
        return 1.0

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
                if value is not None and name != "name":
                    observation[name] = value
            out.setdefault(shard_of(entry["mac"]), []).append(observation)
        return out
