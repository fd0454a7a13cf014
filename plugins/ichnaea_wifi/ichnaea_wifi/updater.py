"""Learning access points from positioned reports."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ichnaea_host import MacStationUpdater

from .mac import RANKING, normalize_entry
from .models import MODEL
from .names import name_matcher, opted_out
from .settings import WifiSettings


class WifiUpdater(MacStationUpdater):
    PLUGIN_NAME = "wifi"
    #: the original's ``stat`` keys (observations, new stations)
    STAT_KEYS = (3, 4)
    SITE_LABELS = {"title": "WiFi", "series": "MLS WiFi", "region_columns": {"wifi": "WiFis"}}
    FIELD = "wifiAccessPoints"
    MODEL = MODEL
    BATCH = 500
    INTERVAL = 5.0
    MAX_DIST = 5000.0
    MAX_ACCURACY = 200.0
    RANKING = RANKING
    #: network names are not kept
    UNSTORED = frozenset({"ssid"})
    normalize_entry = staticmethod(normalize_entry)

    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The kit's split, and the ``data.observation.wifi_standard`` metric:
        one count per WiFi standard (``radioType``) a positioned report names,
        tagged ``standard:802.11ax`` ..."""
        out = super().split(report)
        if out and self.context is not None and self.context.metrics.enabled:
            standards = Counter(e.get("radioType") for e in report.get(self.FIELD) or []
                                if isinstance(e, dict) and e.get("radioType"))
            for standard, count in standards.items():
                self.context.metrics.incr("data.observation.wifi_standard", count,
                                          tags=[f"standard:{standard}", "type:wifi"])
        return out

    def excluded(self, entry: dict[str, Any]) -> bool:
        """Opted-out networks (``_nomap``, ``_optout``) and moving ones (by
        name, ``ICHNAEA_WIFI__MOVING_SSIDS``) are never learned; a station
        learned before is removed."""
        ssid = entry.get("ssid")
        if not ssid:
            return False
        if opted_out(ssid):
            return True
        found = self.context.plugin_settings(self.PLUGIN_NAME) if self.context else None
        settings = found if isinstance(found, WifiSettings) else WifiSettings()
        return name_matcher(settings.moving_ssids)(ssid)

    def signal_weight(self, observation: dict[str, Any]) -> float:
        signal = observation.get("signal")
        signal = -80 if signal is None else signal
        return (10000.0 / (signal - 20) ** 2) ** 2
