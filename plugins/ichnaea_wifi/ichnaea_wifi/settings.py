"""Operator settings of the wifi plugin (ICHNAEA_WIFI__<NAME>)."""

from __future__ import annotations

import dataclasses
import math

from ichnaea_host import ConfigError, MacSettings, setting

#: names of networks that travel: on-board WiFi of trains and coaches, and the
#: default names of phone hotspots
MOVING_SSIDS = (
    "WIFIonICE", "WIFI@DB", "OEBB", "SBB-FREE", "CDWiFi", "_SNCF_WIFI_INOUI",
    "SNCF_WIFI_INTERCITES", "WiFi in de trein", "Amtrak_WiFi", "FlixBus*", "MeinFernbus*",
    "Megabus*", "Greyhound*", "*iPhone*", "Galaxy*", "AndroidAP*", "Android_*", "Pixel_*",
    "Redmi*", "Xperia*",
)


@dataclasses.dataclass(frozen=True)
class WifiSettings(MacSettings):
    cluster_meters: float = setting(
        500.0, help="networks farther apart than this never form one answer")
    max_networks: int = setting(20, help="networks used for one position (best scored first)")
    station_range: float = setting(
        100.0, help="range, in metres, assumed for a network seen once; it fades as the "
                    "network's own observed radius takes over")
    moving_ssids: tuple[str, ...] = setting(
        MOVING_SSIDS,
        help="names of moving networks (trains, buses, phone hotspots), never learned: "
             "comma-separated, case-insensitive; * matches any text (AndroidAP*, *iPhone*)")
    moving_meters: float = setting(
        2000.0, help="a station seen this many metres from its position within moving_hours "
                  "of its last change travels and is blocked "
                  "(a network is heard over 100-300 m); 0: never")
    moving_hours: float = setting(24.0, help="the window of moving_meters, in hours")
    min_accuracy: float = setting(10.0, help="smallest accuracy answered, in metres")
    max_accuracy: float = setting(500.0, help="largest accuracy answered, in metres")
    dump: bool = setting(
        False, help="write the daily WiFi dump (networks keyed by a hash of BSSID and SSID, "
                    "no address in clear) to the exports folder or ASSET_BUCKET at 01:07 UTC")
    dump_days: int = setting(
        365, help="networks in the WiFi dump: those seen in the last this many days")

    def variable(self, name: str) -> str:
        """The environment variable a field is read from (``ICHNAEA_WIFI__<NAME>``)."""
        return f"{self.ENV_PREFIX}{name.upper()}"

    def validate(self) -> None:
        for name in ("cluster_meters", "station_range", "min_accuracy", "max_accuracy"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(self.variable(name),
                                  f"expected a positive number of metres, got {value}")
        for pattern in self.moving_ssids:
            if not pattern.strip("*"):
                raise ConfigError(self.variable("moving_ssids"),
                                  f"a name must have more than *, got {pattern!r}")
        if self.dump_days < 1:
            raise ConfigError(self.variable("dump_days"),
                              f"expected at least 1 day, got {self.dump_days}")
        if self.max_networks < 2:
            raise ConfigError(self.variable("max_networks"),
                              f"expected at least 2, got {self.max_networks}")
        if self.min_accuracy > self.max_accuracy:
            raise ConfigError(self.variable("min_accuracy"),
                              f"must be at most {self.variable('max_accuracy')} "
                              f"({self.max_accuracy}), got {self.min_accuracy}")
