"""Ichnaea: a self-hostable geolocation service, wire-compatible with the
Mozilla Location Service. This package is the small host; radio types, GeoIP,
fallback providers and export targets are plugins.

**The plugin API.** A plugin imports from the host only what this package
names in ``__all__``: ``from ichnaea_host import hookimpl, LocationSource``.
Everything else (``ichnaea_host.core``, ``ichnaea_host.pipeline`` ...) is the
host's own and may change between versions; a host test fails when a plugin
imports it. The names resolve on first use, so importing a plugin's entry
point costs no more than the modules it really uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ichnaea_host.core.hookspecs import hookimpl

__version__ = "0.1.0"

#: the plugin API, by the module that defines each name: ``name`` or
#: ``(name, name in the module)``
_API: dict[str, tuple[str | tuple[str, str], ...]] = {
    # plugin classes, their values and the lenient fields of report fragments
    "ichnaea_host.core.interfaces": (
        "ApiKey", "CoverageLayer", "DownloadSection", "Exporter", "FallbackSchema",
        "HeartbeatCheck", "HostContext",
        "LenientBoolean", "LenientFloat", "LenientInteger", "LocationSource", "MigrationDir",
        "OwnerRequestRefused", "PeriodicJob", "Position", "Query", "Region", "ReportFragment",
        "StationUpdater", "StatsSection", "UpdateStats",
    ),
    "ichnaea_host.core.settings": ("ConfigError", "PluginSettings", "setting"),
    # ichnaea doctor's lines
    "ichnaea_host.core.checks": ("CheckResult",),
    "ichnaea_host.core.log": ("get_logger", "redact_key"),
    "ichnaea_host.core.clock": ("today_utc",),
    # storage: models, keys and the dialect-aware helpers
    "ichnaea_host.core.db": (
        "BaseModel", "BinaryKeyField", "MacField", "is_mysql", "retry_on_lock",
        "select_for_update", "upsert",
    ),
    "ichnaea_host.core.queues": ("REDIS_ERRORS", "DataQueue", "ExpiringLock"),
    # geography
    "ichnaea_host.core.geo": ("circle_radius", "distance"),
    "ichnaea_host.core.regions": (
        "genc_code", "region_name", "region_radius", ("known_region", "known"),
    ),
    "ichnaea_host.core.geocode": (
        "GridSquare", "RegionGrid", "borders_touch", "grid_square", "in_region",
        ("region_at", "region"),
    ),
    # answers
    "ichnaea_host.api.results": ("satisfies",),
    # reports queued as a submission is (importers)
    "ichnaea_host.api.submissions": ("submit_reports",),
    # the station kit
    "ichnaea_host.stations": (
        "MAC_RANKING", "MAC_SHARDS", "POSITION_FIELDS", "Aggregate", "ExplainedMacSource",
        "MacPositionSource",
        "MacRegionSource", "MacStations", "MacStationUpdater", "Ranking", "StationTables",
        "Station", "StationRegionSource", "StationShardUpdater", "bounded", "better",
        "dedupe", "higher", "is_blocked", "lower", "mac_shard", "mac_station_model",
        "normalize_mac", "station_coverage", "station_model", "station_fields", "station_score",
        "unique_networks",
        "utcnow", "younger",
    ),
    # moving station rows out of hand-made shard tables (radio plugins' migrations)
    "ichnaea_host.stations.merge": ("merge_shards", "split_into_shards"),
    # the public site's files: the export folder and the asset bucket
    "ichnaea_host.site.content_settings": ("exports_dir",),
    "ichnaea_host.site.assets": ("asset_bucket", "asset_client", "export_exists"),
}

_WHERE: dict[str, tuple[str, str]] = {
    (entry if isinstance(entry, str) else entry[0]):
        (module, entry if isinstance(entry, str) else entry[1])
    for module, entries in _API.items() for entry in entries
}

__all__ = ["__version__", "hookimpl", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'ichnaea_host' has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0]), where[1])
    globals()[name] = value  # the next look-up is a plain one
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from ichnaea_host.api.results import satisfies
    from ichnaea_host.api.submissions import submit_reports
    from ichnaea_host.core.checks import CheckResult
    from ichnaea_host.core.clock import today_utc
    from ichnaea_host.core.db import (
        BaseModel,
        BinaryKeyField,
        MacField,
        is_mysql,
        retry_on_lock,
        select_for_update,
        upsert,
    )
    from ichnaea_host.core.geo import circle_radius, distance
    from ichnaea_host.core.geocode import (
        GridSquare,
        RegionGrid,
        borders_touch,
        grid_square,
        in_region,
    )
    from ichnaea_host.core.geocode import region as region_at
    from ichnaea_host.core.interfaces import (
        ApiKey,
        CoverageLayer,
        DownloadSection,
        Exporter,
        FallbackSchema,
        HeartbeatCheck,
        HostContext,
        LenientBoolean,
        LenientFloat,
        LenientInteger,
        LocationSource,
        MigrationDir,
        OwnerRequestRefused,
        PeriodicJob,
        Position,
        Query,
        Region,
        ReportFragment,
        StationUpdater,
        StatsSection,
        UpdateStats,
    )
    from ichnaea_host.core.log import get_logger, redact_key
    from ichnaea_host.core.queues import REDIS_ERRORS, DataQueue, ExpiringLock
    from ichnaea_host.core.regions import genc_code, region_name, region_radius
    from ichnaea_host.core.regions import known as known_region
    from ichnaea_host.core.settings import ConfigError, PluginSettings, setting
    from ichnaea_host.site.assets import asset_bucket, asset_client, export_exists
    from ichnaea_host.site.content_settings import exports_dir
    from ichnaea_host.stations import (
        MAC_RANKING,
        MAC_SHARDS,
        POSITION_FIELDS,
        Aggregate,
        ExplainedMacSource,
        MacPositionSource,
        MacRegionSource,
        MacStations,
        MacStationUpdater,
        Ranking,
        Station,
        StationRegionSource,
        StationShardUpdater,
        StationTables,
        better,
        bounded,
        dedupe,
        higher,
        is_blocked,
        lower,
        mac_shard,
        mac_station_model,
        normalize_mac,
        station_coverage,
        station_fields,
        station_model,
        station_score,
        unique_networks,
        utcnow,
        younger,
    )
    from ichnaea_host.stations.merge import merge_shards, split_into_shards
