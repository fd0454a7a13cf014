"""Learning cells from positioned reports, and queueing the areas they touch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peewee import SQL, fn

from ichnaea_host import (
    REDIS_ERRORS,
    DataQueue,
    HostContext,
    get_logger,
    in_region,
)

from .cells import (
    AREAID_BYTES,
    RADIO_CODES,
    RADIOS,
    cellid_hex,
    decode_cellid,
    dedupe,
    normalize_cell,
)
from .mcc import in_mcc_regions, region_for_cell
from .models import CELL_MODELS

log = get_logger("ichnaea.cell")

#: the queue of area ids (8 raw bytes each) whose cells changed
AREA_QUEUE = "update_cellarea"
AREA_BATCH = 100


def area_queue(context: HostContext, batch: int = AREA_BATCH) -> DataQueue:
    return DataQueue(context.redis, AREA_QUEUE, batch=batch, json_items=False)


def split(report: dict[str, Any], field: str,
          base: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The observations of a positioned report, per radio table: one per
    valid, known-area cell (``cid`` given) whose MCC serves the position."""
    position = report["position"]
    gps_age = position.get("gps_age") or 0
    default_radio = report.get("radioType")
    cells = [c for c in (normalize_cell(e, default_radio)
                         for e in report.get(field) or [] if isinstance(e, dict))
             if c is not None and c["cid"] is not None]
    out: dict[str, list[dict[str, Any]]] = {}
    for cell in dedupe(cells):
        if not in_mcc_regions(position["lat"], position["lon"], cell["mcc"]):
            continue
        if gps_age:
            cell["age"] = (cell.get("age") or 0) - gps_age
        observation = {**base, "cellid": cellid_hex(cell), "radio": cell["radio"]}
        for name in ("psc", "arfcn", "signal", "ta", "asu", "age"):
            if cell.get(name) is not None:
                observation[name] = cell[name]
        out.setdefault(cell["radio"], []).append(observation)
    return out


def cell_columns(observations: list[dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """The columns of the cells an update run writes: the identity (radio,
    mcc, mnc, lac, cid) from the key, the last known ``psc`` and ``arfcn``,
    and the region, from the MCC too (a changed cell keeps its region while
    it stays in it)."""
    latest = {name: last_value(observations, name) for name in LAST_KNOWN}

    def columns(status: str, key: str, row: Any, values: dict[str, Any]) -> dict[str, Any]:
        cell = decode_cellid(key)
        out: dict[str, Any] = {**cell, "radio": RADIO_CODES[cell["radio"]]}
        for name, values_of in latest.items():
            value = values_of.get(key)
            out[name] = value if value is not None else (
                getattr(row, name) if row is not None else None)
        lat, lon = values["lat"], values["lon"]
        if lat is not None and lon is not None:
            old = row.region if row is not None else None
            if status == "change" and old and in_region(lat, lon, old):
                out["region"] = old
            else:
                out["region"] = region_for_cell(lat, lon, cell["mcc"])
        return out

    return columns


def queue_areas(context: HostContext, written: list[str]) -> None:
    """Queue the areas of the cells an update run wrote, for :mod:`.area`."""
    touched = sorted({bytes.fromhex(key)[:AREAID_BYTES] for key in written})
    try:
        area_queue(context).enqueue(touched)
    except REDIS_ERRORS as exc:
        # the cells are written; their areas catch up when next touched
        log.warning("cell_areas_not_queued", areas=len(touched), error=repr(exc))


def region_counts() -> dict[str, dict[str, int]]:
    """Cells per region for ``region_stat``: one kind per radio table
    (``gsm``, ``wcdma``, ``lte`` and ``nr``)."""
    counts: dict[str, dict[str, int]] = {}
    for radio in RADIOS:
        model: Any = CELL_MODELS[radio]
        query = (model.select(model.region, fn.COUNT(SQL("*")))
                 .where(model.region.is_null(False)).group_by(model.region).tuples())
        counts[radio] = {region: int(number) for region, number in query}
    return counts


#: the cell columns that keep the last value observed: the physical id and
#: the channel, which a neighbour without a cell id is recognised by
LAST_KNOWN = ("psc", "arfcn")


def last_value(observations: list[dict[str, Any]], name: str = "psc") -> dict[str, int]:
    """Per cell, the last ``name`` (``psc``, ``arfcn``) among the observations
    the updater uses (the GNSS ones when there are any, else the query ones)."""
    gnss: dict[str, int] = {}
    query: dict[str, int] = {}
    has_gnss: set[str] = set()
    for obs in observations:
        key = str(obs.get("cellid"))
        is_query = obs.get("source") == "query"
        if not is_query:
            has_gnss.add(key)
        if obs.get(name) is not None:
            (query if is_query else gnss)[key] = obs[name]
    out = {key: value for key, value in query.items() if key not in has_gnss}
    out.update(gnss)
    return out
