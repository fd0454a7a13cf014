"""Bluetooth beacons: the ``bluetoothBeacons`` of reports and queries, the
``blue`` station table, and the answers from it.

The same method as the wifi plugin's answers (:class:`~ichnaea_host.MacRadio`),
with the beacons' limits (:class:`~.settings.BlueSettings`): clusters of at
most ``cluster_meters`` (100 m), the ``max_networks`` (10) best-scored
beacons, a ``station_range`` of 25 m for beacons seen only a few times, and
answers clamped to 10-50 m. The original kept the lowest-scored beacons of a
large cluster and answered the 95th percentile of the beacons' distances
from the mean, which held the true position for about half of the benchmark
world's queries; this radius holds it for about 95 % (``bench/README.md``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from ichnaea_host import LenientInteger, MacRadio, SiteLabels, StationLimits

from .mac import RANKING, identity_key, normalize_entry, normalize_mac
from .models import MODEL
from .settings import BlueSettings


class BlueEntry(Schema):
    """One beacon; the same fields in queries and in submitted reports."""

    class Meta:
        unknown = EXCLUDE

    macAddress = fields.String(allow_none=True)
    age = LenientInteger()
    signalStrength = LenientInteger()
    name = fields.String(allow_none=True)
    #: an announced identity (NeoStumbler): the beacon layout's type (533:
    #: iBeacon) and its identifiers (UUID, major, minor; Eddystone namespace,
    #: instance), as text or numbers
    beaconType = LenientInteger()
    id1 = fields.Raw(allow_none=True)
    id2 = fields.Raw(allow_none=True)
    id3 = fields.Raw(allow_none=True)


class BlueRadio(MacRadio):
    PLUGIN_NAME = "blue"
    FIELD = "bluetoothBeacons"
    ENTRY_SCHEMA = BlueEntry
    V0_FIELD = "blue"
    V0_RENAMES = {"key": "macAddress", "signal": "signalStrength"}
    LONG_NAMES = {"mac": "macAddress", "age": "age", "signal": "signalStrength", "name": "name"}
    SETTINGS = BlueSettings
    settings: BlueSettings
    MODEL = MODEL
    #: observations of one beacon farther apart than this block it
    #: (BLUE_MAX_RADIUS); observations less precise than 100 m weigh nothing
    LIMITS = StationLimits(max_dist=100.0, max_accuracy=100.0, batch=500, interval=5.0)
    LABELS = SiteLabels(title="Bluetooth", series="MLS Bluetooth",
                        region_columns=(("blue", "BLEs"),),
                        coverage="Bluetooth beacons")
    #: the original's ``stat`` keys (observations, new stations)
    STAT_KEYS = (8, 9)
    #: the original's ``data_type`` tag of the Bluetooth queues' gauge
    DATA_TYPE = "bluetooth"
    RANKING = RANKING
    #: beacon names are not kept
    UNSTORED = frozenset({"name"})
    RAW_FIELD = "bluetoothBeacon"
    POSITION_ORDER = 10
    REGION_ORDER = 10
    #: error / accuracy at each ?confidence= level: the "blue" query set of
    #: bench/accuracy.py (2026-12-07)
    CONFIDENCE = {50: 0.463, 60: 0.528, 68: 0.612, 75: 0.683, 80: 0.728,
                  85: 0.782, 90: 0.884, 95: 1.009, 99: 1.373}

    def normalize_entry(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """A query's beacon: by its announced identity when it has one (so a
        beacon whose MAC rotates is still found, and counts once), else by
        its MAC."""
        return normalize_entry(entry, identity=True)

    def parse_query(self, entries: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        """A beacon named by its identity is not counted again under its MAC
        (an entry of the same address without the identity)."""
        announced = {normalize_mac(e.get("macAddress")) for e in entries if identity_key(e)}
        return super().parse_query(
            [e for e in entries
             if identity_key(e) or normalize_mac(e.get("macAddress")) not in announced], body)

    def observed_entry(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """A report's beacon, by its MAC (:meth:`split` adds its identity)."""
        return normalize_entry(entry)

    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """A beacon is learnt under its MAC, as always, and, when it announces
        an identity, under that identity's key too: clients sending MACs
        only still find it, and ones sending the identity find it after its
        MAC changed."""
        out = super().split(report)
        named = [dict(entry, macAddress=key) for entry in report.get(self.FIELD) or []
                 if isinstance(entry, dict) and (key := identity_key(entry))]
        if named:
            for shard, observations in super().split({**report, self.FIELD: named}).items():
                out.setdefault(shard, []).extend(observations)
        return out

    def signal_weight(self, observation: dict[str, Any]) -> float:
        """Beacon signal strengths are not comparable between devices: ignored."""
        return 1.0
