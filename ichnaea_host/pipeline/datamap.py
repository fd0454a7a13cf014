"""The datamap: where reports were collected, as a grid of 0.001 degree cells.

The coverage map is drawn from it (:mod:`ichnaea_host.site.tiles`). The internal
exporter hands every batch's report positions to :func:`queue_positions`;
each position becomes an 8-byte grid cell (``!II`` of latitude + 90000 and
longitude + 180000, both scaled by 1000 and rounded half-to-even) in one of
four Redis queues, ``update_datamap_ne|nw|se|sw`` (split at 36 N / 5 E, as
the original). The periodic job :func:`update_datamap` writes them to the
tables ``datamap_ne`` ... with the day a cell was first and last seen;
:func:`cleanup_datamap` deletes cells not seen for a year.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import peewee

from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.db import BaseModel, BinaryKeyField, is_mysql, retry_on_lock
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.plugin_classes import HostContext
from ichnaea_host.core.queues import DataQueue

log = get_logger("ichnaea.datamap")

SHARDS = ("ne", "nw", "se", "sw")
#: grid cells per update run and shard
BATCH = 500
#: cells not seen for this many days are deleted
KEEP_DAYS = 365
#: seconds after which a claimed batch of a crashed worker is put back
CLAIM_RECOVERY_SECONDS = 600
_GRID = struct.Struct("!II")



# ---------------------------------------------------------------------------
# grid cells


def scale(lat: float, lon: float) -> tuple[int, int]:
    """The grid cell of a position, in thousandths of a degree."""
    return int(round(lat * 1000)), int(round(lon * 1000))


def shard_of(lat_scaled: int, lon_scaled: int) -> str:
    """``ne|nw|se|sw``: north from 36 degrees, east from 5 degrees."""
    return ("s" if lat_scaled < 36000 else "n") + ("w" if lon_scaled < 5000 else "e")


def encode(lat_scaled: int, lon_scaled: int) -> bytes:
    return _GRID.pack(lat_scaled + 90000, lon_scaled + 180000)


def decode(grid: bytes) -> tuple[int, int]:
    lat, lon = _GRID.unpack(grid)
    return lat - 90000, lon - 180000


def queue_name(shard: str) -> str:
    return f"update_datamap_{shard}"


def datamap_queue(ctx: HostContext, shard: str) -> DataQueue:
    """The queue of one shard: raw 8-byte items, not JSON."""
    return DataQueue(ctx.redis, queue_name(shard), batch=BATCH, json_items=False)


def queue_positions(ctx: HostContext, positions: Iterable[tuple[float, float]],
                    pipe: Any = None) -> None:
    """Queue the grid cells of report positions ``(lat, lon)``, each cell once.

    Called by the internal exporter with the positions of the reports that
    gave at least one observation; ``pipe`` is its Redis pipeline.
    """
    per_shard: dict[str, set[bytes]] = defaultdict(set)
    for lat, lon in positions:
        lat_scaled, lon_scaled = scale(lat, lon)
        if not (-90000 <= lat_scaled <= 90000 and -180000 <= lon_scaled <= 180000):
            continue
        per_shard[shard_of(lat_scaled, lon_scaled)].add(encode(lat_scaled, lon_scaled))
    for shard, grids in sorted(per_shard.items()):
        datamap_queue(ctx, shard).enqueue(sorted(grids), pipe=pipe)


# ---------------------------------------------------------------------------
# tables


class GridField(BinaryKeyField):
    """An 8-byte grid cell key (shown as hex, like the other binary keys)."""

    LENGTH = 8


def _model(shard: str) -> type[BaseModel]:
    meta = type("Meta", (), {"table_name": f"datamap_{shard}"})
    attrs: dict[str, Any] = {
        "grid": GridField(primary_key=True),
        "created": peewee.DateField(index=True),
        "modified": peewee.DateField(index=True),
        "Meta": meta,
        "__module__": __name__,
    }
    return type(f"DataMap_{shard}", (BaseModel,), attrs)


MODELS: dict[str, type[BaseModel]] = {shard: _model(shard) for shard in SHARDS}


def update_shard(ctx: HostContext, shard: str, today: date | None = None) -> int:
    """Write one batch of a shard's queue to its table; return the cells taken."""
    today = today or today_utc()
    model: Any = MODELS[shard]
    queue = datamap_queue(ctx, shard)
    with queue.claim() as items:
        grids = sorted({bytes(item) for item in items if len(item) == _GRID.size})
        if not grids:
            return len(items)

        def transaction() -> None:
            with model._meta.database.atomic():
                touch_cells(model, grids, today)

        def count_retry(errno: int) -> None:
            ctx.metrics.incr("datamaps.dberror", tags=[f"errno:{errno}"])

        retry_on_lock(transaction, on_retry=count_retry)
    return len(items)


def touch_cells(model: Any, grids: list[bytes], today: date) -> None:
    """Insert the cells first seen ``today``; set ``modified`` of the known ones.

    One upsert, written out: peewee's query objects for a batch of cells cost
    more than running the statement. The keys are 8 bytes written as hex and
    the day is a date, so the MySQL literals need no escaping.
    """
    db = model._meta.database
    q0, q1 = db.quote
    table = f"{q0}{model._meta.table_name}{q1}"
    insert = f"INSERT INTO {table} ({q0}grid{q1}, {q0}created{q1}, {q0}modified{q1}) VALUES "
    if is_mysql(model):
        day = f"'{today.isoformat()}'"
        values = ", ".join([f"(X'{grid.hex()}', {day}, {day})" for grid in grids])
        db.execute_sql(f"{insert}{values} ON DUPLICATE KEY UPDATE "
                       f"{q0}modified{q1} = VALUES({q0}modified{q1})")
        return
    day = today.isoformat()
    row = f"({db.param}, {db.param}, {db.param})"
    for start in range(0, len(grids), 300):  # SQLite allows 999 parameters
        part = grids[start:start + 300]
        params = [value for grid in part for value in (grid, day, day)]
        db.execute_sql(f"{insert}{', '.join([row] * len(part))} "
                       f"ON CONFLICT ({q0}grid{q1}) DO UPDATE SET "
                       f"{q0}modified{q1} = excluded.{q0}modified{q1}", params)


def update_datamap(ctx: HostContext) -> bool:
    """The periodic job: one batch of every shard; True while cells are waiting."""
    more = False
    for shard in SHARDS:
        queue = datamap_queue(ctx, shard)
        recovered = queue.recover(CLAIM_RECOVERY_SECONDS)
        if recovered:
            log.warning("datamap_claims_recovered", shard=shard, items=recovered)
        taken = update_shard(ctx, shard)
        if taken:
            log.info("datamap_updated", shard=shard, cells=taken)
        more = more or queue.size() > 0
    return more


def cleanup_datamap(ctx: HostContext, today: date | None = None) -> bool:
    """Delete the cells not seen for :data:`KEEP_DAYS` days (the daily job)."""
    cutoff = (today or today_utc()) - timedelta(days=KEEP_DAYS)
    for shard, model in MODELS.items():
        deleted = model.delete().where(model.modified < cutoff).execute()  # type: ignore[attr-defined]
        if deleted:
            log.info("datamap_cleaned", shard=shard, cells=deleted)
    return False
