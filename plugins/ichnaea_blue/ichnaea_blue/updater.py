"""Learning beacons from positioned reports."""

from __future__ import annotations

from typing import Any

from ichnaea_host import MacStationUpdater

from .mac import RANKING, normalize_entry
from .models import MODEL


class BlueUpdater(MacStationUpdater):
    PLUGIN_NAME = "blue"
    #: the original's ``stat`` keys (observations, new stations)
    STAT_KEYS = (8, 9)
    #: the original's ``data_type`` tag of the Bluetooth queues' gauge
    DATA_TYPE = "bluetooth"
    SITE_LABELS = {"title": "Bluetooth", "series": "MLS Bluetooth",
                   "region_columns": {"blue": "BLEs"}}
    FIELD = "bluetoothBeacons"
    MODEL = MODEL
    BATCH = 500
    INTERVAL = 5.0
    #: observations of one beacon farther apart than this block it (BLUE_MAX_RADIUS)
    MAX_DIST = 100.0
    #: observations less precise than this weigh nothing
    MAX_ACCURACY = 100.0
    RANKING = RANKING
    #: beacon names are not kept
    UNSTORED = frozenset({"name"})
    normalize_entry = staticmethod(normalize_entry)

    def signal_weight(self, observation: dict[str, Any]) -> float:
        """Beacon signal strengths are not comparable between devices: ignored."""
        return 1.0
