"""WiFi access points: the ``wifiAccessPoints`` of reports and queries, the
``wifi`` station table, and the answers from it.

The method of the answers, shared with the Bluetooth beacons, is the station
kit's (:class:`~ichnaea_host.MacRadio`: weighted mean of the best-scored
networks of each complete-linkage cluster, and the 95 % radius of that mean);
this radio supplies its limits (:class:`~.settings.WifiSettings`: clusters of
at most 500 m, the 20 best-scored networks, a ``station_range`` of 100 m for
networks seen only a few times, answers clamped to 10-500 m), what is truly
its own (names: opted-out and moving networks, the short name hash a station
keeps; WiFi standards) and its table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from ichnaea_host import (
    LenientInteger,
    MacRadio,
    SiteLabels,
    StationLimits,
)

from . import standards
from .mac import RANKING, normalize_entry
from .models import MODEL
from .names import name_matcher, opted_out
from .settings import WifiSettings
from .ssid import hidden, ssid_hash

#: the field of an observation carrying the short hash of the network's name
SSID_HASH = "ssid_hash"


class WifiQueryEntry(Schema):
    class Meta:
        unknown = EXCLUDE

    macAddress = fields.String(allow_none=True)
    age = LenientInteger()
    channel = LenientInteger()
    frequency = LenientInteger()
    signalStrength = LenientInteger()
    signalToNoiseRatio = LenientInteger()
    ssid = fields.String(allow_none=True)


class WifiSubmitEntry(WifiQueryEntry):
    radioType = fields.String(allow_none=True)
    #: NeoStumbler's WiFi RTT range, ``{distance, accuracy, type}`` (metres;
    #: ``ONE_SIDED`` or ``TWO_SIDED``): checked by :func:`ranged_distance`
    estimatedDistance = fields.Raw(allow_none=True)


#: metres: a WiFi RTT range beyond this is no measurement (802.11mc reaches ~100 m)
MAX_RANGE = 1000.0


def ranged_distance(value: Any) -> dict[str, Any] | None:
    """A two-sided RTT range (``{"distance", "accuracy", "type": "TWO_SIDED"}``,
    finite and within :data:`MAX_RANGE`), or None: one-sided ranges can be
    wrong by orders of magnitude (NeoStumbler's own documentation), so they
    are not kept, nor is anything malformed."""
    if not isinstance(value, dict) or str(value.get("type", "")).upper() != "TWO_SIDED":
        return None
    out: dict[str, Any] = {"type": "TWO_SIDED"}
    for name in ("distance", "accuracy"):
        number = value.get(name)
        if isinstance(number, bool) or not isinstance(number, (int, float)) \
                or not 0.0 <= number <= MAX_RANGE:
            if name == "distance":
                return None
            continue
        out[name] = float(number)
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


class WifiRadio(MacRadio):
    PLUGIN_NAME = "wifi"
    FIELD = "wifiAccessPoints"
    ENTRY_SCHEMA = WifiSubmitEntry
    QUERY_SCHEMA = WifiQueryEntry
    V0_FIELD = "wifi"
    V0_RENAMES = {"key": "macAddress", "radio": "radioType", "signal": "signalStrength"}
    LONG_NAMES = {"mac": "macAddress", "age": "age", "channel": "channel",
                  "frequency": "frequency", "signal": "signalStrength",
                  "snr": "signalToNoiseRatio", "ssid": "ssid"}
    SETTINGS = WifiSettings
    settings: WifiSettings
    MODEL = MODEL
    LIMITS = StationLimits(max_dist=5000.0, max_accuracy=200.0, batch=500, interval=5.0)
    LABELS = SiteLabels(title="WiFi", series="MLS WiFi", region_columns=(("wifi", "WiFis"),),
                       coverage="WiFi access points")
    #: the original's ``stat`` keys (observations, new stations)
    STAT_KEYS = (3, 4)
    #: owners may opt an access point out, or reset one that moved, on /optout
    OWNER_REQUESTS = True
    RANKING = RANKING
    #: network names are not kept, only their short hash (``ssid_hash``)
    UNSTORED = frozenset({"ssid"})
    RAW_FIELD = "wifiAccessPoint"
    POSITION_ORDER = 20
    REGION_ORDER = 20
    #: error / accuracy at each ?confidence= level: the "wifi" query set of
    #: bench/accuracy.py (2026-12-07)
    CONFIDENCE = {50: 0.314, 60: 0.379, 68: 0.445, 75: 0.514, 80: 0.573,
                  85: 0.651, 90: 0.764, 95: 0.919, 99: 1.379}

    # -- reports and queries
    def normalize_entry(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        return normalize_entry(entry)

    def clean_report(self, entries: list[dict[str, Any]],
                     report: dict[str, Any]) -> list[dict[str, Any]]:
        """Entries with a MAC string, nulls left out; an unknown ``radioType``
        (WiFi standard) is dropped, the network kept."""
        out = []
        for e in entries:
            if not isinstance(e.get("macAddress"), str):
                continue
            entry = {k: v for k, v in e.items() if v is not None}
            if "radioType" in entry:
                standard = standards.wifi_standard(entry["radioType"])
                if standard is None:
                    del entry["radioType"]
                else:
                    entry["radioType"] = standard
            if "estimatedDistance" in entry:
                ranged = ranged_distance(entry.pop("estimatedDistance"))
                if ranged is not None:
                    entry["estimatedDistance"] = ranged
            out.append(entry)
        return out

    def forwarded(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Networks whose owner opted out (``_nomap``, ``_optout``) never leave
        the service; the internal export still sees them, to forget them."""
        return [e for e in entries if not opted_out(e.get("ssid"))]

    # -- the pipeline
    def observed_entry(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The normal form of an entry, plus the short hash of its name
        (:mod:`.ssid`) when it names one, and its WiFi standard when it names
        a known one; the name itself goes no further than :meth:`excluded`
        (``UNSTORED``)."""
        out = normalize_entry(entry)
        if out is None:
            return None
        if not hidden(out["ssid"]):
            out[SSID_HASH] = ssid_hash(out["ssid"])
        standard = standards.wifi_standard(entry.get("radioType"))
        if standard is not None:
            out[standards.FIELD] = standard
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
        return name_matcher(self.settings.moving_ssids)(ssid)

    def signal_weight(self, observation: dict[str, Any]) -> float:
        signal = observation.get("signal")
        signal = -80 if signal is None else signal
        return (10000.0 / (signal - 20) ** 2) ** 2

    def extra_columns(self, observations: list[dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        """Every station written keeps the short hash of the name it was last
        seen with (an observation without a name leaves the hash it had)."""
        hashes = last_ssid_hashes(observations)

        def columns(status: str, key: str, row: Any, values: dict[str, Any]) -> dict[str, Any]:
            learned = hashes.get(key)
            if learned is None and row is not None:
                learned = row.ssid_hash
            return {SSID_HASH: learned}

        return columns

    def after_update(self, shard: str, observations: list[dict[str, Any]],
                     written: list[str]) -> None:
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
