"""Learning stations from observations: the update of one work partition's batch.

:class:`StationShardUpdater` applies the rules of :mod:`.rules` to the
stations of a table keyed by one column; the pipeline drains the queues of
the radio's work partitions (``update_<radio>_<partition>``) in parallel, all
into that table. A radio plugin supplies its key, its limits, its table and
its signal weight by subclassing it. :class:`MacStationUpdater` is that
subclass for radios whose networks are named by a MAC address (WiFi,
Bluetooth): such a plugin sets its table, its report field and how one entry
is read.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import peewee

from ichnaea_host.core import geocode
from ichnaea_host.core.db import is_mysql, retry_on_lock
from ichnaea_host.core.interfaces import OwnerRequestRefused, StationUpdater, UpdateStats
from ichnaea_host.stations.aggregate import Aggregate, Point, station_radius, union
from ichnaea_host.stations.columns import COPIED, StationTables, utcnow
from ichnaea_host.stations.mac import MAC_RANKING, MacStations, Ranking, dedupe, normalize_mac
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

#: regions of the stations placed by this process, remembered per grid square
REGIONS = geocode.RegionGrid()

#: an observation carrying this field (and the station key only) removes the
#: station: see :meth:`MacStationUpdater.excluded`
FORGET = "forget"

#: blocks of an opted-out station: a block lasts 30 days per count from its
#: creation (:func:`~.rules.is_blocked`), so 255 keep it out for 21 years
OPTED_OUT_BLOCKS = 255

#: the position fields of a report every observation carries
POSITION_FIELDS = ("lat", "lon", "accuracy", "altitude", "altitudeAccuracy", "heading",
                   "pressure", "speed", "source", "timestamp")


class StationShardUpdater(StationTables, StationUpdater):
    """Learns stations kept in a table keyed by one column, a work partition's
    batch at a time.

    Subclasses set ``KEY`` (the key column), ``MAX_DIST`` (metres within which
    observations of one station must agree), ``MAX_ACCURACY`` (observations
    less precise than this weigh nothing), their table (``MODEL``, or
    :meth:`model` for a radio with several), :meth:`shard_of` (a key's work
    partition), and may weigh signals
    (:meth:`signal_weight`).
    """

    KEY: ClassVar[str] = "mac"
    MAX_DIST: ClassVar[float] = 5000.0
    MAX_ACCURACY: ClassVar[float] = 200.0
    #: travelling stations (see :meth:`moving_limits`): a jump farther than
    #: this many metres (0: never) within ``MOVING_HOURS`` of the last change
    MOVING_DIST: ClassVar[float] = 0.0
    MOVING_HOURS: ClassVar[float] = 24.0

    def signal_weight(self, observation: dict[str, Any]) -> float:
        return 1.0

    def region(self, lat: float, lon: float) -> str | None:
        """The region code of a station's position (from the shipped region shapes)."""
        return REGIONS.region(lat, lon)

    def weight(self, observation: dict[str, Any]) -> float:
        return (
            self.signal_weight(observation)
            * accuracy_weight(observation.get("accuracy"), self.MAX_ACCURACY)
            * age_weight(observation.get("age"))
            * speed_weight(observation.get("speed"))
        )

    # -- the update
    def moving_limits(self) -> tuple[float, float]:
        """(metres, hours) of the moving-station rule, from the plugin's settings
        ``moving_meters`` and ``moving_hours`` when it has them.

        A station with a position whose new observations agree among
        themselves but lie, as a whole, farther than ``metres`` from that
        position (still within ``MAX_DIST``, else the transitions block it
        anyway) has jumped. A jump within ``hours`` of the station's last
        change means it was seen far apart within a short time: no fixed
        network does that, so it is blocked as moving. A jump after a quiet
        spell is an ordinary move and blends in as before; a network that moved
        once just after being learnt is blocked for a while and then learnt
        afresh at its new place.
        """
        settings = self.context.plugin_settings(self.PLUGIN_NAME)
        return (float(getattr(settings, "moving_meters", self.MOVING_DIST)),
                float(getattr(settings, "moving_hours", self.MOVING_HOURS)))

    def update(self, shard: str, observations: list[dict[str, Any]]) -> UpdateStats:
        stats = UpdateStats()
        key_name, weigh = self.KEY, self.weight
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
            return stats
        model = self.model(shard)

        def transaction() -> UpdateStats:
            run = UpdateStats(dropped=stats.dropped)
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
                    self._apply(model, groups, run)
            return run

        def count_retry(errno: int) -> None:
            self.context.metrics.incr("data.station.dberror",
                                      tags=[f"errno:{errno}", f"type:{self.PLUGIN_NAME}"])

        return retry_on_lock(transaction, on_retry=count_retry)

    def _apply(self, model: type[peewee.Model], groups: dict[str, list[Point]],
               stats: UpdateStats) -> None:
        now = utcnow()
        today = now.date()
        key_field = getattr(model, self.KEY)
        rows = read_rows(model, key_field, list(groups))
        writes: list[dict[str, Any]] = []
        confirms: list[str] = []
        moving_dist, moving_hours = self.moving_limits()
        recent = now - timedelta(hours=moving_hours)
        for key, points in groups.items():
            stats.observations += len(points)
            row: Any = rows.get(key)
            if row is not None and is_blocked(row, today):
                continue
            gnss = [p for p in points if not p[3]]
            used, source = (gnss, GNSS_SOURCE) if gnss else (points, QUERY_SOURCE)
            agg = Aggregate(used, self.MAX_DIST)
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
            writes.append(self._values(status, key, row, agg, source, now))
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
        max_dist = self.MAX_DIST
        if all(within(p[0], p[1], lat, lon, max_dist) for p in points):
            return "agree_query_position" if row.source == QUERY_SOURCE else \
                "agree_gnss_position"
        if row.modified is not None and row.modified.date() < today - timedelta(days=365):
            return "disagree_old_position"
        return "disagree_position"

    def _values(self, status: str, key: str, row: Any, agg: Aggregate, source: int,
                now: datetime) -> dict[str, Any]:
        today = now.date()
        if row is None:
            values = dict.fromkeys(COPIED)
        else:
            values = {name: getattr(row, name) for name in COPIED}
        values[self.KEY] = key
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
            "region": self.region(lat, lon),
        }


