"""The ``bluetoothBeacons`` part of geolocate queries and submitted reports."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from ichnaea_host import LenientInteger, Query, ReportFragment, unique_networks

from .mac import RANKING, normalize_entry


class BlueEntry(Schema):
    """One beacon; the same fields in queries and in submitted reports."""

    class Meta:
        unknown = EXCLUDE

    macAddress = fields.String(allow_none=True)
    age = LenientInteger()
    signalStrength = LenientInteger()
    name = fields.String(allow_none=True)


class BlueFragment(ReportFragment):
    PLUGIN_NAME = "blue"
    FIELD = "bluetoothBeacons"
    V0_FIELD = "blue"
    V0_RENAMES = {"key": "macAddress", "signal": "signalStrength"}
    DATA_ACCURACY = "high"
    ENUMERABLE = True

    def submit_entry_schema(self) -> Schema:
        return BlueEntry()

    def query_entry_schema(self) -> Schema:
        return BlueEntry()

    def clean_submit(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Entries of a submitted report: those without a MAC string are dropped,
        the MAC itself is kept as sent (the pipeline validates it)."""
        return [{k: v for k, v in e.items() if v is not None}
                for e in entries if isinstance(e.get("macAddress"), str)]

    def parse_query(self, entries: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        """Valid, de-duplicated beacons; none when fewer than two unique ones remain."""
        return unique_networks(entries, normalize_entry, RANKING)

    def query_json(self, lookups: list[Any]) -> list[dict[str, Any]]:
        names = {"mac": "macAddress", "age": "age", "signal": "signalStrength", "name": "name"}
        return [{names[k]: v for k, v in lookup.items() if v is not None} for lookup in lookups]

    def network_ids(self, lookups: list[Any], query: Query) -> dict[str, set[str]]:
        return {"blue": {lookup["mac"] for lookup in lookups}}
