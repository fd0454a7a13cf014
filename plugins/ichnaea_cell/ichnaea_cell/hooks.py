"""Entry point of the cell plugin: registration only, imports deferred."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ichnaea_host import CommandContext, MigrationDir, PeriodicJob, hookimpl


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import CellSettings

    return CellSettings


@hookimpl
def ichnaea_register_radios() -> list[Any]:
    from .radio import CellRadio

    return [CellRadio]


@hookimpl
def ichnaea_register_periodic_jobs() -> list[PeriodicJob]:
    from . import area, bulk, export

    return [
        PeriodicJob(name=area.JOB_NAME, interval=area.INTERVAL, run=area.run, drain=True),
        PeriodicJob(name=bulk.JOB_NAME, interval=bulk.INTERVAL,
                    run=lambda context, _settings: bulk.run(context), upgrade=True),
        PeriodicJob(name=export.DIFF_JOB, interval=export.DIFF_INTERVAL,
                    run=lambda context, _settings: export.run_diff(context)),
        PeriodicJob(name=export.FULL_JOB, interval=export.FULL_INTERVAL,
                    run=lambda context, _settings: export.run_full(context)),
    ]


@hookimpl
def ichnaea_register_commands(cli: Any, context: CommandContext) -> None:
    from .importer import make_group

    cli.add_command(make_group(context))


@hookimpl
def ichnaea_migration_dirs() -> list[MigrationDir]:
    return [MigrationDir("cell", Path(__file__).parent / "migrations")]

