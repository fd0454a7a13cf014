"""Answering geolocate queries from the learnt Bluetooth beacons.

The same method as the wifi plugin's source (:mod:`ichnaea_host.stations.search`),
with the beacons' limits (:class:`~.settings.BlueSettings`): clusters of at
most ``cluster_meters`` (100 m), the ``max_networks`` (10) best-scored
beacons, a ``station_range`` of 25 m for beacons seen only a few times, and
answers clamped to 10-50 m. The original kept the lowest-scored beacons of a
large cluster and answered the 95th percentile of the beacons' distances
from the mean, which held the true position for about half of the benchmark
world's queries; this radius holds it for about 95 % (``bench/README.md``).
"""

from __future__ import annotations

from ichnaea_host import ExplainedMacSource

from .models import MODEL
from .settings import BlueSettings


class BluePositionSource(ExplainedMacSource):
    PLUGIN_NAME = "blue"
    #: error / accuracy at each ?confidence= level: the "blue" query set of
    #: bench/accuracy.py (2026-12-07)
    CONFIDENCE = {50: 0.463, 60: 0.528, 68: 0.612, 75: 0.683, 80: 0.728,
                  85: 0.782, 90: 0.884, 95: 1.009, 99: 1.373}
    DEFAULT_ORDER = 10
    SETTINGS = BlueSettings
    MODEL = MODEL
    RAW_FIELD = "bluetoothBeacon"
