"""Answering /v1/country from the regions of the learnt Bluetooth beacons."""

from __future__ import annotations

import peewee

from ichnaea_host.stations import StationRegionSource

from .mac import shard_of
from .models import SHARD_MODELS


class BlueRegionSource(StationRegionSource):
    PLUGIN_NAME = "blue"
    DEFAULT_ORDER = 10

    def model(self, shard: str) -> type[peewee.Model]:
        return SHARD_MODELS[shard]

    def shard_of(self, key: str) -> str:
        return shard_of(key)
