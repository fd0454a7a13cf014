"""Settings of the geoip plugin."""

from __future__ import annotations

import dataclasses

from ichnaea_host.settings import PluginSettings, setting


@dataclasses.dataclass(frozen=True)
class GeoIPSettings(PluginSettings):
    path: str = setting(
        "", env="GEOIP_PATH",
        help="a MaxMind-format City database (GeoLite2, GeoIP2, DB-IP); empty: the demo "
             "database, built under the var folder on first use")
