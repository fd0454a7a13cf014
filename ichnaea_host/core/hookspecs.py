# mypy: disable-error-code="empty-body"
"""The hooks a plugin can implement.

Every hook is prefixed ``ichnaea_``. Registration hooks return classes (or a
list of them); the host keeps the registry, the order and the loops. Hook
implementations must not take parameters with defaults (pluggy ignores them)
and should import heavy libraries inside the returned classes, not at the
top of the plugin's ``hooks`` module.

A plugin is a module listed in the entry-point group ``ichnaea``::

    [project.entry-points.ichnaea]
    acme = "ichnaea_fallback_acme.hooks"
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from ichnaea_host.core.checks import CheckResult
    from ichnaea_host.core.interfaces import (
        CoverageLayer,
        DownloadSection,
        Exporter,
        FallbackSchema,
        HeartbeatCheck,
        HostContext,
        LocationSource,
        MigrationDir,
        PeriodicJob,
        ReportFragment,
        StationUpdater,
        StatsSection,
    )
    from ichnaea_host.core.settings import PluginSettings

PROJECT = "ichnaea"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ichnaea_register_settings() -> type[PluginSettings] | None:
    """Return this plugin's settings class (a frozen dataclass subclassing
    :class:`~ichnaea_host.core.settings.PluginSettings`), or None.

    Its fields are read from ``ICHNAEA_<PLUGIN>__<FIELD>`` where ``<PLUGIN>``
    is the entry-point name, and shown by ``ichnaea plugins list``.
    """


@hookspec
def ichnaea_register_location_sources() -> Sequence[type[LocationSource]]:
    """Return :class:`~ichnaea_host.core.interfaces.LocationSource` subclasses.

    Position sources (``KIND = "position"``) answer ``/v1/geolocate``; region
    sources (``KIND = "region"``) answer ``/v1/country``. The host runs them in
    the order of ``ICHNAEA_LOCATE_SOURCES`` / ``ICHNAEA_REGION_SOURCES``, or by
    their ``DEFAULT_ORDER``.
    """


@hookspec
def ichnaea_register_report_fragments() -> Sequence[type[ReportFragment]]:
    """Return :class:`~ichnaea_host.core.interfaces.ReportFragment` subclasses: the
    per-network lists (``wifiAccessPoints`` ...) of submitted reports and
    geolocate queries."""


@hookspec
def ichnaea_register_station_updaters() -> Sequence[type[StationUpdater]]:
    """Return :class:`~ichnaea_host.core.interfaces.StationUpdater` subclasses: each
    splits reports into per-shard observations and writes its station tables."""


@hookspec
def ichnaea_register_exporters() -> Sequence[type[Exporter]]:
    """Return :class:`~ichnaea_host.core.interfaces.Exporter` subclasses, found by the
    ``schema`` column of ``export_config``."""


@hookspec
def ichnaea_register_fallback_schemas() -> Sequence[type[FallbackSchema]]:
    """Return :class:`~ichnaea_host.core.interfaces.FallbackSchema` subclasses, found
    by the ``fallback_schema`` column of ``api_key``."""


@hookspec
def ichnaea_migration_dirs() -> Sequence[MigrationDir]:
    """Return the folders of this plugin's database migrations. They run after
    the host's own, each with a history kept under its namespace."""


@hookspec
def ichnaea_register_periodic_jobs() -> Sequence[PeriodicJob]:
    """Return :class:`~ichnaea_host.core.interfaces.PeriodicJob` values the scheduler
    triggers (through the host's own Huey task ``ichnaea.periodic``)."""


@hookspec
def ichnaea_register_download_sections() -> Sequence[DownloadSection]:
    """Return :class:`~ichnaea_host.core.interfaces.DownloadSection` values: the
    site's /downloads page lists the export files matching each one's pattern
    in a section of its own."""


@hookspec
def ichnaea_register_stats_sections() -> Sequence[StatsSection]:
    """Return :class:`~ichnaea_host.core.interfaces.StatsSection` values: the
    site's /stats page shows each one's counts in a section of its own."""


@hookspec
def ichnaea_register_coverage_layers() -> Sequence[CoverageLayer]:
    """Return :class:`~ichnaea_host.core.interfaces.CoverageLayer` values: each
    becomes a layer of the coverage vector tiles (``/tiles/coverage.json``),
    drawn from the grid cells where its ``cells`` says this plugin's networks
    are."""


@hookspec
def ichnaea_register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``ichnaea`` command."""


@hookspec
def ichnaea_register_heartbeat_checks() -> Sequence[type[HeartbeatCheck]]:
    """Return :class:`~ichnaea_host.core.interfaces.HeartbeatCheck` subclasses; each
    becomes one entry of ``/__heartbeat__`` under its ``PLUGIN_NAME``."""


@hookspec
def ichnaea_doctor_checks(context: HostContext) -> Sequence[CheckResult]:
    """Check this plugin's part of a deployment for ``ichnaea doctor``; return
    one :class:`~ichnaea_host.core.checks.CheckResult` per check (``"ok"``,
    ``"warning"`` or ``"FAIL"`` with its ``fix``). Called in the command's
    process with its runtime; it should answer within a few seconds."""
