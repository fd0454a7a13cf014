"""The wifi station table: ``wifi``, keyed by MAC (one table for every work
partition; migration 002 moved the rows of the old shard tables into it),
with the short hash of the name (SSID) each network was last seen with
(migration 004; :mod:`.ssid`)."""

from __future__ import annotations

from ichnaea_host import BinaryKeyField, mac_station_model

from .ssid import SSID_HASH_BYTES


class SsidHashField(BinaryKeyField):
    """``BINARY(4)``, shown as 8 hex digits; the station kit's SQL reads and
    writes it as it does the keys."""

    LENGTH = SSID_HASH_BYTES


MODEL = mac_station_model("wifi", extra={"ssid_hash": SsidHashField(null=True)})
