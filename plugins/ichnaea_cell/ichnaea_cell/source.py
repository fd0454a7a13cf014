"""Answering geolocate and region queries from the learnt cells and cell areas
(:meth:`~.radio.CellRadio.positions`, :meth:`~.radio.CellRadio.regions`)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

import peewee

from ichnaea_host import (
    HostContext,
    Position,
    Query,
    Region,
    distance,
    get_logger,
    region_name,
    region_radius,
    station_score,
    utcnow,
)

from .cells import (
    AREAID_BYTES,
    SIGNAL_RANGE,
    areaid_hex,
    cellid_hex,
    decode_areaid,
    decode_cellid,
    is_area,
    is_neighbour,
)
from .mcc import regions_for_mcc
from .models import CellArea
from .settings import CellSettings

log = get_logger("ichnaea.cell")

DB_ERRORS = (peewee.DatabaseError, peewee.InterfaceError, OSError)
#: a cell id in hex begins with its area's id
AREA_DIGITS = 2 * AREAID_BYTES


def load_cells(radio: Any, lookups: list[dict[str, Any]]) -> list[Any]:
    """Known, unblocked cells with a position (``Station`` tuples, the cell id
    in their ``mac``): one keyed query per cell radio's table, read by the
    station kit (:meth:`~ichnaea_host.Radio.stations`)."""
    by_radio: dict[str, list[str]] = defaultdict(list)
    for lookup in lookups:
        if lookup["cid"] is not None:
            by_radio[lookup["radio"]].append(cellid_hex(lookup))
    found: list[Any] = []
    for name, cellids in sorted(by_radio.items()):
        try:
            found.extend(radio.stations(name, cellids))
        except DB_ERRORS as exc:
            log.warning("cell_lookup_failed", radio=name, error=type(exc).__name__)
    return found


def neighbours(radio: Any, lookups: list[dict[str, Any]],
               cells: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """The query's neighbours (:func:`~.cells.is_neighbour`: a physical id,
    maybe a channel, no cell id) resolved to known cells, each with its
    lookup: a neighbour is looked for in the areas of the query's known cells
    (its own area, when it names one), among the cells of its radio and
    network whose last known ``psc`` is its physical id and whose last known
    ``arfcn``, where both are known, is its channel. It counts only when
    exactly one cell is left: PCIs repeat every few cells (504 in LTE), so a
    neighbour with the PCI of two cells of the area, and no channel that
    tells them apart, names neither. One primary-key range query per area."""
    wanted = [c for c in lookups if is_neighbour(c)]
    if not wanted:
        return []
    known = {cell.mac for cell in cells}
    candidates: dict[int, list[str]] = defaultdict(list)
    for areaid in sorted({cell.mac[:AREA_DIGITS] for cell in cells}):
        area = decode_areaid(areaid)
        here = [(i, n) for i, n in enumerate(wanted)
                if all(n[f] == area[f] for f in ("radio", "mcc", "mnc"))
                and n["lac"] in (None, area["lac"])]
        if not here:
            continue
        model = radio.model(area["radio"])
        query = (model.select(model.cellid, model.psc, model.arfcn)
                 .where(model.cellid.between(areaid + "00" * 5, areaid + "ff" * 5),
                        model.psc.in_(sorted({n["psc"] for _, n in here})))
                 .tuples())
        try:
            rows = list(radio.context.db.read(query))
        except DB_ERRORS as exc:
            log.warning("cell_neighbour_lookup_failed", error=type(exc).__name__)
            continue
        for cellid, psc, arfcn in rows:
            if cellid in known:
                continue
            for i, n in here:
                if n["psc"] == psc and (n["arfcn"] is None or arfcn is None
                                        or n["arfcn"] == arfcn):
                    candidates[i].append(cellid)
    chosen = {found[0]: wanted[i] for i, found in candidates.items() if len(found) == 1}
    out: list[tuple[Any, dict[str, Any]]] = []
    for cellid in sorted(chosen):
        shard = decode_cellid(cellid)["radio"]
        try:
            stations = radio.stations(shard, [cellid])
        except DB_ERRORS as exc:
            log.warning("cell_lookup_failed", radio=shard, error=type(exc).__name__)
            continue
        out.extend((station, chosen[cellid]) for station in stations)
    return out


def load_areas(context: HostContext, areaids: list[str]) -> list[Any]:
    """Cell areas with a position, in one query."""
    if not areaids:
        return []
    query = CellArea.select().where(CellArea.areaid.in_(areaids), CellArea.lat.is_null(False),
                                    CellArea.lon.is_null(False))
    try:
        return list(context.db.read(query))
    except DB_ERRORS as exc:
        log.warning("cell_area_lookup_failed", error=type(exc).__name__)
        return []


def area_score(area: Any, now: datetime) -> float:
    """How much a cell area can be trusted: its age, the time span of its
    data and how many cells it has."""
    modified = area.modified or now
    months = max((now - modified).days, 0) // 30
    age = 1.0 / math.sqrt(months + 1)
    last = max(modified.date(), area.last_seen) if area.last_seen else modified.date()
    first = (area.created or now).date()
    collection = min(max((last - first).days, 1) / 10.0, 1.0)
    cells = area.num_cells or 0
    if cells > 1 and not area.radius:
        cells = 1
    return age * collection * min(math.sqrt(max(cells, 1)), 10.0)


def clamp(value: float | None, low: float, high: float) -> float:
    return min(max(value or 0.0, low), high)


def positions(radio: Any, lookups: list[dict[str, Any]], query: Query) -> list[Position]:
    """Positions from known cells, one answer per area; when no cell is known,
    from the areas of the query's cells (a ``lacf`` answer). ``radio``: the
    :class:`~.radio.CellRadio` asking."""
    now = utcnow()
    settings: CellSettings = radio.settings
    cells = load_cells(radio, lookups)
    if cells:
        by_cellid = {cellid_hex(c): c for c in lookups if c["cid"] is not None}
        for cell, neighbour in neighbours(radio, lookups, cells):
            cells.append(cell)
            by_cellid[cell.mac] = neighbour
        by_area: dict[str, list[Any]] = defaultdict(list)
        for cell in cells:
            by_area[cell.mac[:AREA_DIGITS]].append(cell)
        return [cells_position(group, by_cellid, now, settings)
                for _, group in sorted(by_area.items())]
    if not query.fallbacks.get("lacf", True):
        return []
    areaids = sorted({areaid_hex(c) for c in lookups if is_area(c)})
    return [area_position(area, now, settings) for area in load_areas(radio.context, areaids)]


def cells_position(cells: list[Any], lookups: dict[str, dict[str, Any]],
                   now: datetime, settings: CellSettings) -> Position:
    """One position from the known cells of one area: the mean of their
    positions weighted by score, age and signal, and the 95th percentile of
    their distances from it (linear between ranks) as its accuracy. Plain
    Python: a query names a few cells, and numpy costs more than the sums."""
    today = now.date()
    used = [("cell", c.mac, bool(c.last_seen and c.last_seen >= today)) for c in cells]
    scores = [station_score(c, now) for c in cells]
    if len(cells) == 1:
        cell = cells[0]
        return Position(lat=cell.lat, lon=cell.lon, score=scores[0], source="cell",
                        accuracy=clamp(cell.radius, settings.min_accuracy,
                                       settings.max_accuracy), used_networks=used)
    weakest = SIGNAL_RANGE[decode_cellid(cells[0].mac)["radio"]][0]
    weights = []
    for cell, score in zip(cells, scores, strict=True):
        lookup = lookups[cell.mac]
        age = max(abs(lookup["age"] or 0), 1000)
        signal = lookup["signal"] or weakest
        weights.append(score * min(math.sqrt(2000.0 / age), 1.0) / signal**2)
    total = sum(weights)
    if not total > 0:
        weights, total = [1.0] * len(cells), float(len(cells))
    lat = sum(w * c.lat for w, c in zip(weights, cells, strict=True)) / total
    lon = sum(w * c.lon for w, c in zip(weights, cells, strict=True)) / total
    spread = percentile(sorted(distance(lat, lon, c.lat, c.lon) for c in cells), 0.95)
    return Position(lat=lat, lon=lon, score=sum(scores), source="cell",
                    accuracy=clamp(spread, settings.min_accuracy, settings.max_accuracy),
                    used_networks=used)


def percentile(ordered: list[float], share: float) -> float:
    """The ``share`` quantile of sorted values, linear between ranks (numpy's default)."""
    rank = share * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def area_position(area: Any, now: datetime, settings: CellSettings) -> Position:
    today = now.date()
    return Position(
        lat=area.lat, lon=area.lon, score=area_score(area, now), source="cell",
        accuracy=clamp(area.radius, settings.area_min_accuracy, settings.area_max_accuracy),
        fallback="lacf",
        used_networks=[("area", area.areaid,
                        bool(area.last_seen and area.last_seen >= today))])


def regions(context: HostContext, lookups: list[dict[str, Any]]) -> list[Region]:
    """Regions from the mobile country codes of the query's cells: each cell
    counts 1 for every region its code serves, so that cells of several codes
    of one country (310 and 311: US) outweigh an IP address of another. A code
    shared by several regions (234: GB, GG, IM, JE) is settled by the regions
    of the cells' known areas, and else by the larger region."""
    scores: dict[str, float] = defaultdict(float)
    ambiguous: set[str] = set()
    for lookup in lookups:
        codes = regions_for_mcc(lookup["mcc"])
        for code in codes:
            scores[code] += 1.0
        if len(codes) > 1 and is_area(lookup):
            ambiguous.add(areaid_hex(lookup))
    if ambiguous:
        now = utcnow()
        for area in load_areas(context, sorted(ambiguous)):
            if area.region in scores:
                scores[area.region] += area_score(area, now)
    return [Region(code=code, name=region_name(code) or code,
                   accuracy=region_radius(code), score=score, source="cell")
            for code, score in sorted(scores.items())]
