"""Settings of the example plugin (ICHNAEA_EXAMPLE__FOLDER, ICHNAEA_EXAMPLE__LANDMARKS)."""

from __future__ import annotations

import dataclasses
import functools
import math

from ichnaea_host import ConfigError, PluginSettings, setting


@dataclasses.dataclass(frozen=True)
class ExampleSettings(PluginSettings):
    folder: str = setting("var/example-exports", help="folder the batches are written to")
    landmarks: str = setting(
        "", help="transmitters of known position, for the example radio: id=lat,lon;...")

    def validate(self) -> None:
        if not self.folder.strip():
            raise ConfigError("ICHNAEA_EXAMPLE__FOLDER", "must name a folder")
        try:
            self.landmark_positions  # noqa: B018 (parsed once, here)
        except ValueError as exc:
            raise ConfigError("ICHNAEA_EXAMPLE__LANDMARKS", str(exc)) from None

    @functools.cached_property
    def landmark_positions(self) -> dict[str, tuple[float, float]]:
        """The landmarks, ``{id: (lat, lon)}``."""
        out = {}
        for item in filter(None, (part.strip() for part in self.landmarks.split(";"))):
            name, _, spot = item.partition("=")
            try:
                lat, lon = (float(x) for x in spot.split(","))
            except ValueError:
                lat = lon = math.nan
            if not (name.strip() and -90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"not id=lat,lon: {item!r}")
            out[name.strip()] = (lat, lon)
        return out
