"""Entry point of the fallback plugin: registration only, requests is imported late."""

from __future__ import annotations

from typing import Any

from ichnaea_host import hookimpl


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import FallbackSettings

    return FallbackSettings


@hookimpl
def ichnaea_register_position_sources() -> list[Any]:
    from .source import FallbackPositionSource

    return [FallbackPositionSource]


@hookimpl
def ichnaea_register_fallback_schemas() -> list[Any]:
    from .schemas import SCHEMAS

    return list(SCHEMAS)
