"""The host's built-in ``content`` plugin: the datamap jobs, ``ichnaea map`` and
the settings of the public web site (``ICHNAEA_CONTENT__<NAME>``, declared in
:mod:`ichnaea_host.core.content_settings`)."""

from __future__ import annotations

from typing import Any

from ichnaea_host.core.content_settings import ContentSettings, content_settings
from ichnaea_host.core.hookspecs import hookimpl
from ichnaea_host.core.sections import PeriodicJob

#: seconds between datamap updates when cells are waiting (the original: 47)
DATAMAP_INTERVAL = 10.0
#: seconds between two incremental tile renders in the worker
RENDER_INTERVAL = 600.0
#: seconds between two looks at whether the coverage grid is due
#: (ICHNAEA_CONTENT__COVERAGE_INTERVAL says when it is)
COVERAGE_CHECK_INTERVAL = 300.0


@hookimpl
def ichnaea_register_settings() -> Any:
    return ContentSettings


def render_tiles(ctx: Any, settings: Any = None) -> bool:
    """The periodic job: draw the changed tiles into the tiles folder (no upload)."""
    if content_settings(ctx).render_tiles:
        from ichnaea_host.site.tiles import render

        render(ctx)
    return False


def update_coverage(ctx: Any, settings: Any = None) -> bool:
    """The periodic job: read the coverage grid again when it is due."""
    from ichnaea_host.site.coverage import update_job

    return update_job(ctx)


@hookimpl
def ichnaea_register_periodic_jobs() -> list[PeriodicJob]:
    from ichnaea_host.pipeline import datamap

    return [
        PeriodicJob("update_datamap", DATAMAP_INTERVAL,
                    lambda ctx, _settings: datamap.update_datamap(ctx), drain=True),
        PeriodicJob("cleanup_datamap", 86400.0,
                    lambda ctx, _settings: datamap.cleanup_datamap(ctx)),
        PeriodicJob("render_tiles", RENDER_INTERVAL, render_tiles),
        PeriodicJob("update_coverage", COVERAGE_CHECK_INTERVAL, update_coverage),
    ]


@hookimpl
def ichnaea_register_commands(cli: Any) -> None:
    from ichnaea_host.site.coverage import coverage_command
    from ichnaea_host.site.tiles import map_group

    map_group.add_command(coverage_command)
    cli.add_command(map_group)
