"""``ichnaea import wigle FILE...``: WiGLE CSV files into the pipeline.

Every file's first lines are checked before anything is queued, so a file
that is not WiGLE CSV stops the command with nothing imported. The reports
are queued as a ``/v2/geosubmit`` submission without an API key is (the same
checks, the same queue), so the pipeline's rules apply to them as to any
submission: ``_nomap``/``_optout`` networks and moving ones are not learnt,
reports go to every export. A file that cannot be read to its end (a
truncated gzip) stops the command at its line; the reports before it stay
queued and the summary says how many.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from .wigle import REFUSED, FileStats, NotWigle, check_header, read_reports

#: the networks of a report, by field
LISTS = ("wifiAccessPoints", "bluetoothBeacons", "cellTowers")
OFFSET = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?")


def parse_offset(text: str | None) -> timedelta:
    if not text:
        return timedelta(0)
    match = OFFSET.fullmatch(text.strip())
    if match is None or int(match[2]) > 14 or int(match[3] or 0) > 59:
        raise click.BadParameter(f"{text!r} is no UTC offset such as +02:00 or -0500")
    offset = timedelta(hours=int(match[2]), minutes=int(match[3] or 0))
    return -offset if match[1] == "-" else offset


def queue(context: Any, reports: list[dict[str, Any]], stats: FileStats) -> None:
    """Queues reports (``context``: the command's ``CommandContext``); counts
    the reports queued and the rows in them."""
    for sent, queued in zip(reports, context.submit_reports(reports), strict=True):
        rows = sum(len(sent.get(name) or ()) for name in LISTS)
        if queued is None:
            stats.skipped[REFUSED] += rows
            continue
        stats.reports += 1
        stats.used += rows


def register(cli: click.Group, context: Any) -> None:
    """Adds ``wigle`` to the ``ichnaea import`` group (made when no other
    plugin has made it); ``context``: the plugin's ``CommandContext``."""
    group = cli.commands.get("import")
    if not isinstance(group, click.Group):
        group = click.Group("import", help="Import data files into the pipeline.")
        cli.add_command(group)
    group.add_command(make_command(context))


def make_command(context: Any) -> click.Command:
    """The ``wigle`` command, queueing through ``context`` (a ``CommandContext``)."""

    @click.command("wigle")
    @click.argument("files", nargs=-1, required=True,
                    type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--utc-offset", default=None, metavar="+HH:MM",
                  help="the zone FirstSeen was written in (default: UTC, as WiGLE's format "
                       "says; WiGLE's app wrote local time before August 2023)")
    @click.pass_context
    def wigle_command(ctx: click.Context, files: tuple[Path, ...], utc_offset: str | None) -> None:
        """Queue the rows of WiGLE CSV files (.csv or .csv.gz) as reports.

        Rows of one sighting (the same FirstSeen second and position) become one
        report, handled by the pipeline as a /v2/geosubmit submission: run the
        workers or 'ichnaea process' to learn them."""
        offset = parse_offset(utc_offset)
        for path in files:  # nothing is queued when one of them is no WiGLE file
            try:
                check_header(path)
            except NotWigle as exc:
                click.echo(f"ichnaea: {exc}; nothing imported", err=True)
                ctx.exit(1)
        from ichnaea_host import REDIS_ERRORS

        total = FileStats()
        for path in files:
            stats = FileStats()
            try:
                with click.progressbar(length=path.stat().st_size,
                                       label=f"Importing {path.name}") as bar:
                    for reports in read_reports(path, stats, offset=offset, progress=bar.update):
                        queue(context, reports, stats)
            except NotWigle as exc:
                click.echo(f"ichnaea: {exc}; {stats.reports} reports of {path.name} were queued "
                           "before it, its other rows were not", err=True)
                ctx.exit(1)
            except REDIS_ERRORS as exc:
                click.echo(f"ichnaea: import stopped, Redis cannot take the reports "
                           f"({type(exc).__name__}: {exc}); {stats.reports} reports of "
                           f"{path.name} are queued", err=True)
                ctx.exit(1)
            click.echo(f"{path.name}: {stats.summary()}")
            total.add(stats)
        if len(files) > 1:
            click.echo(f"total: {total.summary()}")
        if total.reports:
            click.echo("the workers (or 'ichnaea process') learn the networks from them")

    return wigle_command
