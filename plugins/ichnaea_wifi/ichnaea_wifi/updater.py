"""Learning access points from positioned reports."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from ichnaea_host import Aggregate, HostContext, MacStationUpdater, UpdateStats

from . import standards
from .mac import RANKING, normalize_entry
from .models import MODEL
from .names import name_matcher, opted_out
from .settings import WifiSettings
from .ssid import hidden, ssid_hash

#: the field of an observation carrying the short hash of the network's name
SSID_HASH = "ssid_hash"


def normalize_with_ssid_hash(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The fragment's normal form of an entry, plus the short hash of its
    name (:mod:`.ssid`) when it names one, and its WiFi standard when it
    names a known one; the name itself goes no further than
    :meth:`WifiUpdater.excluded` (``UNSTORED``)."""
    out = normalize_entry(entry)
    if out is None:
        return None
    if not hidden(out["ssid"]):
        out[SSID_HASH] = ssid_hash(out["ssid"])
    standard = standards.wifi_standard(entry.get("radioType"))
    if standard is not None:
        out[standards.FIELD] = standard
    return out


def last_ssid_hashes(observations: list[dict[str, Any]]) -> dict[str, str]:
    """Per network, the short name hash of its last observation naming one
    among those the kit uses (the GNSS ones when there are any, else the
    ones from locate queries)."""
    gnss: dict[str, str] = {}
    query: dict[str, str] = {}
    has_gnss: set[str] = set()
    for obs in observations:
        key = obs.get("mac")
        if key is None:
            continue
        is_query = obs.get("source") == "query"
        if not is_query:
            has_gnss.add(key)
        value = obs.get(SSID_HASH)
        if value is not None:
            (query if is_query else gnss)[key] = value
    out = {key: value for key, value in query.items() if key not in has_gnss}
    out.update(gnss)
    return out


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
    #: owners may opt an access point out, or reset one that moved, on /optout
    OWNER_REQUESTS = True
    MAX_ACCURACY = 200.0
    RANKING = RANKING
    #: network names are not kept, only their short hash (``ssid_hash``)
    UNSTORED = frozenset({"ssid"})
    normalize_entry = staticmethod(normalize_with_ssid_hash)

    def __init__(self, context: HostContext) -> None:
        super().__init__(context)
        # the name hashes of one update run; runs of different work
        # partitions may share this object in different threads
        self._run = threading.local()

    def update(self, shard: str, observations: list[dict[str, Any]]) -> UpdateStats:
        """The kit's update; every station it writes keeps the short hash of
        the name it was last seen with (an observation without a name leaves
        the hash the station had)."""
        self._run.hashes = last_ssid_hashes(observations)
        try:
            stats = super().update(shard, observations)
        finally:
            self._run.hashes = {}
        self._count_standards(observations)
        return stats

    def _count_standards(self, observations: list[dict[str, Any]]) -> None:
        """Observations per WiFi standard (``radioType``), for the statistics
        page (:mod:`.standards`) and the ``data.observation.wifi_standard``
        metric, tagged ``standard:802.11ax`` ..."""
        counts = standards.count(observations)
        if not counts or self.context is None:
            return
        standards.record(self.context, counts)
        if self.context.metrics.enabled:
            for standard, value in counts.items():
                self.context.metrics.incr("data.observation.wifi_standard", value,
                                          tags=[f"standard:{standard}", "type:wifi"])

    def _values(self, status: str, key: str, row: Any, agg: Aggregate, source: int,
                now: datetime) -> dict[str, Any]:
        values = super()._values(status, key, row, agg, source, now)
        learned = getattr(self._run, "hashes", {}).get(key)
        values[SSID_HASH] = learned if learned is not None else (
            getattr(row, SSID_HASH, None) if row is not None else None)
        return values

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
