"""The host's built-in plugin: the ``dummy`` and ``internal`` exporters."""

from __future__ import annotations

from typing import Any

from ichnaea_host.core.hookspecs import hookimpl


@hookimpl
def ichnaea_register_exporters() -> list[Any]:
    from ichnaea_host.pipeline.exporters import DummyExporter, InternalExporter

    return [DummyExporter, InternalExporter]
