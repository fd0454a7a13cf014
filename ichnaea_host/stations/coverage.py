"""Where a station table has stations, as grid cells: the coverage tiles' data.

:func:`station_coverage` counts the stations of one table per cell of a grid
of ``per_degree`` cells per degree, with the day the cell's latest station
was last seen; a radio plugin's :class:`~ichnaea_host.CoverageLayer` calls it
for each of its tables. One grouped read of the whole table (a full scan:
run by the worker's periodic job once a day, never per request), on a
connection of its own that waits for it (:func:`~ichnaea_host.core.db.long_read`):
at 30 million stations it takes minutes, the pooled connections give up after 30 s.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import peewee
from peewee import SQL, fn

from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.db import is_mysql, long_read
from ichnaea_host.stations.rules import BLOCK_DAYS

#: a coverage cell: lat index, lon index, last seen, stations
CoverageCell = tuple[int, int, date, int]


def _index(column: Any, offset: int, per_degree: int, mysql: bool) -> Any:
    """``floor((column + offset) * per_degree)`` (the sum is never negative,
    so SQLite's truncating cast is the floor)."""
    scaled = (column + offset) * per_degree
    return fn.FLOOR(scaled) if mysql else scaled.cast("INTEGER")


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def station_coverage(model: type[peewee.Model], per_degree: int,
                     database: peewee.Database | None = None,
                     today: date | None = None) -> list[CoverageCell]:
    """The cells of a ``per_degree`` grid holding stations of ``model``'s
    table with a position, each with its latest ``last_seen`` and the number
    of stations; stations blocked in the last days are left out.

    ``database``: the connection to read (the read-only one), else the model's.
    """
    mysql = is_mysql(model)
    if database is not None:
        mysql = isinstance(database, peewee.MySQLDatabase)
    table: Any = model
    blocked_since = (today or today_utc()) - timedelta(days=BLOCK_DAYS)
    lat_i = _index(table.lat, 90, per_degree, mysql)
    lon_i = _index(table.lon, 180, per_degree, mysql)
    query = (model.select(lat_i.alias("i"), lon_i.alias("j"), fn.MAX(table.last_seen),
                          fn.COUNT(SQL("*")))
             .where(table.lat.is_null(False), table.lon.is_null(False),
                    table.last_seen.is_null(False),
                    table.block_last.is_null(True) | (table.block_last < blocked_since))
             .group_by(SQL("i"), SQL("j")).tuples())
    if database is not None:
        query = query.bind(database)
    sql, params = query.sql()
    rows: list[Any] = long_read(database if database is not None else model._meta.database,
                                sql, params)
    return [(int(row[0]), int(row[1]), _day(row[2]), int(row[3])) for row in rows]
