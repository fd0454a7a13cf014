"""Values plugins register for the host's site and scheduler: migration
folders, periodic jobs, sections of the /downloads and /stats pages, layers
of the coverage tiles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ichnaea_host.core.plugin_classes import HostContext


@dataclasses.dataclass(frozen=True)
class MigrationDir:
    """A folder of peewee-migrate migrations; ``namespace`` keeps their history apart."""

    namespace: str
    path: Path


@dataclasses.dataclass(frozen=True)
class PeriodicJob:
    """Work the scheduler triggers every ``interval`` seconds (sub-minute allowed).

    ``run(context, settings)`` (the settings of the plugin that registered
    the job, None when it has none) returns True when more work is waiting,
    so the host runs it again at once. ``drain`` jobs also run in ``ichnaea process``;
    ``upgrade`` jobs also run once after ``ichnaea db upgrade`` (repairs an
    operator expects an upgrade to leave done).
    """

    name: str
    interval: float
    run: Callable[[HostContext, Any], bool | None]
    drain: bool = False
    upgrade: bool = False


@dataclasses.dataclass(frozen=True)
class DownloadSection:
    """A part of the site's /downloads page listing a plugin's files.

    The export files (exports folder, or ``export/`` of ``ASSET_BUCKET``)
    whose name matches ``pattern`` (a glob: ``wifi-dump-*.csv.gz``) are
    listed under ``title``, newest name first, after ``text``; ``empty`` is
    shown when there are none. ``name`` is the section's id in the page.
    """

    name: str
    title: str
    pattern: str
    text: str = ""
    empty: str = "No file yet."


@dataclasses.dataclass(frozen=True)
class StatsSection:
    """A part of the site's /stats page showing a plugin's own counts.

    ``rows(context)`` returns ``(label, count)`` pairs; the page shows them
    under ``title``, after ``text``, as a table with each count's share of
    the total drawn as a bar, ``label`` heading the labels and ``column``
    the counts, or ``empty`` when there are none. The page keeps the rows
    for an hour. ``name`` is the section's id in the page.
    """

    name: str
    title: str
    rows: Callable[[HostContext], Sequence[tuple[str, int]]]
    text: str = ""
    label: str = ""
    column: str = "Count"
    empty: str = "Nothing counted yet."


@dataclasses.dataclass(frozen=True)
class CoverageLayer:
    """One layer of the coverage vector tiles (``/tiles/coverage.json``).

    ``cells(context, per_degree)`` returns where this kind of network has
    stations: ``(lat index, lon index, last seen, stations)`` tuples, the
    indexes those of a grid of ``per_degree`` cells per degree counted from
    90 S and 180 W (``floor((lat + 90) * per_degree)``), ``last seen`` a
    :class:`datetime.date`. A cell may come more than once (one per table);
    the host merges them. It runs in the worker (periodic job
    ``update_coverage``), reading the read-only connection. ``name`` is the
    tiles' layer id (``wifi``, ``cell``, ``blue``). The host makes one of each
    radio (:meth:`~ichnaea_host.Radio.coverage`).
    """

    name: str
    cells: Callable[[HostContext, int], Iterable[tuple[int, int, Any, int]]]
    description: str = ""
