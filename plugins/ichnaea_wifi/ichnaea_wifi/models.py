"""The wifi station table: ``wifi``, keyed by MAC (one table for every work
partition; migration 002 moved the rows of the old shard tables into it)."""

from __future__ import annotations

from ichnaea_host import mac_station_model

MODEL = mac_station_model("wifi")
