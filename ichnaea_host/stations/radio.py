"""A radio: everything the service knows of one kind of network, in one class.

A radio plugin (WiFi, Bluetooth, cells) subclasses :class:`Radio` (or
:class:`MacRadio`, for networks named by a MAC address) and registers it with
``ichnaea_register_radios``. Its class attributes say what it is: its name
(``PLUGIN_NAME``), the list of reports and queries it reads (``FIELD``, the
entry schemas), its settings class, its table and key, its
:class:`~ichnaea_host.core.plugin_classes.StationLimits` and
:class:`~ichnaea_host.core.plugin_classes.SiteLabels`. Its methods work on whole
lists and batches: the entries of one report or query, the observations of
one update run.

From the one class the host derives the report fragment (the submit and
geolocate schemas), the station updater (the pipeline, :mod:`.updater`) and
the position and region sources (:mod:`.adapters`); the radio never sees
them. Each is built with the context and the settings of the plugin that
registered the radio, and so is the radio (``cls(context, settings)``): a
radio object keeps no state between calls, and may serve several threads.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import peewee
from marshmallow import Schema, fields

from ichnaea_host.core.answers import Position, Query, Region
from ichnaea_host.core.db import retry_on_lock
from ichnaea_host.core.geo import distance
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.plugin_classes import (
    OwnerRequestRefused,
    PluginClass,
    SiteLabels,
    StationLimits,
)
from ichnaea_host.core.settings import PluginSettings, setting
from ichnaea_host.stations.columns import Station, utcnow
from ichnaea_host.stations.coverage import CoverageCell, station_coverage
from ichnaea_host.stations.mac import (
    MAC_RANKING,
    MAC_SHARDS,
    Ranking,
    dedupe,
    mac_shard,
    normalize_mac,
    unique_networks,
)
from ichnaea_host.stations.rules import is_blocked, within
from ichnaea_host.stations.search import (
    DATABASE_ERRORS,
    cluster_position,
    complete_linkage,
    connection_lost,
    load_station_regions,
    load_stations,
    pairwise_distances,
    regions_from_stations,
    within_limit,
)
from ichnaea_host.stations.sql import read_rows
from ichnaea_host.stations.updater import FORGET, OPTED_OUT_BLOCKS, POSITION_FIELDS, REGIONS

if TYPE_CHECKING:
    import numpy as np

    from ichnaea_host.stations.columns import StationColumns
else:
    from ichnaea_host.core.lazy import lazy_module

    np = lazy_module("numpy")


class Radio(PluginClass):
    """One kind of network: its reports, its stations and its answers.

    A subclass sets ``PLUGIN_NAME``, ``FIELD``, ``ENTRY_SCHEMA``, ``MODEL``
    (its station table, :func:`~ichnaea_host.stations.station_model`) and
    :meth:`split`; everything else has a default.
    """

    # -- reports and queries
    #: the JSON field in geosubmit v2 and v1 reports and in geolocate queries
    FIELD: ClassVar[str] = ""
    #: the marshmallow schema of one entry of a submitted report; use the
    #: lenient fields (:class:`~ichnaea_host.LenientInteger` ...), so that
    #: clients sending ``"5"`` or ``5.0`` for an integer, or nulls, are understood
    ENTRY_SCHEMA: ClassVar[type[Schema]]
    #: the schema of one entry of a geolocate query (None: ``ENTRY_SCHEMA``)
    QUERY_SCHEMA: ClassVar[type[Schema] | None] = None
    #: accuracy class a query with this data can expect ("high", "medium", "low")
    DATA_ACCURACY: ClassVar[str] = "low"
    #: the list's name in the v0 ``/v1/submit`` format (e.g. ``"wifi"``);
    #: None: this kind of network has no place in v0 reports
    V0_FIELD: ClassVar[str | None] = None
    #: entry fields named differently in v0 reports: {v0 name: v2 name}; in v0
    #: reports the v2 name itself is not accepted
    V0_RENAMES: ClassVar[dict[str, str]] = {}
    #: entry fields named differently in v1 ``/v1/geosubmit`` reports
    V1_RENAMES: ClassVar[dict[str, str]] = {}
    #: True when the :meth:`network_ids` of this list are MAC addresses someone
    #: could enumerate: the host limits the distinct ones looked up per address
    #: block (``ICHNAEA_LOCATE_LIMIT_PREFIX``)
    ENUMERABLE: ClassVar[bool] = False

    # -- stations
    #: the key column of the station table
    KEY: ClassVar[str] = "mac"
    #: the station table
    MODEL: ClassVar[type[peewee.Model]]
    #: the work partitions of the pipeline (queues ``update_<radio>_<partition>``)
    SHARDS: ClassVar[tuple[str, ...]] = ("0",)
    LIMITS: ClassVar[StationLimits] = StationLimits()
    LABELS: ClassVar[SiteLabels] = SiteLabels()
    #: ``stat.key`` values of (observations, new stations); None: the host's scheme
    STAT_KEYS: ClassVar[tuple[int, int] | None] = None
    #: ``data_type`` tag of the ``queue`` gauge of the radio's queues (default: its name)
    DATA_TYPE: ClassVar[str] = ""
    #: the radio's other data queues with their ``data_type`` gauge tag
    EXTRA_QUEUES: ClassVar[dict[str, str]] = {}
    #: owners may opt a station out, or reset one that moved, on the web site
    #: (``/optout``), proving their presence with a scan: :meth:`owner_request`
    OWNER_REQUESTS: ClassVar[bool] = False

    # -- answers
    #: the place of the radio's position source among the sources (lower runs
    #: first); None: the radio answers no geolocate query
    POSITION_ORDER: ClassVar[int | None] = 20
    #: the place of its region source (``/v1/country``); None: none
    REGION_ORDER: ClassVar[int | None] = 20
    #: how the accuracy of its answers scales with a client's ``?confidence=``
    #: (``{level: factor}``, see :class:`~ichnaea_host.PositionSource`)
    CONFIDENCE: ClassVar[dict[int, float] | None] = None

    # -- reports and queries
    def clean_report(self, entries: list[dict[str, Any]],
                     report: dict[str, Any]) -> list[dict[str, Any]]:
        """The validated entries of a submitted report (the whole report at
        hand, for report-level fields), without those that can never become
        data. The default: nulls left out."""
        return [{k: v for k, v in e.items() if v is not None} for e in entries]

    def forwarded(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The entries of a queued report that may leave the service (export
        targets other than ``internal``): the default keeps all."""
        return entries

    def query_fields(self) -> dict[str, fields.Field]:
        """Report-level fields of a geolocate query this radio reads (fresh
        instances), checked in place of the host's own declaration."""
        return {}

    def parse_query(self, entries: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        """The lookups of a query: its valid entries, de-duplicated (``body``
        is the whole validated query)."""
        return entries

    def query_json(self, lookups: list[Any]) -> list[dict[str, Any]]:
        """The lookups of a query as entries of a report, for the pipeline."""
        return [dict(x) for x in lookups]

    def network_ids(self, lookups: list[Any], query: Query) -> dict[str, set[str]] | None:
        """The ids of the query's networks, by kind, in the terms of
        :attr:`Position.used_networks`; a query whose networks were all seen
        today is not stored as a report. None: not known (always stored)."""
        return None

    # -- the pipeline
    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The observations of one positioned report, per work partition
        (each one :meth:`observation_base` plus the fields of one network)."""
        raise NotImplementedError

    def observation_base(self, report: dict[str, Any]) -> dict[str, Any]:
        """The fields of a positioned report's position every observation
        carries (``lat``, ``lon``, ``accuracy``, ``source``, ``timestamp`` ...)."""
        position = report["position"]
        return {k: position[k] for k in POSITION_FIELDS if position.get(k) is not None}

    def shard_of(self, key: str) -> str:
        """The work partition of a station key."""
        return self.SHARDS[0]

    def model(self, shard: str) -> type[peewee.Model]:
        """The table holding the stations of one work partition."""
        return self.MODEL

    def stations(self, shard: str, keys: Sequence[str]) -> list[Station]:
        """The known, unblocked stations of ``keys`` (lowercase hex) with a
        position, from the table of one work partition: one keyed ``IN``
        query on the read-only connection, read without peewee's query
        objects (:class:`Station` tuples; the key is their ``mac``).
        Database errors are the caller's."""
        return load_stations(self.context.db.ro, self.model(shard), keys, self.KEY)

    def coverage(self, per_degree: int) -> list[CoverageCell]:
        """The squares of a ``per_degree`` grid holding the radio's stations,
        each with its latest ``last_seen`` and how many: its layer of the
        coverage vector tiles (``/tiles/coverage.json``), read in the worker.
        The default reads each of its tables (:meth:`model` of every shard)
        on the read-only connection; a square found in two tables comes twice
        and the host merges it."""
        tables = {self.model(shard)._meta.table_name: self.model(shard) for shard in self.SHARDS}
        return [cell for _, model in sorted(tables.items())
                for cell in station_coverage(model, per_degree, self.context.db.ro)]

    def signal_weight(self, observation: dict[str, Any]) -> float:
        """How much an observation's signal makes it count (1.0: not at all)."""
        return 1.0

    def region(self, lat: float, lon: float) -> str | None:
        """The region code of a station's position (from the shipped region shapes)."""
        return REGIONS.region(lat, lon)

    def moving_limits(self) -> tuple[float, float]:
        """(metres, hours) of the moving-station rule: a station whose new
        observations agree among themselves but lie, as a whole, farther than
        ``metres`` from its position, within ``hours`` of its last change, is
        blocked as moving. The default: ``LIMITS``."""
        return self.LIMITS.moving_meters, self.LIMITS.moving_hours

    def extra_columns(self, observations: list[dict[str, Any]]) -> StationColumns | None:
        """The values of the radio's own columns for the stations an update
        run of these observations writes: a function of ``(status, key, row,
        values)`` returning them (it may also replace station columns, such
        as ``region``). The default: None, no columns of its own."""
        return None

    def after_update(self, shard: str, observations: list[dict[str, Any]],
                     written: list[str]) -> None:
        """Called after each update run with its observations and the keys of
        the stations it wrote (counts, queues of derived data)."""

    def region_counts(self) -> dict[str, dict[str, int]] | None:
        """Stations per region for ``region_stat``: ``{kind: {region: count}}``;
        None (the default): the host counts the table's rows per ``region``
        as the kind named after the radio."""
        return None

    def owner_request(self, network: str, action: str, lookups: list[Any]) -> str:
        """Carry out an owner's ``action`` (``optout`` or ``moved``) on a
        station; called only when ``OWNER_REQUESTS`` (see :class:`MacRadio`)."""
        raise NotImplementedError

    # -- answers
    def positions(self, lookups: list[Any], query: Query) -> list[Position]:
        """Candidate positions for a geolocate query's lookups of this radio
        (called only when there are some)."""
        return []

    def explain(self, lookups: list[Any], query: Query, answer: Position) -> list[dict[str, Any]]:
        """The ``raw`` entries of a geolocate answer for these lookups (keys
        with ``allow_raw`` only). The default: none."""
        return []

    def regions(self, lookups: list[Any], query: Query) -> list[Region]:
        """Candidate regions for a ``/v1/country`` query: by default the
        regions stored on the known stations of the lookups."""
        keys = [n[self.KEY] for n in lookups]
        try:
            stations = load_station_regions(
                self.context.db.ro, lambda key: self.model(self.shard_of(key)), self.KEY, keys)
        except DATABASE_ERRORS as exc:
            get_logger("ichnaea.stations").warning("station_lookup_failed",
                                                   source=self.PLUGIN_NAME,
                                                   error=type(exc).__name__)
            return []
        return regions_from_stations(stations, self.PLUGIN_NAME)


@dataclasses.dataclass(frozen=True)
class MacSettings(PluginSettings):
    """The settings every :class:`MacRadio` reads; a radio's settings class
    subclasses it, with its own defaults."""

    cluster_meters: float = setting(
        500.0, help="networks farther apart than this never form one answer")
    max_networks: int = setting(20, help="networks used for one position (best scored first)")
    station_range: float = setting(
        100.0, help="range, in metres, assumed for a network seen once; it fades as the "
                    "network's own observed radius takes over")
    moving_meters: float = setting(
        0.0, help="a station seen this many metres from its position within moving_hours "
                  "of its last change travels and is blocked; 0: never")
    moving_hours: float = setting(24.0, help="the window of moving_meters, in hours")
    min_accuracy: float = setting(10.0, help="smallest accuracy answered, in metres")
    max_accuracy: float = setting(500.0, help="largest accuracy answered, in metres")


def colon_mac(mac: str) -> str:
    return ":".join(mac[i:i + 2] for i in range(0, 12, 2))


class MacRadio(Radio):
    """A radio whose networks are named by a MAC address (WiFi access points,
    Bluetooth beacons): one table keyed by ``mac``, work partitioned by
    :func:`~ichnaea_host.stations.mac_shard`, answers from the weighted mean
    of each cluster of known networks (:mod:`.search`), and owner requests.

    A subclass adds :meth:`normalize_entry` and its ``LONG_NAMES``; it may
    set ``RANKING`` (how duplicate entries are chosen), ``UNSTORED`` (entry
    fields observations leave out, such as names), ``RAW_FIELD`` (its name in
    geolocate's ``raw`` list) and :meth:`excluded`.
    """

    SETTINGS: ClassVar[type[MacSettings]] = MacSettings
    settings: MacSettings
    KEY = "mac"
    SHARDS = MAC_SHARDS
    DATA_ACCURACY = "high"
    ENUMERABLE = True
    RANKING: ClassVar[Ranking] = MAC_RANKING
    UNSTORED: ClassVar[frozenset[str]] = frozenset()
    #: the short names of :meth:`normalize_entry` -> the names of reports
    LONG_NAMES: ClassVar[dict[str, str]] = {"mac": "macAddress", "age": "age",
                                            "signal": "signalStrength"}
    #: the entries' name in the ``raw`` list of geolocate answers (``wifiAccessPoint``)
    RAW_FIELD: ClassVar[str] = ""
    #: an owner's scan proves presence when its other known networks lie
    #: within this many metres of their centre (and of the station, when it
    #: has a position): about twice a network's range
    OWNER_PROOF_METERS: ClassVar[float] = 500.0

    def normalize_entry(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """One entry of a query or report in the pipeline's short names
        (``mac``, ``signal``, ``age`` ...), or None when it is unusable."""
        raise NotImplementedError

    def observed_entry(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """One entry of a positioned report as observations keep it (the
        default: :meth:`normalize_entry`)."""
        return self.normalize_entry(entry)

    def excluded(self, entry: dict[str, Any]) -> bool:
        """Whether a network seen in a report must never be learned, and the
        station already learned under its address be removed (its owner opted
        out, or it moves). Called with the normalised entry; the default
        excludes nothing."""
        return False

    def shard_of(self, key: str) -> str:
        return mac_shard(key)

    def moving_limits(self) -> tuple[float, float]:
        return float(self.settings.moving_meters), float(self.settings.moving_hours)

    # -- reports and queries
    def clean_report(self, entries: list[dict[str, Any]],
                     report: dict[str, Any]) -> list[dict[str, Any]]:
        """Entries without a MAC string are dropped; the MAC itself is kept as
        sent (the pipeline validates it)."""
        return [{k: v for k, v in e.items() if v is not None}
                for e in entries if isinstance(e.get("macAddress"), str)]

    def parse_query(self, entries: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        """Valid, de-duplicated networks; none when fewer than two unique ones remain."""
        return unique_networks(entries, self.normalize_entry, self.RANKING)

    def query_json(self, lookups: list[Any]) -> list[dict[str, Any]]:
        names = self.LONG_NAMES
        return [{names.get(k, k): v for k, v in lookup.items() if v is not None}
                for lookup in lookups]

    def network_ids(self, lookups: list[Any], query: Query) -> dict[str, set[str]]:
        return {self.PLUGIN_NAME: {lookup["mac"] for lookup in lookups}}

    # -- the pipeline
    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        observed = self.observed_entry
        entries = [n for n in (observed(e) for e in report.get(self.FIELD) or []
                               if isinstance(e, dict)) if n is not None]
        if not entries:
            return {}
        excluded, key_name = self.excluded, self.KEY
        forget = {e[key_name] for e in entries if excluded(e)}
        out: dict[str, list[dict[str, Any]]] = {}
        for key in forget:
            out.setdefault(self.shard_of(key), []).append({key_name: key, FORGET: True})
        if forget:
            entries = [e for e in entries if e[key_name] not in forget]
        gps_age = report["position"].get("gps_age") or 0
        base = self.observation_base(report)
        unstored, shard_of = self.UNSTORED, self.shard_of
        for entry in dedupe(entries, self.RANKING):
            if gps_age:
                entry["age"] = (entry.get("age") or 0) - gps_age
            observation = base.copy()
            for name, value in entry.items():
                if value is not None and name not in unstored:
                    observation[name] = value
            out.setdefault(shard_of(entry["mac"]), []).append(observation)
        return out

    def owner_request(self, network: str, action: str, lookups: list[Any]) -> str:
        """An owner's opt-out (``optout``: the station's position is dropped and
        it is blocked for 255 x 30 days, so it is never learnt again;
        ``opted_out``) or reset (``moved``: the row is deleted and the next
        reports learn it afresh; ``reset``).

        The proof of presence is the scan: it holds the station and at least
        two other networks seen at the same time, two or more of which are
        known, unblocked and within ``OWNER_PROOF_METERS`` of their centre;
        for an opt-out, a known station must lie there too. Someone far away
        cannot name the networks around an access point.
        """
        if action not in ("optout", "moved"):
            raise OwnerRequestRefused("the action is optout or moved")
        key = normalize_mac(network)
        if key is None:
            raise OwnerRequestRefused("the network is not a valid address (aa:bb:cc:dd:ee:ff)")
        macs = [lookup[self.KEY] for lookup in lookups]
        if key not in macs:
            raise OwnerRequestRefused("the scan must hold the network itself")
        others = [mac for mac in macs if mac != key]
        if len(others) < 2:
            raise OwnerRequestRefused(
                "the scan must hold at least two other networks seen at the same time")
        model = self.model(self.shard_of(key))
        key_field = getattr(model, self.KEY)
        today = utcnow().date()
        limit = self.OWNER_PROOF_METERS

        def transaction() -> str:
            with model._meta.database.atomic():
                rows = read_rows(model, key_field, [key, *others])
                known = [r for k, r in rows.items() if k != key and r.lat is not None
                         and not is_blocked(r, today)]
                if len(known) < 2:
                    raise OwnerRequestRefused(
                        "fewer than two of the other networks are known here: scan again "
                        "where more networks are seen, or wait until they are learnt")
                lat = sum(r.lat for r in known) / len(known)
                lon = sum(r.lon for r in known) / len(known)
                if not all(within(r.lat, r.lon, lat, lon, limit) for r in known):
                    raise OwnerRequestRefused("the other networks are not seen together")
                row = rows.get(key)
                if row is not None and (row.block_count or 0) >= OPTED_OUT_BLOCKS:
                    if action == "optout":
                        return "opted_out"
                    raise OwnerRequestRefused("this network was opted out by its owner")
                if action == "moved":
                    if row is not None:
                        model.delete().where(key_field == key).execute()
                    return "reset"
                if row is not None and row.lat is not None \
                        and not within(row.lat, row.lon, lat, lon, limit):
                    raise OwnerRequestRefused(
                        "the network is not where the other networks are: if it moved, "
                        "ask to reset it first")
                now = utcnow()
                blocked = {"lat": None, "lon": None, "max_lat": None, "min_lat": None,
                           "max_lon": None, "min_lon": None, "radius": None,
                           "samples": None, "weight": None, "source": None,
                           "last_seen": None, "created": now, "modified": now,
                           "block_first": today, "block_last": today,
                           "block_count": OPTED_OUT_BLOCKS}
                if row is None:
                    model.insert({self.KEY: key, **blocked}).execute()
                else:
                    model.update(blocked).where(key_field == key).execute()
                return "opted_out"

        return retry_on_lock(transaction)

    # -- answers
    def positions(self, lookups: list[Any], query: Query) -> list[Position]:
        """The weighted mean of each complete-linkage cluster of the known
        networks (:mod:`.search`), with the limits of the radio's settings
        (``cluster_meters``, ``max_networks``, ``station_range``,
        ``min_accuracy``, ``max_accuracy``)."""
        by_mac = {n["mac"]: n for n in lookups}
        db = self.context.db.ro
        for attempt in (1, 2):
            try:
                stations = load_stations(db, self.MODEL, list(by_mac))
                break
            except DATABASE_ERRORS as exc:
                if attempt == 1 and connection_lost(db):
                    db.close()  # kept from an earlier request, the server dropped it since
                    continue
                get_logger(f"ichnaea.{self.PLUGIN_NAME}").warning(
                    "station_lookup_failed", error=type(exc).__name__)
                return []
        if len(stations) < 2:  # one network alone must not reveal where it is
            return []
        settings = self.settings
        now = utcnow()
        if within_limit(stations, settings.cluster_meters):
            groups = [list(range(len(stations)))]
        else:
            dist = pairwise_distances(np.array([s.lat for s in stations]),
                                      np.array([s.lon for s in stations]))
            groups = complete_linkage(dist, settings.cluster_meters)
        return [cluster_position([stations[i] for i in group], by_mac, now, settings,
                                 self.PLUGIN_NAME)
                for group in groups]

    def explain(self, lookups: list[Any], query: Query, answer: Position) -> list[dict[str, Any]]:
        """microG's ``raw`` entries under ``RAW_FIELD``: one per network of
        the query, with the learnt position of each network that agrees with
        the answer, and ``omit: true`` for the others (unknown, blocked, opted
        out, or far from the answer), which tells microG to stop sending them."""
        if not lookups or not self.RAW_FIELD:
            return []
        try:
            found = load_stations(self.context.db.ro, self.MODEL, [n["mac"] for n in lookups])
        except DATABASE_ERRORS:
            return []
        stations = {s.mac: s for s in found}
        settings = self.settings
        agree = settings.cluster_meters + answer.accuracy
        out = []
        for lookup in lookups:
            entry: dict[str, Any] = {self.RAW_FIELD: {"macAddress": colon_mac(lookup["mac"])}}
            station = stations.get(lookup["mac"])
            if station is not None and distance(station.lat, station.lon, answer.lat,
                                                answer.lon) <= agree:
                samples = max(station.samples or 1, 1)
                accuracy = math.sqrt(float(station.radius or 0) ** 2
                                     + settings.station_range ** 2 / samples)
                entry.update(location={"lat": round(station.lat, 6),
                                       "lng": round(station.lon, 6)},
                             accuracy=round(max(accuracy, settings.min_accuracy), 1),
                             omit=False)
            else:
                entry["omit"] = True
            out.append(entry)
        return out

