"""Settings of the example plugin (ICHNAEA_EXAMPLE__FOLDER)."""

from __future__ import annotations

import dataclasses

from ichnaea_host import ConfigError, PluginSettings, setting


@dataclasses.dataclass(frozen=True)
class ExampleSettings(PluginSettings):
    folder: str = setting("var/example-exports", help="folder the batches are written to")

    def validate(self) -> None:
        if not self.folder.strip():
            raise ConfigError("ICHNAEA_EXAMPLE__FOLDER", "must name a folder")
