"""Answering /v1/country from the regions of the learnt Bluetooth beacons."""

from __future__ import annotations

from ichnaea_host import MacRegionSource

from .models import MODEL


class BlueRegionSource(MacRegionSource):
    PLUGIN_NAME = "blue"
    DEFAULT_ORDER = 10
    MODEL = MODEL
