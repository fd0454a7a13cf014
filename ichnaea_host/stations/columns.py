"""The columns every station table has, and models of station tables.

A station is a network (an access point, a beacon, a cell) whose position we
learn from observations. Every network kind keeps the same columns besides
its key; a radio plugin builds its model with :func:`station_model` (one
logical table per radio type, keyed by the station key; DESIGN.md §6) and may
add columns of its own (the cells' identity).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NamedTuple

import peewee

from ichnaea_host.core.db import BaseModel


def utcnow() -> datetime:
    """Now, in the naive UTC the station columns hold, to the second."""
    return datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003 - naive UTC columns


def station_fields() -> dict[str, peewee.Field]:
    """The columns every station table has, besides its key."""
    return {
        "lat": peewee.DoubleField(null=True),
        "lon": peewee.DoubleField(null=True),
        "max_lat": peewee.DoubleField(null=True),
        "min_lat": peewee.DoubleField(null=True),
        "max_lon": peewee.DoubleField(null=True),
        "min_lon": peewee.DoubleField(null=True),
        "created": peewee.DateTimeField(null=True, index=True),
        "modified": peewee.DateTimeField(null=True, index=True),
        "radius": peewee.IntegerField(null=True),
        "region": peewee.CharField(max_length=2, null=True, index=True),
        "samples": peewee.BigIntegerField(null=True),
        "source": peewee.SmallIntegerField(null=True),
        "weight": peewee.DoubleField(null=True),
        "last_seen": peewee.DateField(null=True),
        "block_first": peewee.DateField(null=True),
        "block_last": peewee.DateField(null=True),
        "block_count": peewee.SmallIntegerField(null=True),
    }


#: the station columns an update starts from (all but the key and ``modified``)
COPIED = ("lat", "lon", "max_lat", "min_lat", "max_lon", "min_lon", "created", "radius",
          "region", "samples", "source", "weight", "last_seen", "block_first", "block_last",
          "block_count")


def station_model(table: str, key_name: str, key_field: peewee.Field,
                  base: type[peewee.Model] = BaseModel,
                  extra: dict[str, peewee.Field] | None = None) -> type[peewee.Model]:
    """A peewee model for one station table, keyed by ``key_field``; ``extra``
    columns of the radio's own come after the station columns (an update
    starts from :data:`COPIED`, so the radio's updater fills them itself)."""
    attrs: dict[str, Any] = {key_name: key_field, **station_fields(), **(extra or {}),
                             "__module__": __name__}
    attrs["Meta"] = type("Meta", (), {"table_name": table,
                                      "indexes": ((("lat", "lon"), False),)})
    return type(f"Station_{table}", (base,), attrs)


class Station(NamedTuple):
    """The columns of a MAC station row that locating needs."""

    mac: str
    lat: float
    lon: float
    radius: int | None
    samples: int | None
    created: datetime | None
    modified: datetime | None
    last_seen: date | None
    block_last: date | None
    block_count: int | None


#: what a radio's :meth:`~ichnaea_host.stations.Radio.extra_columns` returns for
#: a batch: called for each station written, with ``(status, key, row,
#: values)`` (the transition, the key, the row as it was or None, the station
#: columns about to be written), it returns the radio's own column values
StationColumns = Callable[[str, str, Any, dict[str, Any]], dict[str, Any]]
