"""Entry point of the geoip plugin: registration only, geoip2 is imported late."""

from __future__ import annotations

from typing import Any

from ichnaea_host import hookimpl


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import GeoIPSettings

    return GeoIPSettings


@hookimpl
def ichnaea_register_position_sources() -> list[Any]:
    from .source import GeoIPPositionSource

    return [GeoIPPositionSource]


@hookimpl
def ichnaea_register_region_sources() -> list[Any]:
    from .source import GeoIPRegionSource

    return [GeoIPRegionSource]


@hookimpl
def ichnaea_register_heartbeat_checks() -> list[Any]:
    from .source import GeoIPHeartbeat

    return [GeoIPHeartbeat]


@hookimpl
def ichnaea_doctor_checks(context: Any, settings: Any) -> list[Any]:
    from .source import doctor_check

    return [doctor_check(context, settings)]
