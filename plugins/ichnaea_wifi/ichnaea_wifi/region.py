"""Answering /v1/country from the regions of the learnt access points."""

from __future__ import annotations

from ichnaea_host import MacRegionSource

from .models import SHARD_MODELS


class WifiRegionSource(MacRegionSource):
    PLUGIN_NAME = "wifi"
    DEFAULT_ORDER = 20
    MODELS = SHARD_MODELS
