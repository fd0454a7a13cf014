"""Entry point of the cell plugin: registration only, imports deferred."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ichnaea_host import MigrationDir, PeriodicJob, hookimpl


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import CellSettings

    return CellSettings


@hookimpl
def ichnaea_register_report_fragments() -> list[Any]:
    from .fragment import CellFragment

    return [CellFragment]


@hookimpl
def ichnaea_register_station_updaters() -> list[Any]:
    from .updater import CellUpdater

    return [CellUpdater]


@hookimpl
def ichnaea_register_location_sources() -> list[Any]:
    from .source import CellPositionSource, CellRegionSource

    return [CellPositionSource, CellRegionSource]


@hookimpl
def ichnaea_register_periodic_jobs() -> list[PeriodicJob]:
    from . import area, bulk, export

    return [
        PeriodicJob(name=area.JOB_NAME, interval=area.INTERVAL, run=area.run, drain=True),
        PeriodicJob(name=bulk.JOB_NAME, interval=bulk.INTERVAL, run=bulk.run, upgrade=True),
        PeriodicJob(name=export.DIFF_JOB, interval=export.DIFF_INTERVAL, run=export.run_diff),
        PeriodicJob(name=export.FULL_JOB, interval=export.FULL_INTERVAL, run=export.run_full),
    ]


@hookimpl
def ichnaea_register_commands(cli: Any) -> None:
    from .importer import make_group

    cli.add_command(make_group())


@hookimpl
def ichnaea_migration_dirs() -> list[MigrationDir]:
    return [MigrationDir("cell", Path(__file__).parent / "migrations")]


@hookimpl
def ichnaea_register_coverage_layers() -> list[Any]:
    from .coverage import LAYER

    return [LAYER]
