"""The ``example`` export target: one JSON-lines file per batch of reports."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from ichnaea_host import Exporter

from .settings import ExampleSettings


class FileExporter(Exporter):
    #: the value of ``ichnaea export add NAME --schema example``
    PLUGIN_NAME = "example"
    #: the host retries a batch (and then parks it) after these errors
    RETRIABLE = (OSError,)
    #: the settings the host hands in (those the plugin registers)
    SETTINGS = ExampleSettings
    settings: ExampleSettings

    def send(self, items: list[dict[str, Any]]) -> None:
        folder = Path(self.settings.folder) / self.config.name
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{uuid.uuid4().hex}.jsonl"
        partial = target.with_suffix(".part")
        with partial.open("w", encoding="utf-8") as out:
            for item in items:
                out.write(json.dumps(item["report"], sort_keys=True) + "\n")
        os.replace(partial, target)  # readers never see half a batch
