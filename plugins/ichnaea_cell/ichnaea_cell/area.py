"""Cell areas: where the known cells of one location area are, as a whole.

The updater queues the id of every area whose cells it wrote; this periodic
job takes a batch of them and recomputes each area from its cells with a
position: the plain mean of their positions, the circle around their
bounding boxes, their average range, how many there are, when one was last
seen and which region most of them are in. An area left without cells is
deleted.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from ichnaea_host import (
    HostContext,
    circle_radius,
    get_logger,
    retry_on_lock,
    select_for_update,
    upsert,
    utcnow,
)

from .cells import AREAID_BYTES, CELLID_BYTES, RADIO_CODES, decode_areaid
from .mcc import region_for_cell
from .models import CELL_MODELS, CellArea
from .settings import CellSettings
from .updater import area_queue

log = get_logger("ichnaea.cell")

JOB_NAME = "update_cellarea"
#: how often the scheduler runs the job, in seconds (as the original's beat)
INTERVAL = 44.0
#: claims older than this (a crashed worker's) go back to the queue
CLAIM_TIMEOUT = 600.0


def run(context: HostContext, settings: CellSettings | None) -> bool:
    """Recompute one batch of queued areas; True when more are waiting."""
    settings = settings or CellSettings()
    queue = area_queue(context, batch=settings.area_batch)
    queue.recover(CLAIM_TIMEOUT)
    with queue.claim() as items:
        ids = sorted({bytes(i).hex() for i in items if len(i) == AREAID_BYTES})
        if ids:
            now = utcnow()
            written, deleted = retry_on_lock(lambda: update_areas(ids, now))
            log.info("cell_areas_updated", areas=len(ids), written=written, deleted=deleted)
    return queue.size() > 0


def update_areas(areaids: list[str], now: datetime) -> tuple[int, int]:
    """Recompute the given areas (hex ids) in one transaction; (written, deleted)."""
    with CellArea._meta.database.atomic():
        existing = {a.areaid: a for a in
                    select_for_update(CellArea.select().where(CellArea.areaid.in_(areaids)))}
        rows, gone = [], []
        for areaid in areaids:
            values = area_values(areaid, existing.get(areaid), now)
            if values is None:
                gone.append(areaid)
            else:
                rows.append(values)
        if rows:
            columns = [f for f in CellArea._meta.sorted_fields if f.name != "areaid"]
            upsert(CellArea, rows, conflict_target=[CellArea.areaid], preserve=columns)
        if gone:
            CellArea.delete().where(CellArea.areaid.in_(gone)).execute()
    return len(rows), len(gone)


def area_values(areaid: str, row: Any, now: datetime) -> dict[str, Any] | None:
    """The new column values of one area, or None when it has no cell with a position."""
    area = decode_areaid(areaid)
    model: Any = CELL_MODELS[area["radio"]]
    # the area id is the first part of its cells' ids: a range of the primary key
    rest = CELLID_BYTES - AREAID_BYTES
    cells = list(model.select().where(
        model.cellid.between(areaid + "00" * rest, areaid + "ff" * rest),
        model.lat.is_null(False), model.lon.is_null(False)))
    if not cells:
        return None
    lat = statistics.fmean(c.lat for c in cells)
    lon = statistics.fmean(c.lon for c in cells)
    max_lat = max(c.max_lat if c.max_lat is not None else c.lat for c in cells)
    min_lat = min(c.min_lat if c.min_lat is not None else c.lat for c in cells)
    max_lon = max(c.max_lon if c.max_lon is not None else c.lon for c in cells)
    min_lon = min(c.min_lon if c.min_lon is not None else c.lon for c in cells)
    radii = [c.radius for c in cells if c.radius is not None]
    seen = [c.last_seen for c in cells if c.last_seen is not None]
    return {
        "areaid": areaid,
        **area,
        "radio": RADIO_CODES[area["radio"]],
        "lat": lat,
        "lon": lon,
        "created": row.created if row is not None and row.created else now,
        "modified": now,
        "radius": circle_radius(lat, lon, max_lat, max_lon, min_lat, min_lon),
        "region": area_region([c.region for c in cells], lat, lon, area["mcc"]),
        "avg_cell_radius": round(statistics.fmean(radii)) if radii else None,
        "num_cells": len(cells),
        "last_seen": max(seen) if seen else None,
    }


def area_region(cell_regions: list[str | None], lat: float, lon: float,
                mcc: int) -> str | None:
    """The region most of an area's cells are in; on a tie, the region the
    geocoder gives the area's centre for its MCC, if any."""
    counts = Counter(cell_regions)
    most = max(counts.values())
    tied = sorted((code for code, n in counts.items() if n == most),
                  key=lambda code: code or "")
    if len(tied) == 1:
        return tied[0]
    return region_for_cell(lat, lon, mcc) or tied[0]
