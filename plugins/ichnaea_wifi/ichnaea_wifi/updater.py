"""Learning access points from positioned reports."""

from __future__ import annotations

from typing import Any

from ichnaea_host import MacStationUpdater

from .mac import RANKING, normalize_entry
from .models import SHARD_MODELS


class WifiUpdater(MacStationUpdater):
    PLUGIN_NAME = "wifi"
    #: the original's ``stat`` keys (observations, new stations)
    STAT_KEYS = (3, 4)
    SITE_LABELS = {"title": "WiFi", "series": "MLS WiFi", "region_columns": {"wifi": "WiFis"}}
    FIELD = "wifiAccessPoints"
    MODELS = SHARD_MODELS
    BATCH = 500
    INTERVAL = 5.0
    MAX_DIST = 5000.0
    MAX_ACCURACY = 200.0
    RANKING = RANKING
    #: network names are not kept
    UNSTORED = frozenset({"ssid"})
    normalize_entry = staticmethod(normalize_entry)

    def signal_weight(self, observation: dict[str, Any]) -> float:
        signal = observation.get("signal")
        signal = -80 if signal is None else signal
        return (10000.0 / (signal - 20) ** 2) ** 2
