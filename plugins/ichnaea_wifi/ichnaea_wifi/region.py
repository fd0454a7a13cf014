"""Answering /v1/country from the regions of the learnt access points."""

from __future__ import annotations

from typing import Any

import peewee

from ichnaea_host.interfaces import LocationSource, Query, Region
from ichnaea_host.log import get_logger
from ichnaea_host.stations import load_station_regions, regions_from_stations

from .mac import shard_of
from .models import SHARD_MODELS

log = get_logger("ichnaea.wifi")


class WifiRegionSource(LocationSource):
    PLUGIN_NAME = "wifi"
    KIND = "region"
    DEFAULT_ORDER = 20
    INTERNAL = True

    def should_search(self, query: Query, results: Any) -> bool:
        return bool(query.networks.get("wifi"))

    def search(self, query: Query) -> list[Region]:
        macs = [n["mac"] for n in query.networks.get("wifi") or []]
        try:
            stations = load_station_regions(self.context.db.ro, SHARD_MODELS.__getitem__,
                                            shard_of, "mac", macs)
        except (peewee.DatabaseError, peewee.InterfaceError, OSError) as exc:
            log.warning("station_lookup_failed", error=type(exc).__name__)
            return []
        return regions_from_stations(stations, "wifi")
