"""The classes plugins subclass, and the context the host hands their objects.

Every hook of :mod:`ichnaea_host.core.hookspecs` registers *classes*; each class has
a ``PLUGIN_NAME`` that is unique within its family. The host decides order,
configuration and the loops that call them, and builds each object with the
context (:class:`HostContext`) and the settings of the plugin that registered
it. Nothing here knows a radio type, a vendor or an export target by name.

What a radio declares (:class:`StationLimits`, :class:`SiteLabels`) lives
here too, beside the station updater that reads it: the site sections and
jobs (:mod:`.sections`) take a :class:`HostContext`, so they stand above
this module, not below it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import marshmallow
from marshmallow import fields

from ichnaea_host.core.answers import Position, Query, Region

if TYPE_CHECKING:
    import click
    import redis

    from ichnaea_host.core.db import Database
    from ichnaea_host.core.queues import ExportPartition, StationPartition
    from ichnaea_host.core.settings import PluginSettings, Settings


# ---------------------------------------------------------------------------
# What a plugin gets from the host at run time


class HostContext(Protocol):
    """What the host hands to plugin objects: settings, storage and queues."""

    settings: Settings
    db: Database
    #: statsd client (``incr``, ``gauge``, ``timing`` with tags); a no-op without STATSD_HOST
    metrics: Any

    @property
    def redis(self) -> redis.Redis: ...

    def enqueue(self, queue_name: str, items: Sequence[Any]) -> None: ...

    def queue(self, name: str | StationPartition | ExportPartition,
              batch: int | None = None) -> Any: ...

    def station_updater_names(self) -> list[str]: ...

    def station_updater(self, name: str) -> StationUpdater: ...

    def fallback_schema(self, name: str) -> FallbackSchema | None: ...



class PluginClass:
    """What every registered class has: a name, and the settings of the plugin
    that registered it, handed in when the host builds its objects
    (``cls(context, settings)``)."""

    #: unique name within the class's family; also the operator-facing name
    PLUGIN_NAME: ClassVar[str] = ""
    #: the settings class this class expects (its plugin registers it with
    #: ``ichnaea_register_settings``); its defaults stand in when the plugin's
    #: settings are not known (an object built by hand, in a test)
    SETTINGS: ClassVar[type[PluginSettings] | None] = None

    def __init__(self, context: HostContext, settings: Any = None) -> None:
        self.context = context
        if settings is None and self.SETTINGS is not None:
            settings = self.SETTINGS()
        #: the settings of the plugin that registered this class (None: it has none)
        self.settings = settings


class Source(PluginClass):
    """What position and region sources share.

    ``DEFAULT_ORDER`` places the source when the operator has not set
    ``ICHNAEA_LOCATE_SOURCES`` / ``ICHNAEA_REGION_SOURCES``: lower runs first
    (internal radio data 10-30, GeoIP 50, external fallback 90). A source
    must never raise for bad data; the host still isolates it.
    """

    DEFAULT_ORDER: ClassVar[int] = 50
    #: True for sources answering from the service's own station data; only
    #: their answers turn locate queries into reports for the pipeline
    INTERNAL: ClassVar[bool] = False
    #: the query flag that switches this source off ("ipf", "lacf"), if any
    FALLBACK_FIELD: ClassVar[str | None] = None

    def should_search(self, query: Query, results: Sequence[Any]) -> bool:
        return True


class PositionSource(Source):
    """Turns a geolocate query (``/v1/geolocate``) into candidate :class:`Position` results."""

    #: how this source's accuracy scales with the confidence a client asks for
    #: (``/v1/geolocate?confidence=50..99``): ``{level: factor}``, the factor
    #: relative to the 95 % radius answered by default, as ``bench/accuracy.py``
    #: measures it; None: the scale of a circular normal error
    CONFIDENCE: ClassVar[dict[int, float] | None] = None

    def should_search(self, query: Query, results: Sequence[Position]) -> bool:
        return True

    def search(self, query: Query) -> list[Position]:
        raise NotImplementedError

    def explain(self, query: Query, answer: Position) -> list[dict[str, Any]]:
        """The ``raw`` entries of a geolocate answer for this source's
        networks of the query (keys with ``allow_raw`` only): microG's
        ``{"wifiAccessPoint": {...}, "location": {...}, "accuracy": ...,
        "omit": false}``. The default: none."""
        return []


class RegionSource(Source):
    """Turns a region query (``/v1/country``) into candidate :class:`Region` results."""

    def should_search(self, query: Query, results: Sequence[Region]) -> bool:
        return True

    def search(self, query: Query) -> list[Region]:
        raise NotImplementedError


class ReportFragment(PluginClass):
    """One list of networks in reports and queries, e.g. ``wifiAccessPoints``.

    The host composes the submit and geolocate schemas from the fragments;
    it knows no radio field itself. The deprecated submit formats reuse the
    fragment's schemas with renamed fields: ``/v1/geosubmit`` uses ``FIELD``
    and ``V1_RENAMES``, ``/v1/submit`` uses ``V0_FIELD`` and ``V0_RENAMES``.
    Use the lenient fields below (:class:`LenientInteger` ...) in the entry
    schemas, so that clients sending ``"5"`` or ``5.0`` for an integer, or
    explicit nulls, are understood.
    """

    #: the JSON field in geosubmit v2 and v1 reports and in geolocate queries
    FIELD: ClassVar[str] = ""
    #: accuracy class a query with this data can expect ("high", "medium", "low")
    DATA_ACCURACY: ClassVar[str] = "low"
    #: the list's name in the v0 ``/v1/submit`` format (e.g. ``"wifi"``);
    #: None: this kind of network has no place in v0 reports
    V0_FIELD: ClassVar[str | None] = None
    #: entry fields named differently in v0 reports: {v0 name: v2 name},
    #: e.g. ``{"key": "macAddress", "signal": "signalStrength"}``. In v0
    #: reports the v2 name itself is not accepted.
    V0_RENAMES: ClassVar[dict[str, str]] = {}
    #: entry fields named differently in v1 ``/v1/geosubmit`` reports,
    #: e.g. ``{"psc": "primaryScramblingCode"}``
    V1_RENAMES: ClassVar[dict[str, str]] = {}
    #: True when the :meth:`network_ids` of this list are MAC addresses
    #: (12 hex digits) someone could enumerate: the host limits the distinct
    #: ones looked up per address block (``ICHNAEA_LOCATE_LIMIT_PREFIX``)
    ENUMERABLE: ClassVar[bool] = False

    def submit_entry_schema(self) -> marshmallow.Schema:
        """A marshmallow schema for one entry of the list in a submitted report."""
        raise NotImplementedError

    def clean_submit(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop the entries of a submitted report that can never become data."""
        return entries

    def clean_report_entries(self, entries: list[dict[str, Any]],
                             report: dict[str, Any]) -> list[dict[str, Any]]:
        """Like :meth:`clean_submit`, with the whole validated report at hand
        (for report-level fields such as a top-level ``radioType``)."""
        return self.clean_submit(entries)

    def forwarded(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The entries of a queued report that may leave the service (export
        targets other than ``internal``): the default keeps all; the wifi
        plugin drops networks whose owner opted out."""
        return entries

    def query_entry_schema(self) -> marshmallow.Schema:
        """A marshmallow schema for one entry of the list in a geolocate query."""
        return self.submit_entry_schema()

    def query_fields(self) -> dict[str, fields.Field]:
        """Report-level fields of a geolocate query that this fragment reads
        (fresh instances), checked in place of the host's own declaration: the
        cell fragment checks the query's ``radioType``."""
        return {}

    def parse_query(self, entries: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        """Validate and de-duplicate the entries of a query; drop invalid ones.

        ``body`` is the whole validated query, for report-level fields.
        """
        return entries

    def query_json(self, lookups: list[Any]) -> list[dict[str, Any]]:
        """The normalised entries of a query, as stored for the pipeline."""
        return [dict(x) for x in lookups]

    def network_ids(self, lookups: list[Any], query: Query) -> dict[str, set[str]] | None:
        """The ids of the networks of a query, by kind, in the terms the
        location sources use in :attr:`Position.used_networks`.

        The host compares them with the networks an answer was built from:
        when every network of the query was already seen today, the query is
        not stored as a report. None (the default) means "not known", and
        such queries are always stored.
        """
        return None


@dataclasses.dataclass
class UpdateStats:
    """What one station-updater run did, for the stats counters, metrics and logs.

    The host turns it into the daily ``stat`` counters (``observations`` and
    ``new``) and the metrics ``data.observation.insert`` (``observations``),
    ``data.station.new`` (``new``), ``data.station.confirm`` (``changed`` +
    ``confirmed``, as the original counted), ``data.station.blocklist``
    (``blocked``) and ``data.station.moving`` (``moving``).
    """

    #: observations with a weight, including those of blocked stations
    observations: int = 0
    #: stations seen for the first time (new and new-blocked)
    new: int = 0
    #: existing stations whose position changed or was replaced
    changed: int = 0
    #: existing stations confirmed without a change
    confirmed: int = 0
    #: stations blocked by this run (new or existing)
    blocked: int = 0
    #: observations without weight or key
    dropped: int = 0
    #: stations removed because a report named them excluded (an opt-out)
    removed: int = 0
    #: stations blocked because they were seen far apart within a short time
    #: (also counted in ``blocked``)
    moving: int = 0


class OwnerRequestRefused(Exception):
    """An owner's request (``/optout``) whose proof does not hold; the
    message says why, in words for the owner."""


@dataclasses.dataclass(frozen=True)
class StationLimits:
    """How the stations of a radio are learnt from its observations."""

    #: metres within which the observations of one station must agree (else it is blocked)
    max_dist: float = 5000.0
    #: observations less precise than this many metres weigh nothing
    max_accuracy: float = 200.0
    #: observations per update run of one work partition
    batch: int = 500
    #: seconds between the update runs the scheduler triggers for one partition
    interval: float = 5.0
    #: travelling stations: a jump farther than this many metres (0: never)
    #: within ``moving_hours`` of the last change blocks the station (a
    #: :class:`~ichnaea_host.stations.MacRadio` reads both from its settings)
    moving_meters: float = 0.0
    moving_hours: float = 24.0


@dataclasses.dataclass(frozen=True)
class SiteLabels:
    """How the web site shows a kind of network; empty values are derived
    from the radio's name (``title``: ``Wifi``, ``series``: ``MLS Wifi``,
    ``region_columns``: ``{"wifi": "Wifis"}``)."""

    title: str = ""
    #: the stats JSON's series title
    series: str = ""
    #: ``{region_stat kind: column label}`` of the regions page
    region_columns: tuple[tuple[str, str], ...] = ()
    #: a label summing those columns, if any
    region_total: str | None = None
    #: the description of its layer of the coverage vector tiles (default: ``title``)
    coverage: str = ""


class StationUpdater(PluginClass):
    """Learns stations of one network kind from positioned reports (the host
    derives one from each :class:`~ichnaea_host.stations.Radio`).

    ``split`` turns a report into observations per shard (it owns the
    validation and normalisation of its entries); the host queues them in
    ``update_<PLUGIN_NAME>_<shard>``; ``update`` writes a shard's batch of
    observations to the station tables.
    """

    FIELD: ClassVar[str] = ""
    SHARDS: ClassVar[tuple[str, ...]] = ("0",)
    #: observations per update run
    BATCH: ClassVar[int] = 500
    #: seconds between the update runs of one partition
    INTERVAL: ClassVar[float] = 5.0
    #: ``data_type`` tag of the ``queue`` gauge of this updater's queues (default: PLUGIN_NAME)
    DATA_TYPE: ClassVar[str] = ""
    #: the plugin's other data queues with their ``data_type`` gauge tag, e.g. a
    #: queue of cell areas to recompute: ``{"update_cellarea": "cellarea"}``
    EXTRA_QUEUES: ClassVar[dict[str, str]] = {}
    #: ``stat.key`` values of (observations, new stations); None: the host's scheme,
    #: see :func:`ichnaea_host.pipeline.stats.stat_keys`
    STAT_KEYS: ClassVar[tuple[int, int] | None] = None
    #: how the web site shows this kind of network
    SITE_LABELS: ClassVar[SiteLabels] = SiteLabels()

    #: owners may opt a station out, or reset one that moved, on the web site
    #: (``/optout``), proving their presence with a scan: :meth:`owner_request`
    OWNER_REQUESTS: ClassVar[bool] = False

    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        raise NotImplementedError

    def update(self, shard: str, observations: list[dict[str, Any]]) -> UpdateStats:
        raise NotImplementedError

    def owner_request(self, network: str, action: str, lookups: list[Any]) -> str:
        """Carry out an owner's ``action`` (``optout`` or ``moved``) on the
        station named ``network`` (as the owner wrote it), given the networks
        of a scan (the radio's fragment's ``parse_query`` lookups); return what
        was done, or raise
        :class:`OwnerRequestRefused`. Called only when ``OWNER_REQUESTS``."""
        raise NotImplementedError

    def region_counts(self) -> dict[str, dict[str, int]] | None:
        """Stations per region for the ``region_stat`` table.

        Return ``{kind: {region code: count}}``; each kind (at most 32
        characters) becomes rows of ``region_stat`` and a column of the
        regions page, with no migration (the cell plugin returns ``gsm``,
        ``wcdma``, ``lte`` and ``nr``). The default, None, lets the host count
        the rows per ``region`` of the radio's table as the kind named after
        ``PLUGIN_NAME``.
        """
        return None


class Exporter(PluginClass):
    """Sends batches of reports to one export target; ``PLUGIN_NAME`` is the
    ``export_config.schema`` value it serves."""

    #: exceptions after which the host retries the batch
    RETRIABLE: ClassVar[tuple[type[BaseException], ...]] = (OSError,)
    #: one queue per (source, api key) instead of one per export
    PARTITIONED: ClassVar[bool] = False
    #: items per run when the queue is ready: this many, or the export's batch
    #: when that is larger (0: the export's batch, however large the backlog);
    #: for exporters whose output does not depend on batch sizes
    MIN_TAKE: ClassVar[int] = 0
    #: True for exporters that keep the data in this service (internal): they
    #: get every entry; the others get only what :meth:`ReportFragment.forwarded`
    #: keeps (no opted-out networks)
    OWN_DATA: ClassVar[bool] = False

    def __init__(self, context: HostContext, settings: Any, config: Any,
                 partition: ExportPartition) -> None:
        super().__init__(context, settings)
        self.config = config
        #: the export queue this exporter sends a batch of (its source and API
        #: key, when the exporter is ``PARTITIONED``)
        self.partition = partition

    def send(self, items: list[dict[str, Any]]) -> None:
        raise NotImplementedError


class FallbackSchema(PluginClass):
    """Speaks one external provider's wire format (``api_key.fallback_schema``)."""

    def build_request(
        self, query: dict[str, Any], url: str
    ) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        """Return (url, JSON body, headers), or None when nothing can be asked."""
        raise NotImplementedError

    def parse_response(self, status: int, body: Any) -> dict[str, Any] | None:
        """Return {"lat", "lon", "accuracy", "fallback"}, None for not found;
        raise ValueError for an unusable answer."""
        raise NotImplementedError


class HeartbeatCheck(PluginClass):
    """A named check shown in ``/__heartbeat__``; returns at least ``{"up": bool}``."""

    def check(self) -> dict[str, Any]:
        raise NotImplementedError


class CommandContext:
    """What a plugin's commands get (``ichnaea_register_commands``): the
    runtime of the running ``ichnaea`` command, built when a command first
    asks for it (:meth:`runtime`: a database that cannot be reached stops the
    command with one line), the plugin's settings, as that runtime read
    them (:attr:`settings`), and :meth:`submit_reports` for importers."""

    def __init__(self, runtime: Callable[[], HostContext],
                 settings: Callable[[], Any],
                 submit: Callable[[HostContext, Sequence[dict[str, Any]]],
                                  list[dict[str, Any] | None]] | None = None) -> None:
        self._runtime = runtime
        self._settings = settings
        self._submit = submit

    def runtime(self) -> HostContext:
        return self._runtime()

    def submit_reports(self, reports: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """Queue reports (each an item of a ``/v2/geosubmit`` batch) exactly as
        a submission without an API key is: validated by the same schema,
        cleaned by the same radios, into the same queue, so every rule of the
        pipeline applies to them. Returns, per report, what was queued (None:
        refused or naming no network). Raises the Redis errors."""
        if self._submit is None:
            raise RuntimeError("this command context cannot submit reports")
        return self._submit(self.runtime(), reports)

    @property
    def settings(self) -> Any:
        """The plugin's settings (None when it has none)."""
        return self._settings()


def names(classes: Iterable[type[PluginClass]]) -> list[str]:
    return [c.PLUGIN_NAME for c in classes]


if TYPE_CHECKING:
    CommandGroup = click.Group
