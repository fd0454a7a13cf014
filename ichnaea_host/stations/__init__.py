"""The station kit: what a radio plugin builds its stations from.

A station is a network (an access point, a beacon, a cell) whose position we
learn from observations. The columns, the observation weights, the blocking
rule, the transitions (new, change, confirm, replace, block ...) and the
station score are the same for every network kind; a radio plugin supplies
its key, its tables, its limits and its signal weight.

One module per job, each importing only those above it in this list:

``columns``
    the station columns, :func:`station_model`, :func:`utcnow`
``rules``
    observation weights, agreement bounds, transitions, blocks, :func:`station_score`
``mac``
    MAC addresses (:func:`normalize_mac`, work partitions), :func:`bounded`, the choice
    among duplicate entries (:func:`better`, :func:`dedupe`)
``aggregate``
    :class:`Aggregate`: the weighted centre, box and radius of observations
``sql``
    the statements that read and write station rows
``updater``
    the update of one work partition's batch of observations
``search``
    positions from clusters of MAC stations, regions from any radio's stations
``coverage``
    :func:`station_coverage`: a table's stations per grid cell, for the coverage tiles
``radio``
    :class:`Radio`, the class a radio plugin subclasses, and :class:`MacRadio`
    for radios whose networks are named by a MAC address
``adapters``
    the host's fragment, updater and sources derived from a radio

A MAC radio (as the wifi and blue plugins) is one :class:`MacRadio` subclass
with its table (:func:`mac_station_model`), its entry schema and its
:meth:`~MacRadio.normalize_entry`; any other radio subclasses :class:`Radio`.
"""

from __future__ import annotations

from ichnaea_host.core.plugin_classes import SiteLabels, StationLimits
from ichnaea_host.stations.aggregate import Aggregate, Point, station_radius
from ichnaea_host.stations.columns import (
    COPIED,
    Station,
    StationColumns,
    station_fields,
    station_model,
    utcnow,
)
from ichnaea_host.stations.coverage import CoverageCell, station_coverage
from ichnaea_host.stations.mac import (
    MAC_RANKING,
    MAC_SHARDS,
    MIN_MAC_NETWORKS,
    Ranking,
    better,
    bounded,
    dedupe,
    higher,
    lower,
    mac_shard,
    mac_station_model,
    normalize_mac,
    unique_networks,
    younger,
)
from ichnaea_host.stations.radio import MacRadio, MacSettings, Radio
from ichnaea_host.stations.rules import (
    BLOCK_DAYS,
    GNSS_SOURCE,
    MAX_OLD_WEIGHT,
    MAX_SAMPLES,
    MAX_WEIGHT,
    QUERY_SOURCE,
    SOURCE_IDS,
    TRANSITIONS,
    accuracy_weight,
    age_weight,
    is_blocked,
    speed_weight,
    station_score,
    within,
)
from ichnaea_host.stations.search import (
    cluster_position,
    complete_linkage,
    distance_matrix,
    load_station_regions,
    load_stations,
    pairwise_distances,
    regions_from_stations,
    within_limit,
)
from ichnaea_host.stations.sql import mysql_literal, read_rows, write_rows
from ichnaea_host.stations.updater import POSITION_FIELDS, REGIONS

__all__ = [
    "BLOCK_DAYS", "COPIED", "GNSS_SOURCE", "MAC_RANKING", "MAC_SHARDS", "MAX_OLD_WEIGHT",
    "MAX_SAMPLES", "MAX_WEIGHT", "MIN_MAC_NETWORKS", "POSITION_FIELDS", "QUERY_SOURCE",
    "REGIONS", "SOURCE_IDS", "TRANSITIONS",
    "Aggregate", "CoverageCell", "MacRadio", "MacSettings", "Point", "Radio", "Ranking",
    "SiteLabels", "Station", "StationColumns", "StationLimits",
    "accuracy_weight", "age_weight", "better", "bounded", "cluster_position",
    "complete_linkage", "dedupe", "distance_matrix", "higher", "is_blocked",
    "load_station_regions", "load_stations", "lower", "mac_shard", "mac_station_model",
    "mysql_literal", "normalize_mac", "pairwise_distances", "read_rows",
    "regions_from_stations", "speed_weight", "station_coverage", "station_fields",
    "station_model",
    "station_radius", "station_score", "unique_networks", "utcnow", "within",
    "within_limit", "write_rows", "younger",
]
