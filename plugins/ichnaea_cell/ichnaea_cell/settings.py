"""Operator settings of the cell plugin (ICHNAEA_CELL__<NAME>)."""

from __future__ import annotations

import dataclasses
import math

from ichnaea_host import ConfigError, PluginSettings, setting


@dataclasses.dataclass(frozen=True)
class CellSettings(PluginSettings):
    min_accuracy: float = setting(1000.0, help="smallest accuracy of a cell answer, in metres")
    max_accuracy: float = setting(50000.0, help="largest accuracy of a cell answer, in metres")
    area_min_accuracy: float = setting(
        50000.0, help="smallest accuracy of a cell-area (lacf) answer, in metres")
    area_max_accuracy: float = setting(
        500000.0, help="largest accuracy of a cell-area (lacf) answer, in metres")
    area_batch: int = setting(100, help="cell areas recomputed per run of the area job")

    def variable(self, name: str) -> str:
        """The environment variable a field is read from (``ICHNAEA_CELL__<NAME>``)."""
        return f"{self.ENV_PREFIX}{name.upper()}"

    def validate(self) -> None:
        pairs = (("min_accuracy", "max_accuracy"), ("area_min_accuracy", "area_max_accuracy"))
        for low, high in pairs:
            for name in (low, high):
                value = getattr(self, name)
                if not (math.isfinite(value) and value > 0):
                    raise ConfigError(self.variable(name),
                                      f"expected a positive number of metres, got {value}")
            if getattr(self, low) > getattr(self, high):
                raise ConfigError(self.variable(low),
                                  f"must be at most {self.variable(high)} "
                                  f"({getattr(self, high)}), got {getattr(self, low)}")
        if self.area_batch < 1:
            raise ConfigError(self.variable("area_batch"),
                              f"expected at least 1, got {self.area_batch}")