class MacStationUpdater(MacStations, StationShardUpdater):
    """Learns the stations of a radio whose networks are named by a MAC address.

    Subclasses set ``PLUGIN_NAME``, ``FIELD`` (the report's list of entries),
    ``MODEL`` (:func:`~.mac.mac_station_model`), the limits of
    :class:`StationShardUpdater` and :meth:`normalize_entry`; they may set
    ``RANKING`` (how duplicate entries of one report are chosen) and
    ``UNSTORED`` (entry fields observations leave out, such as names).
    """

    RANKING: ClassVar[Ranking] = MAC_RANKING
    UNSTORED: ClassVar[frozenset[str]] = frozenset()
    #: an owner's scan proves presence when its other known networks lie
    #: within this many metres of their centre (and of the station, when it
    #: has a position): about twice a network's range
    OWNER_PROOF_METERS: ClassVar[float] = 500.0

    def owner_request(self, network: str, action: str, lookups: list[Any]) -> str:
        """An owner's opt-out (``optout``: the station's position is dropped and
        it is blocked for :data:`OPTED_OUT_BLOCKS` x 30 days, so it is never
        learnt again; ``opted_out``) or reset (``moved``: the row is deleted and
        the next reports learn it afresh; ``reset``).

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

    def excluded(self, entry: dict[str, Any]) -> bool:
        """Whether a network seen in a report must never be learned, and the
        station already learned under its address be removed (its owner opted
        out in its name, or the name is that of a moving network). Called
        with the normalised entry; the default excludes nothing."""
        return False

    def normalize_entry(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """One entry of a report in the pipeline's short names (``mac``,
        ``signal``, ``age`` ...), or None when it is unusable (a plugin may
        set a ``staticmethod`` of its function)."""
        raise NotImplementedError

    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        normalize = self.normalize_entry
        entries = [n for n in (normalize(e) for e in report.get(self.FIELD) or []
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
        position = report["position"]
        gps_age = position.get("gps_age") or 0
        base = {k: position[k] for k in POSITION_FIELDS if position.get(k) is not None}
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
