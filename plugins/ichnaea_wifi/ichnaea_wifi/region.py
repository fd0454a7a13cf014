"""Answering /v1/country from the regions of the learnt access points."""

from __future__ import annotations

import peewee

from ichnaea_host.stations import StationRegionSource

from .mac import shard_of
from .models import SHARD_MODELS


class WifiRegionSource(StationRegionSource):
    PLUGIN_NAME = "wifi"
    DEFAULT_ORDER = 20

    def model(self, shard: str) -> type[peewee.Model]:
        return SHARD_MODELS[shard]

    def shard_of(self, key: str) -> str:
        return shard_of(key)
