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

from ichnaea_host.stations import ExplainedMacSource

from .models import SHARD_MODELS
from .settings import BlueSettings


class BluePositionSource(ExplainedMacSource):
    PLUGIN_NAME = "blue"
    DEFAULT_ORDER = 10
    SETTINGS = BlueSettings
    MODELS = SHARD_MODELS
    RAW_FIELD = "bluetoothBeacon"
