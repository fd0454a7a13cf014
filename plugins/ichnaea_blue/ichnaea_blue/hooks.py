"""Entry point of the blue plugin: registration only, imports deferred."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ichnaea_host import MigrationDir, hookimpl


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import BlueSettings

    return BlueSettings


@hookimpl
def ichnaea_register_report_fragments() -> list[Any]:
    from .fragment import BlueFragment

    return [BlueFragment]


@hookimpl
def ichnaea_register_station_updaters() -> list[Any]:
    from .updater import BlueUpdater

    return [BlueUpdater]


@hookimpl
def ichnaea_register_location_sources() -> list[Any]:
    from .region import BlueRegionSource
    from .source import BluePositionSource

    return [BluePositionSource, BlueRegionSource]


@hookimpl
def ichnaea_migration_dirs() -> list[MigrationDir]:
    return [MigrationDir("blue", Path(__file__).parent / "migrations")]


@hookimpl
def ichnaea_register_coverage_layers() -> list[Any]:
    from .coverage import LAYER

    return [LAYER]
