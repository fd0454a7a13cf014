"""The plugin's entry point: registration only; the real code is imported late."""

from __future__ import annotations

from typing import Any

from ichnaea_host import hookimpl


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import ExampleSettings

    return ExampleSettings


@hookimpl
def ichnaea_register_exporters() -> list[Any]:
    from .exporter import FileExporter

    return [FileExporter]


@hookimpl
def ichnaea_register_radios() -> list[Any]:
    from .radio import LandmarkRadio

    return [LandmarkRadio]
