"""Cell towers: the ``cellTowers`` of reports and queries, the cell tables
(one per cell radio, keyed by the 13-byte cell id, with the cell's identity
as columns of their own), the cell areas they feed, and the answers from both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import peewee
from marshmallow import fields

from ichnaea_host import (
    Position,
    Query,
    Radio,
    Region,
    SiteLabels,
    StationLimits,
)

from . import source, updater
from .cells import (
    RADIO_CODES,
    RADIOS,
    areaid_hex,
    cellid_hex,
    decode_cellid,
    dedupe,
    is_area,
    is_neighbour,
    normalize_cell,
    signal_weight,
)
from .fragment import (
    LONG_NAMES,
    CellEntry,
    CellQueryEntry,
    QueryRadioName,
    clean_entry,
    lacf_allowed,
)
from .models import CELL_MODELS
from .settings import CellSettings


class CellRadio(Radio):
    """Cells in one table per radio; the station key is the 13-byte cell id.

    Besides the station columns, a cell row carries its identity (radio, mcc,
    mnc, lac, cid) and its last known ``psc`` (:meth:`extra_columns`). Every
    cell written (all changes but a mere confirmation) queues its area for
    :mod:`ichnaea_cell.area`.
    """

    PLUGIN_NAME = "cell"
    FIELD = "cellTowers"
    ENTRY_SCHEMA = CellEntry
    QUERY_SCHEMA = CellQueryEntry
    V0_FIELD = "cell"
    V0_RENAMES = {"radio": "radioType", "mcc": "mobileCountryCode", "mnc": "mobileNetworkCode",
                  "lac": "locationAreaCode", "cid": "cellId", "psc": "primaryScramblingCode",
                  "signal": "signalStrength", "ta": "timingAdvance"}
    DATA_ACCURACY = "medium"
    SETTINGS = CellSettings
    settings: CellSettings
    KEY = "cellid"
    SHARDS = RADIOS
    #: observations of one cell farther apart than this block it (CELL_MAX_RADIUS);
    #: observations less precise than 1000 m weigh nothing
    LIMITS = StationLimits(max_dist=100_000.0, max_accuracy=1000.0, batch=500, interval=5.0)
    LABELS = SiteLabels(title="Cell", series="MLS Cells", region_total="Cells",
                        region_columns=(("gsm", "GSM"), ("wcdma", "WCDMA"), ("lte", "LTE"),
                                        ("nr", "NR")),
                        coverage="Cell towers (GSM, UMTS, LTE, NR)")
    #: the original's ``stat`` keys (observations, new stations)
    STAT_KEYS = (1, 2)
    #: the queue of touched cell areas, gauged with the original's ``data_type``
    EXTRA_QUEUES = {updater.AREA_QUEUE: "cellarea"}
    POSITION_ORDER = 30
    REGION_ORDER = 30
    #: error / accuracy at each ?confidence= level: the "cell" query set of
    #: bench/accuracy.py (2026-12-07)
    CONFIDENCE = {50: 0.117, 60: 0.153, 68: 0.189, 75: 0.239, 80: 0.309,
                  85: 0.399, 90: 0.574, 95: 0.909, 99: 2.069}

    # -- reports and queries
    def clean_report(self, entries: list[dict[str, Any]],
                     report: dict[str, Any]) -> list[dict[str, Any]]:
        cleaned = [clean_entry(e, report.get("radioType")) for e in entries]
        return [e for e in cleaned if e]

    def query_fields(self) -> dict[str, fields.Field]:
        return {"radioType": QueryRadioName()}

    def parse_query(self, entries: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        """Valid cells, one per (radio, mcc, mnc, lac, cid); an entry whose cell
        id is missing or invalid stays as a lookup of its area (``cid`` None),
        unless the query switched cell-area answers off (``fallbacks.lacf``),
        and one that names a physical id (``psc``) stays as a neighbour, one
        per (radio, mcc, mnc, lac, psc, arfcn): :func:`.source.neighbours`."""
        default_radio = body.get("radioType")
        valid = [c for c in (normalize_cell(e, default_radio) for e in entries)
                 if c is not None]
        lookups = dedupe(valid)
        if not lacf_allowed(body):
            lookups = [c for c in lookups if c["cid"] is not None or is_neighbour(c)]
        return lookups

    def query_json(self, lookups: list[Any]) -> list[dict[str, Any]]:
        return [{LONG_NAMES[k]: v for k, v in lookup.items() if v is not None}
                for lookup in lookups]

    def network_ids(self, lookups: list[Any], query: Query) -> dict[str, set[str]]:
        """Cell ids of full cells, area ids of the entries without a cell id."""
        return {"cell": {cellid_hex(c) for c in lookups if c["cid"] is not None},
                "area": {areaid_hex(c) for c in lookups if c["cid"] is None and is_area(c)}}

    # -- the pipeline
    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return updater.split(report, self.FIELD, self.observation_base(report))

    def model(self, shard: str) -> type[peewee.Model]:
        return CELL_MODELS[shard]  # type: ignore[no-any-return]

    def shard_of(self, key: str) -> str:
        return decode_cellid(key)["radio"]  # type: ignore[no-any-return]

    def signal_weight(self, observation: dict[str, Any]) -> float:
        radio = observation.get("radio")
        if radio not in RADIO_CODES:
            return 0.0  # not an observation of ours: dropped
        return signal_weight(radio, observation.get("signal"))

    def region(self, lat: float, lon: float) -> str | None:
        """Cells get their region from their MCC too, in :meth:`extra_columns`."""
        return None

    def extra_columns(self, observations: list[dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        return updater.cell_columns(observations)

    def after_update(self, shard: str, observations: list[dict[str, Any]],
                     written: list[str]) -> None:
        updater.queue_areas(self.context, written)

    def region_counts(self) -> dict[str, dict[str, int]]:
        return updater.region_counts()

    # -- answers
    def positions(self, lookups: list[Any], query: Query) -> list[Position]:
        return source.positions(self, lookups, query)

    def regions(self, lookups: list[Any], query: Query) -> list[Region]:
        return source.regions(self.context, lookups)
