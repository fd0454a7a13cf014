"""Entry point of the wifi plugin: registration only, imports deferred."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ichnaea_host import (
    CommandContext,
    DownloadSection,
    MigrationDir,
    PeriodicJob,
    StatsSection,
    hookimpl,
)


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import WifiSettings

    return WifiSettings


@hookimpl
def ichnaea_register_radios() -> list[Any]:
    from .radio import WifiRadio

    return [WifiRadio]


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
def ichnaea_register_commands(cli: Any, context: CommandContext) -> None:
    from .dump import make_group

    cli.add_command(make_group(context))


@hookimpl
def ichnaea_migration_dirs() -> list[MigrationDir]:
    return [MigrationDir("wifi", Path(__file__).parent / "migrations")]

