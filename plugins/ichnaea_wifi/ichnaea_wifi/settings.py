"""Operator settings of the wifi plugin (ICHNAEA_WIFI__<NAME>)."""

from __future__ import annotations

import dataclasses

from ichnaea_host.settings import ConfigError, PluginSettings, setting


@dataclasses.dataclass(frozen=True)
class WifiSettings(PluginSettings):
    cluster_meters: float = setting(
        500.0, help="networks farther apart than this never form one answer")
    max_networks: int = setting(20, help="networks used for one position (best scored first)")
    min_accuracy: float = setting(10.0, help="smallest accuracy answered, in metres")
    max_accuracy: float = setting(500.0, help="largest accuracy answered, in metres")

    def validate(self) -> None:
        if self.cluster_meters <= 0:
            raise ConfigError("ICHNAEA_WIFI__CLUSTER_METERS", "must be positive")
        if self.max_networks < 2:
            raise ConfigError("ICHNAEA_WIFI__MAX_NETWORKS", "must be at least 2")
        if not 0 < self.min_accuracy <= self.max_accuracy:
            raise ConfigError("ICHNAEA_WIFI__MIN_ACCURACY",
                              "must be positive and at most ICHNAEA_WIFI__MAX_ACCURACY")
