"""The ``wifiAccessPoints`` part of geolocate queries and submitted reports."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from ichnaea_host import LenientInteger, Query, ReportFragment, unique_networks

from .mac import RANKING, normalize_entry
from .names import opted_out
from .standards import wifi_standard


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


class WifiFragment(ReportFragment):
    PLUGIN_NAME = "wifi"
    FIELD = "wifiAccessPoints"
    V0_FIELD = "wifi"
    V0_RENAMES = {"key": "macAddress", "radio": "radioType", "signal": "signalStrength"}
    DATA_ACCURACY = "high"
    ENUMERABLE = True

    def submit_entry_schema(self) -> Schema:
        return WifiSubmitEntry()

    def query_entry_schema(self) -> Schema:
        return WifiQueryEntry()

    def clean_submit(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for e in entries:
            if not isinstance(e.get("macAddress"), str):
                continue
            entry = {k: v for k, v in e.items() if v is not None}
            if "radioType" in entry:
                standard = wifi_standard(entry["radioType"])
                if standard is None:
                    del entry["radioType"]  # unknown: dropped, the network kept
                else:
                    entry["radioType"] = standard
            out.append(entry)
        return out

    def forwarded(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Networks whose owner opted out (``_nomap``, ``_optout``) never leave
        the service; the internal export still sees them, to forget them."""
        return [e for e in entries if not opted_out(e.get("ssid"))]

    def parse_query(self, entries: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        return unique_networks(entries, normalize_entry, RANKING)

    def query_json(self, lookups: list[Any]) -> list[dict[str, Any]]:
        names = {"mac": "macAddress", "age": "age", "channel": "channel",
                 "frequency": "frequency", "signal": "signalStrength",
                 "snr": "signalToNoiseRatio", "ssid": "ssid"}
        return [{names[k]: v for k, v in lookup.items() if v is not None} for lookup in lookups]

    def network_ids(self, lookups: list[Any], query: Query) -> dict[str, set[str]]:
        return {"wifi": {lookup["mac"] for lookup in lookups}}
