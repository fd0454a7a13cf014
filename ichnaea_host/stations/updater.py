"""Learning stations from observations: the update of one work partition's batch.

:class:`RadioUpdater` (the host's station updater of a
:class:`~ichnaea_host.stations.Radio`) applies the rules of :mod:`.rules` to
the stations of the radio's table, keyed by one column; the pipeline drains
the queues of the radio's work partitions (``update_<radio>_<partition>``) in
parallel, all into that table. The radio supplies its key, its limits
(:class:`~ichnaea_host.core.plugin_classes.StationLimits`), its table, its signal
weight and the values of its own columns
(:meth:`~ichnaea_host.stations.Radio.extra_columns`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import peewee

from ichnaea_host.core import geocode
from ichnaea_host.core.db import is_mysql, retry_on_lock
from ichnaea_host.core.plugin_classes import StationUpdater, UpdateStats
from ichnaea_host.stations.aggregate import Aggregate, Point, station_radius, union
from ichnaea_host.stations.columns import COPIED, utcnow
from ichnaea_host.stations.rules import (
    GNSS_LABELS,
    GNSS_SOURCE,
    MAX_OLD_WEIGHT,
    MAX_SAMPLES,
    MAX_WEIGHT,
    QUERY_SOURCE,
    TRANSITIONS,
    accuracy_weight,
    age_weight,
    is_blocked,
    speed_weight,
    within,
)
from ichnaea_host.stations.sql import read_rows, write_rows

if TYPE_CHECKING:
    from ichnaea_host.stations.columns import StationColumns

#: regions of the stations placed by this process, remembered per grid square
REGIONS = geocode.RegionGrid()

#: an observation carrying this field (and the station key only) removes the
#: station: see :meth:`~ichnaea_host.stations.MacRadio.excluded`
FORGET = "forget"

#: blocks of an opted-out station: a block lasts 30 days per count from its
#: creation (:func:`~.rules.is_blocked`), so 255 keep it out for 21 years
OPTED_OUT_BLOCKS = 255

#: the position fields of a report every observation carries
POSITION_FIELDS = ("lat", "lon", "accuracy", "altitude", "altitudeAccuracy", "heading",
                   "pressure", "speed", "source", "timestamp")


class RadioUpdater(StationUpdater):
    """Learns the stations of one :class:`~ichnaea_host.stations.Radio`, a
    work partition's batch at a time (the host derives one subclass per
    radio, with ``RADIO`` set)."""

    RADIO: ClassVar[Any]

    def __init__(self, context: Any, settings: Any = None) -> None:
        super().__init__(context, settings)
        self.radio = self.RADIO(context, self.settings)
        self.key_name: str = self.RADIO.KEY
        self.limits = self.RADIO.LIMITS

    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = self.radio.split(report)
        return result

    def owner_request(self, network: str, action: str, lookups: list[Any]) -> str:
        result: str = self.radio.owner_request(network, action, lookups)
        return result

    def region_counts(self) -> dict[str, dict[str, int]] | None:
        counts: dict[str, dict[str, int]] | None = self.radio.region_counts()
        return counts

    def model(self, shard: str) -> type[peewee.Model]:
        model: type[peewee.Model] = self.radio.model(shard)
        return model

    def weight(self, observation: dict[str, Any]) -> float:
        return (
            self.radio.signal_weight(observation)
            * accuracy_weight(observation.get("accuracy"), self.limits.max_accuracy)
            * age_weight(observation.get("age"))
            * speed_weight(observation.get("speed"))
        )

    # -- the update
    def update(self, shard: str, observations: list[dict[str, Any]]) -> UpdateStats:
        stats = UpdateStats()
        key_name, weigh = self.key_name, self.weight
        # a network that must be forgotten wins over every other sighting in the batch
        forget: set[str] = {obs[key_name] for obs in observations
                            if obs.get(FORGET) and obs.get(key_name) is not None}
        groups: dict[str, list[Point]] = {}
        for obs in observations:
            key = obs.get(key_name)
            if key in forget:
                continue
            weight = weigh(obs)
            if weight <= 0.0 or key is None:
                stats.dropped += 1
                continue
            point = (obs["lat"], obs["lon"], weight, obs.get("source") == "query")
            group = groups.get(key)
            if group is None:
                groups[key] = [point]
            else:
                group.append(point)
        if not groups and not forget:
            self.radio.after_update(shard, observations, [])
            return stats
        model = self.model(shard)
        columns = self.radio.extra_columns(observations)
        written: list[str] = []

        def transaction() -> UpdateStats:
            run = UpdateStats(dropped=stats.dropped)
            written.clear()
            db = model._meta.database
            if is_mysql(model) and not db.in_transaction():
                # the work partitions share one table: at REPEATABLE READ the locked
                # read of new keys takes gap locks, and two partitions' inserts into
                # the same gap deadlock; a partition's rows are its own, so the
                # locks on the rows themselves are all a batch needs
                db.execute_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            with db.atomic():
                if forget:
                    key_field = getattr(model, key_name)
                    run.removed = model.delete().where(key_field.in_(sorted(forget))).execute()
                if groups:
                    self._apply(model, groups, run, columns, written)
            return run

        def count_retry(errno: int) -> None:
            self.context.metrics.incr("data.station.dberror",
                                      tags=[f"errno:{errno}", f"type:{self.PLUGIN_NAME}"])

        result = retry_on_lock(transaction, on_retry=count_retry)
        self.radio.after_update(shard, observations, list(written))
        return result

    def _apply(self, model: type[peewee.Model], groups: dict[str, list[Point]],
               stats: UpdateStats, columns: StationColumns | None,
               written: list[str]) -> None:
        now = utcnow()
        today = now.date()
        key_field = getattr(model, self.key_name)
        rows = read_rows(model, key_field, list(groups))
        writes: list[dict[str, Any]] = []
        confirms: list[str] = []
        moving_dist, moving_hours = self.radio.moving_limits()
        max_dist = self.limits.max_dist
        recent = now - timedelta(hours=moving_hours)
        for key, points in groups.items():
            stats.observations += len(points)
            row: Any = rows.get(key)
            if row is not None and is_blocked(row, today):
                continue
            gnss = [p for p in points if not p[3]]
            used, source = (gnss, GNSS_SOURCE) if gnss else (points, QUERY_SOURCE)
            agg = Aggregate(used, max_dist)
            label = self._station_label(row, used, today)
            status = TRANSITIONS[label][
                f"{'gnss' if source == GNSS_SOURCE else 'query'}_"
                f"{'consistent' if agg.consistent else 'inconsistent'}"]
            if (source == QUERY_SOURCE and label in GNSS_LABELS
                    and row.source != QUERY_SOURCE and status != "confirm"):
                status = "no_change"  # locate queries never move or block a GNSS station
            if (status == "change" and moving_dist > 0 and row is not None
                    and row.lat is not None and row.modified is not None
                    and row.modified > recent
                    and not within(agg.lat, agg.lon, row.lat, row.lon, moving_dist)):
                status = "block"  # seen far apart within a short time: it travels
                stats.moving += 1
            if status == "no_change":
                continue
            if status == "confirm":
                if row.last_seen != today:
                    confirms.append(key)
                stats.confirmed += 1
                continue
            values = self.values(status, key, row, agg, source, now)
            if columns is not None:
                values.update(columns(status, key, row, values))
            writes.append(values)
            written.append(key)
            if status in ("new", "new_block"):
                stats.new += 1
            elif status in ("change", "replace"):
                stats.changed += 1
            if status in ("block", "new_block"):
                stats.blocked += 1
        if writes:
            write_rows(model, key_field, writes)
        if confirms:
            model.update(last_seen=today).where(key_field.in_(confirms)).execute()

    def _station_label(self, row: Any, points: list[Point], today: date) -> str:
        if row is None:
            return "none"
        lat, lon = row.lat, row.lon
        if lat is None or lon is None:
            return "no_position"
        max_dist = self.limits.max_dist
        if all(within(p[0], p[1], lat, lon, max_dist) for p in points):
            return "agree_query_position" if row.source == QUERY_SOURCE else \
                "agree_gnss_position"
        if row.modified is not None and row.modified.date() < today - timedelta(days=365):
            return "disagree_old_position"
        return "disagree_position"

    def values(self, status: str, key: str, row: Any, agg: Aggregate, source: int,
               now: datetime) -> dict[str, Any]:
        """The station columns of one written row (the radio's own columns
        come from its :meth:`~ichnaea_host.stations.Radio.extra_columns`)."""
        today = now.date()
        if row is None:
            values = dict.fromkeys(COPIED)
        else:
            values = {name: getattr(row, name) for name in COPIED}
        values[self.key_name] = key
        values["modified"] = now
        if status in ("new", "new_block"):
            values["created"] = now
        if status in ("new", "replace"):
            values.update(self._position(agg.lat, agg.lon, agg.max_lat, agg.min_lat,
                                         agg.max_lon, agg.min_lon, radius=agg.radius))
            values.update(samples=min(agg.samples, MAX_SAMPLES),
                          weight=min(agg.weight, MAX_WEIGHT), source=source, last_seen=today)
        elif status == "change":
            old_weight = 0.0 if row.lat is None else min(row.weight or 0.0, MAX_OLD_WEIGHT)
            lat = (agg.lat * agg.weight + (row.lat or 0.0) * old_weight) / (agg.weight +
                                                                           old_weight)
            lon = (agg.lon * agg.weight + (row.lon or 0.0) * old_weight) / (agg.weight +
                                                                           old_weight)
            bounds = union(agg, row)
            position = self._position(lat, lon, *bounds)
            if row.region and row.lat is not None:
                position["region"] = position["region"] or row.region
            values.update(position)
            values.update(samples=min((row.samples or 0) + agg.samples, MAX_SAMPLES),
                          weight=min((row.weight or 0.0) + agg.weight, MAX_WEIGHT),
                          source=source, last_seen=today)
        elif status in ("block", "new_block"):
            region = values["region"] if status == "block" else None
            values.update(lat=None, lon=None, max_lat=None, min_lat=None, max_lon=None,
                          min_lon=None, radius=None, samples=None, weight=None, source=None,
                          last_seen=None, region=region, block_last=today,
                          block_first=values["block_first"] or today,
                          block_count=min((values["block_count"] or 0) + 1, 255))
        return values

    def _position(self, lat: float, lon: float, max_lat: float, min_lat: float,
                  max_lon: float, min_lon: float, radius: int | None = None) -> dict[str, Any]:
        if radius is None:
            radius = station_radius(lat, lon, max_lat, max_lon, min_lat, min_lon)
        return {
            "lat": lat, "lon": lon, "max_lat": max_lat, "min_lat": min_lat,
            "max_lon": max_lon, "min_lon": min_lon, "radius": radius,
            "region": self.radio.region(lat, lon),
        }
