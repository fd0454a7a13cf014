"""Answering geolocate queries from the learnt access points.

The method, shared with the Bluetooth beacons, is
:mod:`ichnaea_host.stations.search` (weighted mean of the best-scored
networks of each complete-linkage cluster, and the 95 % radius of that
mean); this plugin supplies its limits (:class:`~.settings.WifiSettings`:
clusters of at most 500 m, the 20 best-scored networks, a ``station_range``
of 100 m for networks seen only a few times, answers clamped to 10-500 m)
and its station table.
"""

from __future__ import annotations

from ichnaea_host import ExplainedMacSource

from .models import MODEL
from .settings import WifiSettings


class WifiPositionSource(ExplainedMacSource):
    PLUGIN_NAME = "wifi"
    #: error / accuracy at each ?confidence= level: the "wifi" query set of
    #: bench/accuracy.py (2026-12-07)
    CONFIDENCE = {50: 0.314, 60: 0.379, 68: 0.445, 75: 0.514, 80: 0.573,
                  85: 0.651, 90: 0.764, 95: 0.919, 99: 1.379}
    DEFAULT_ORDER = 20
    SETTINGS = WifiSettings
    MODEL = MODEL
    RAW_FIELD = "wifiAccessPoint"
