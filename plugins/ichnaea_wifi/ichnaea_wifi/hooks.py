"""Entry point of the wifi plugin: registration only, imports deferred."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ichnaea_host import DownloadSection, MigrationDir, PeriodicJob, StatsSection, hookimpl


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
def ichnaea_register_periodic_jobs() -> list[PeriodicJob]:
    from . import dump

    return [PeriodicJob(name=dump.JOB_NAME, interval=dump.INTERVAL, run=dump.run)]


@hookimpl
def ichnaea_register_download_sections() -> list[DownloadSection]:
    from .dump import download_section

    return [download_section()]


@hookimpl
def ichnaea_register_stats_sections() -> list[StatsSection]:
    from .standards import stats_section

    return [stats_section()]


@hookimpl
def ichnaea_register_commands(cli: Any) -> None:
    from .dump import make_group

    cli.add_command(make_group())


@hookimpl
def ichnaea_migration_dirs() -> list[MigrationDir]:
    return [MigrationDir("wifi", Path(__file__).parent / "migrations")]


@hookimpl
def ichnaea_register_coverage_layers() -> list[Any]:
    from .coverage import LAYER

    return [LAYER]
