"""Entry point of the export_geosubmit plugin: registration only, imports deferred."""

from __future__ import annotations

from typing import Any

from ichnaea_host import hookimpl


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import GeosubmitSettings

    return GeosubmitSettings


@hookimpl
def ichnaea_register_exporters() -> list[Any]:
    from .exporter import GeosubmitExporter

    return [GeosubmitExporter]
