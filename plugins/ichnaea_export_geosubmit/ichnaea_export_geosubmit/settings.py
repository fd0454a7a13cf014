"""Operator settings of the geosubmit exporter (``ICHNAEA_EXPORT_GEOSUBMIT__<NAME>``)."""

from __future__ import annotations

import dataclasses

from ichnaea_host import ConfigError, PluginSettings, setting


@dataclasses.dataclass(frozen=True)
class GeosubmitSettings(PluginSettings):
    timeout: float = setting(
        60.0, help="seconds to wait for the target to connect and to answer one batch")

    def validate(self) -> None:
        if self.timeout <= 0:
            raise ConfigError("ICHNAEA_EXPORT_GEOSUBMIT__TIMEOUT", "must be positive")
