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
def ichnaea_register_radios() -> list[Any]:
    from .radio import BlueRadio

    return [BlueRadio]


@hookimpl
def ichnaea_migration_dirs() -> list[MigrationDir]:
    return [MigrationDir("blue", Path(__file__).parent / "migrations")]

