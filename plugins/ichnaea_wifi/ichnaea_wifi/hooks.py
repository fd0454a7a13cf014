"""Entry point of the wifi plugin: registration only, imports deferred."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ichnaea_host import MigrationDir, hookimpl


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import WifiSettings

    return WifiSettings


@hookimpl
def ichnaea_register_report_fragments() -> list[Any]:
    from .fragment import WifiFragment

    return [WifiFragment]


@hookimpl
def ichnaea_register_station_updaters() -> list[Any]:
    from .updater import WifiUpdater

    return [WifiUpdater]


@hookimpl
def ichnaea_register_location_sources() -> list[Any]:
    from .region import WifiRegionSource
    from .source import WifiPositionSource

    return [WifiPositionSource, WifiRegionSource]


@hookimpl
def ichnaea_migration_dirs() -> list[MigrationDir]:
    return [MigrationDir("wifi", Path(__file__).parent / "migrations")]
