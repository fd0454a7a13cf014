"""Ichnaea: a self-hostable geolocation service, wire-compatible with the
Mozilla Location Service. This package is the small host; radio types, GeoIP,
fallback providers and export targets are plugins.

**The plugin API.** A plugin imports from the host only what this package
names in ``__all__``: ``from ichnaea_host import hookimpl, Radio``. Everything
else (``ichnaea_host.core``, ``ichnaea_host.pipeline`` ...) is the host's own
and may change between versions; a host test fails when a plugin imports it.

The API is declared once, by the imports of the ``if TYPE_CHECKING:`` block
below: type checkers and editors read them as they are, and at run time the
same block, read from this file, tells where each name lives. The names
resolve on first use, so importing a plugin's entry point costs no more than
the modules it really uses.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ichnaea_host.core import __version__
from ichnaea_host.core.hookspecs import hookimpl

if TYPE_CHECKING:  # the plugin API: ``name as name`` re-exports it
    from ichnaea_host.core.answers import Position as Position
    from ichnaea_host.core.answers import Query as Query
    from ichnaea_host.core.answers import Region as Region
    from ichnaea_host.core.checks import CheckResult as CheckResult
    from ichnaea_host.core.db import BaseModel as BaseModel
    from ichnaea_host.core.db import BinaryKeyField as BinaryKeyField
    from ichnaea_host.core.db import MacField as MacField
    from ichnaea_host.core.db import is_mysql as is_mysql
    from ichnaea_host.core.db import retry_on_lock as retry_on_lock
    from ichnaea_host.core.db import select_for_update as select_for_update
    from ichnaea_host.core.db import upsert as upsert
    from ichnaea_host.core.files import export_exists as export_exists
    from ichnaea_host.core.files import open_data_file as open_data_file
    from ichnaea_host.core.files import publish_export as publish_export
    from ichnaea_host.core.geo import circle_radius as circle_radius
    from ichnaea_host.core.geo import distance as distance
    from ichnaea_host.core.geocode import borders_touch as borders_touch
    from ichnaea_host.core.geocode import grid_square as grid_square
    from ichnaea_host.core.geocode import in_region as in_region
    from ichnaea_host.core.geocode import region as region_at
    from ichnaea_host.core.lenient import LenientInteger as LenientInteger
    from ichnaea_host.core.log import get_logger as get_logger
    from ichnaea_host.core.log import redact_key as redact_key
    from ichnaea_host.core.plugin_classes import CommandContext as CommandContext
    from ichnaea_host.core.plugin_classes import Exporter as Exporter
    from ichnaea_host.core.plugin_classes import FallbackSchema as FallbackSchema
    from ichnaea_host.core.plugin_classes import HeartbeatCheck as HeartbeatCheck
    from ichnaea_host.core.plugin_classes import HostContext as HostContext
    from ichnaea_host.core.plugin_classes import PositionSource as PositionSource
    from ichnaea_host.core.plugin_classes import RegionSource as RegionSource
    from ichnaea_host.core.plugin_classes import SiteLabels as SiteLabels
    from ichnaea_host.core.plugin_classes import StationLimits as StationLimits
    from ichnaea_host.core.queues import REDIS_ERRORS as REDIS_ERRORS
    from ichnaea_host.core.queues import DataQueue as DataQueue
    from ichnaea_host.core.queues import ExpiringLock as ExpiringLock
    from ichnaea_host.core.regions import genc_code as genc_code
    from ichnaea_host.core.regions import region_name as region_name
    from ichnaea_host.core.regions import region_radius as region_radius
    from ichnaea_host.core.results import satisfies as satisfies
    from ichnaea_host.core.sections import DownloadSection as DownloadSection
    from ichnaea_host.core.sections import MigrationDir as MigrationDir
    from ichnaea_host.core.sections import PeriodicJob as PeriodicJob
    from ichnaea_host.core.sections import StatsSection as StatsSection
    from ichnaea_host.core.settings import ConfigError as ConfigError
    from ichnaea_host.core.settings import PluginSettings as PluginSettings
    from ichnaea_host.core.settings import setting as setting
    from ichnaea_host.stations import MacRadio as MacRadio
    from ichnaea_host.stations import MacSettings as MacSettings
    from ichnaea_host.stations import Radio as Radio
    from ichnaea_host.stations import Ranking as Ranking
    from ichnaea_host.stations import bounded as bounded
    from ichnaea_host.stations import dedupe as dedupe
    from ichnaea_host.stations import higher as higher
    from ichnaea_host.stations import is_blocked as is_blocked
    from ichnaea_host.stations import lower as lower
    from ichnaea_host.stations import mac_station_model as mac_station_model
    from ichnaea_host.stations import normalize_mac as normalize_mac
    from ichnaea_host.stations import station_fields as station_fields
    from ichnaea_host.stations import station_score as station_score
    from ichnaea_host.stations import utcnow as utcnow
    from ichnaea_host.stations import younger as younger
    from ichnaea_host.stations.merge import merge_shards as merge_shards
    from ichnaea_host.stations.merge import split_into_shards as split_into_shards


def _declared() -> dict[str, tuple[str, str]]:
    """``{API name: (module, name in the module)}``, from the imports of the
    ``if TYPE_CHECKING:`` block of this file."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    return {alias.asname or alias.name: (node.module or "", alias.name)
            for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}


_WHERE = _declared()

__all__ = ["__version__", "hookimpl", *sorted(_WHERE)]  # noqa: PLE0604 - built from the block


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'ichnaea_host' has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0]), where[1])
    globals()[name] = value  # the next look-up is a plain one
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
