# mypy: disable-error-code="empty-body"
"""The hooks a plugin can implement.

Every hook is prefixed ``ichnaea_``. Registration hooks return classes (or a
list of them); the host keeps the registry, the order and the loops, and
builds every object of a registered class with the settings of the plugin
that registered it: ``cls(context, settings)``. Hook
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
    from ichnaea_host.core.plugin_classes import (
        CommandContext,
        Exporter,
        FallbackSchema,
        HeartbeatCheck,
        HostContext,
        PositionSource,
        RegionSource,
    )
    from ichnaea_host.core.sections import DownloadSection, MigrationDir, PeriodicJob, StatsSection
    from ichnaea_host.core.settings import PluginSettings
    from ichnaea_host.stations.radio import Radio

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
def ichnaea_register_radios() -> Sequence[type[Radio]]:
    """Return :class:`~ichnaea_host.stations.Radio` subclasses: each is one kind
    of network (its reports, its stations, its answers). The host derives from
    each its part of the submit and geolocate schemas, its station updater and
    its position and region sources (unless the radio's ``POSITION_ORDER`` or
    ``REGION_ORDER`` is None)."""


@hookspec
def ichnaea_register_position_sources() -> Sequence[type[PositionSource]]:
    """Return :class:`~ichnaea_host.core.plugin_classes.PositionSource` subclasses
    answering ``/v1/geolocate`` besides the radios' own (GeoIP, fallback). The
    host runs every position source in the order of ``ICHNAEA_LOCATE_SOURCES``,
    or by their ``DEFAULT_ORDER``."""


@hookspec
def ichnaea_register_region_sources() -> Sequence[type[RegionSource]]:
    """Return :class:`~ichnaea_host.core.plugin_classes.RegionSource` subclasses
    answering ``/v1/country`` besides the radios' own, run in the order of
    ``ICHNAEA_REGION_SOURCES``, or by their ``DEFAULT_ORDER``."""


@hookspec
def ichnaea_register_exporters() -> Sequence[type[Exporter]]:
    """Return :class:`~ichnaea_host.core.plugin_classes.Exporter` subclasses, found by the
    ``schema`` column of ``export_config``."""


@hookspec
def ichnaea_register_fallback_schemas() -> Sequence[type[FallbackSchema]]:
    """Return :class:`~ichnaea_host.core.plugin_classes.FallbackSchema` subclasses, found
    by the ``fallback_schema`` column of ``api_key``."""


@hookspec
def ichnaea_migration_dirs() -> Sequence[MigrationDir]:
    """Return the folders of this plugin's database migrations. They run after
    the host's own, each with a history kept under its namespace."""


@hookspec
def ichnaea_register_periodic_jobs() -> Sequence[PeriodicJob]:
    """Return :class:`~ichnaea_host.core.sections.PeriodicJob` values the scheduler
    triggers (through the host's own Huey task ``ichnaea.periodic``)."""


@hookspec
def ichnaea_register_download_sections() -> Sequence[DownloadSection]:
    """Return :class:`~ichnaea_host.core.sections.DownloadSection` values: the
    site's /downloads page lists the export files matching each one's pattern
    in a section of its own."""


@hookspec
def ichnaea_register_stats_sections() -> Sequence[StatsSection]:
    """Return :class:`~ichnaea_host.core.sections.StatsSection` values: the
    site's /stats page shows each one's counts in a section of its own."""


@hookspec
def ichnaea_register_commands(cli: click.Group, context: CommandContext) -> None:
    """Add click commands or groups to the ``ichnaea`` command. ``context``
    hands the commands this plugin's settings and, built when a command first
    asks for it, the command's runtime (:class:`~ichnaea_host.CommandContext`)."""


@hookspec
def ichnaea_register_heartbeat_checks() -> Sequence[type[HeartbeatCheck]]:
    """Return :class:`~ichnaea_host.core.plugin_classes.HeartbeatCheck` subclasses; each
    becomes one entry of ``/__heartbeat__`` under its ``PLUGIN_NAME``."""


@hookspec
def ichnaea_doctor_checks(context: HostContext, settings: PluginSettings | None
                          ) -> Sequence[CheckResult]:
    """Check this plugin's part of a deployment for ``ichnaea doctor`` (with
    the plugin's ``settings``, None when it has none); return
    one :class:`~ichnaea_host.core.checks.CheckResult` per check (``"ok"``,
    ``"warning"`` or ``"FAIL"`` with its ``fix``). Called in the command's
    process with its runtime; it should answer within a few seconds."""
