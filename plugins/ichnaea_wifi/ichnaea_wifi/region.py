"""Answering /v1/country from the regions of the learnt access points."""

from __future__ import annotations

from ichnaea_host import MacRegionSource

from .models import MODEL


class WifiRegionSource(MacRegionSource):
    PLUGIN_NAME = "wifi"
    DEFAULT_ORDER = 20
    MODEL = MODEL
