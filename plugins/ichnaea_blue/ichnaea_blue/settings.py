"""Operator settings of the blue plugin (ICHNAEA_BLUE__<NAME>)."""

from __future__ import annotations

import dataclasses
import math

from ichnaea_host import ConfigError, MacSettings, setting


@dataclasses.dataclass(frozen=True)
class BlueSettings(MacSettings):
    cluster_meters: float = setting(
        100.0, help="beacons farther apart than this never form one answer")
    max_networks: int = setting(10, help="beacons used for one position (best scored first)")
    station_range: float = setting(
        25.0, help="range, in metres, assumed for a beacon seen once; it fades as the "
                   "beacon's own observed radius takes over")
    moving_meters: float = setting(
        75.0, help="a station seen this many metres from its position within moving_hours "
                  "of its last change travels and is blocked "
                  "(a beacon is heard over 10-50 m); 0: never")
    moving_hours: float = setting(24.0, help="the window of moving_meters, in hours")
    min_accuracy: float = setting(10.0, help="smallest accuracy answered, in metres")
    max_accuracy: float = setting(50.0, help="largest accuracy answered, in metres")

    def validate(self) -> None:
        if not self.cluster_meters > 0:
            raise ConfigError("ICHNAEA_BLUE__CLUSTER_METERS", "must be positive")
        if not (self.station_range > 0 and math.isfinite(self.station_range)):
            raise ConfigError("ICHNAEA_BLUE__STATION_RANGE", "must be a positive number of metres")
        if self.max_networks < 2:
            raise ConfigError("ICHNAEA_BLUE__MAX_NETWORKS", "must be at least 2")
        if not 0 < self.min_accuracy <= self.max_accuracy:
            raise ConfigError("ICHNAEA_BLUE__MIN_ACCURACY",
                              "must be positive and at most ICHNAEA_BLUE__MAX_ACCURACY")
