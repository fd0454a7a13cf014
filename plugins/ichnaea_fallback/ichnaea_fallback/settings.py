"""Operator settings of the fallback plugin (ICHNAEA_FALLBACK__<NAME>)."""

from __future__ import annotations

import dataclasses

from ichnaea_host import ConfigError, PluginSettings, setting


@dataclasses.dataclass(frozen=True)
class FallbackSettings(PluginSettings):
    timeout: float = setting(
        5.0, help="seconds one provider call may take, connecting and answering together")
    pool_size: int = setting(20, help="kept-alive connections per provider host and process")
    max_response_bytes: int = setting(
        1_000_000, help="larger provider answers are dropped as errors")

    def validate(self) -> None:
        if not 0 < self.timeout <= 60:
            raise ConfigError("ICHNAEA_FALLBACK__TIMEOUT",
                              f"expected seconds between 0 and 60, got {self.timeout}")
        if self.pool_size < 1:
            raise ConfigError("ICHNAEA_FALLBACK__POOL_SIZE",
                              f"expected at least 1, got {self.pool_size}")
        if self.max_response_bytes < 1024:
            raise ConfigError("ICHNAEA_FALLBACK__MAX_RESPONSE_BYTES",
                              f"expected at least 1024, got {self.max_response_bytes}")
