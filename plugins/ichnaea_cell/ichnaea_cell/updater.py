"""Learning cells from positioned reports, and queueing the areas they touch."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import peewee
from peewee import SQL, fn

from ichnaea_host import (
    POSITION_FIELDS,
    REDIS_ERRORS,
    Aggregate,
    DataQueue,
    HostContext,
    StationShardUpdater,
    UpdateStats,
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
    signal_weight,
)
from .mcc import in_mcc_regions, region_for_cell
from .models import CELL_MODELS

log = get_logger("ichnaea.cell")

#: the queue of area ids (8 raw bytes each) whose cells changed
AREA_QUEUE = "update_cellarea"
AREA_BATCH = 100


def area_queue(context: HostContext, batch: int = AREA_BATCH) -> DataQueue:
    return DataQueue(context.redis, AREA_QUEUE, batch=batch, json_items=False)


class CellUpdater(StationShardUpdater):
    """Cells in one table per radio; the station key is the 13-byte cell id.

    Besides the station columns, a cell row carries its identity (radio, mcc,
    mnc, lac, cid) and its last known ``psc``; the generic updater knows
    neither, so :meth:`_values` adds them. Every cell written (all changes
    but a mere confirmation) queues its area for :mod:`ichnaea_cell.area`.
    """

    PLUGIN_NAME = "cell"
    #: the original's ``stat`` keys (observations, new stations)
    STAT_KEYS = (1, 2)
    SITE_LABELS = {"title": "Cell", "series": "MLS Cells", "region_total": "Cells",
                   "region_columns": {"gsm": "GSM", "wcdma": "WCDMA", "lte": "LTE",
                                      "nr": "NR"}}
    FIELD = "cellTowers"
    SHARDS = RADIOS
    BATCH = 500
    INTERVAL = 5.0
    #: the queue of touched cell areas, gauged with the original's ``data_type``
    EXTRA_QUEUES = {AREA_QUEUE: "cellarea"}
    KEY = "cellid"
    #: observations of one cell farther apart than this block it (CELL_MAX_RADIUS)
    MAX_DIST = 100_000.0
    #: observations less precise than this weigh nothing
    MAX_ACCURACY = 1000.0

    def __init__(self, context: HostContext) -> None:
        super().__init__(context)
        # what one update run learnt besides positions; update runs of
        # different shards may share this object in different threads
        self._run = threading.local()

    def model(self, shard: str) -> type[peewee.Model]:
        return CELL_MODELS[shard]  # type: ignore[no-any-return]

    def shard_of(self, key: str) -> str:
        return decode_cellid(key)["radio"]  # type: ignore[no-any-return]

    def signal_weight(self, observation: dict[str, Any]) -> float:
        radio = observation.get("radio")
        if radio not in RADIO_CODES:
            return 0.0  # not an observation of ours: dropped
        return signal_weight(radio, observation.get("signal"))

    def region_counts(self) -> dict[str, dict[str, int]]:
        """Cells per region for ``region_stat``: one kind per radio table
        (``gsm``, ``wcdma``, ``lte`` and ``nr``)."""
        counts: dict[str, dict[str, int]] = {}
        for radio in RADIOS:
            model: Any = CELL_MODELS[radio]
            query = (model.select(model.region, fn.COUNT(SQL("*")))
                     .where(model.region.is_null(False)).group_by(model.region).tuples())
            counts[radio] = {region: int(number) for region, number in query}
        return counts

    def region(self, lat: float, lon: float) -> str | None:
        """Cells get their region from their MCC too, in :meth:`_values`."""
        return None

    # -- reports -> observations
    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        position = report["position"]
        gps_age = position.get("gps_age") or 0
        default_radio = report.get("radioType")
        cells = [c for c in (normalize_cell(e, default_radio)
                             for e in report.get(self.FIELD) or [] if isinstance(e, dict))
                 if c is not None and c["cid"] is not None]
        base = {k: position[k] for k in POSITION_FIELDS if position.get(k) is not None}
        out: dict[str, list[dict[str, Any]]] = {}
        for cell in dedupe(cells):
            if not in_mcc_regions(position["lat"], position["lon"], cell["mcc"]):
                continue
            if gps_age:
                cell["age"] = (cell.get("age") or 0) - gps_age
            observation = {**base, "cellid": cellid_hex(cell), "radio": cell["radio"]}
            for name in ("psc", "signal", "ta", "asu", "age"):
                if cell.get(name) is not None:
                    observation[name] = cell[name]
            out.setdefault(cell["radio"], []).append(observation)
        return out

    # -- observations -> rows
    def update(self, shard: str, observations: list[dict[str, Any]]) -> UpdateStats:
        self._run.psc = last_psc(observations)
        self._run.touched = set()
        try:
            stats = super().update(shard, observations)
            touched = sorted({bytes.fromhex(key)[:AREAID_BYTES] for key in self._run.touched})
        finally:
            self._run.psc, self._run.touched = {}, set()
        try:
            area_queue(self.context).enqueue(touched)
        except REDIS_ERRORS as exc:
            # the cells are written; their areas catch up when next touched
            log.warning("cell_areas_not_queued", areas=len(touched), error=repr(exc))
        return stats

    def _values(self, status: str, key: str, row: Any, agg: Aggregate, source: int,
                now: datetime) -> dict[str, Any]:
        values = super()._values(status, key, row, agg, source, now)
        cell = decode_cellid(key)
        values.update(cell, radio=RADIO_CODES[cell["radio"]])
        psc = self._run.psc.get(key)
        values["psc"] = psc if psc is not None else (row.psc if row is not None else None)
        lat, lon = values["lat"], values["lon"]
        if lat is not None and lon is not None:
            old = row.region if row is not None else None
            if status == "change" and old and in_region(lat, lon, old):
                values["region"] = old
            else:
                values["region"] = region_for_cell(lat, lon, cell["mcc"])
        self._run.touched.add(key)
        return values


def last_psc(observations: list[dict[str, Any]]) -> dict[str, int]:
    """Per cell, the last psc among the observations the updater uses (the
    GNSS ones when there are any, else the query ones)."""
    gnss: dict[str, int] = {}
    query: dict[str, int] = {}
    has_gnss: set[str] = set()
    for obs in observations:
        key = str(obs.get("cellid"))
        is_query = obs.get("source") == "query"
        if not is_query:
            has_gnss.add(key)
        if obs.get("psc") is not None:
            (query if is_query else gnss)[key] = obs["psc"]
    out = {key: value for key, value in query.items() if key not in has_gnss}
    out.update(gnss)
    return out
