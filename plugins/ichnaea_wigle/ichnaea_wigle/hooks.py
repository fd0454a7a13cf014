"""Entry point of the wigle plugin: registration only, imports deferred."""

from __future__ import annotations

from typing import Any

from ichnaea_host import hookimpl


@hookimpl
def ichnaea_register_commands(cli: Any, context: Any) -> None:
    from .command import register

    register(cli, context)
