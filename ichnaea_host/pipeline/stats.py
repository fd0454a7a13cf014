"""Daily statistics: the ``stat`` counters and the ``region_stat`` table.

Every station-update run adds its observations and its new stations to two
Redis counters per station updater, ``statcounter_<name>_<YYYYMMDD>`` and
``statcounter_unique_<name>_<YYYYMMDD>`` (kept two days), as the original
did. ``update_statcounter`` moves them into the ``stat`` table, which holds
*cumulative* totals: one row per (key, day), each day starting from the
latest earlier total. ``update_statregion`` counts the stations per region
for ``region_stat``.

``stat.key`` is a small integer. The original's numbers are kept for its
three station kinds (cell 1/2, wifi 3/4, blue 8/9: observations/new
stations), so an imported database reads the same. Any other updater gets
``100 + 2 * (crc32(name) % 16000)`` for its observations and that plus one
for its new stations, unless its class sets ``STAT_KEYS``.
"""

from __future__ import annotations

import dataclasses
import zlib
from datetime import date, timedelta
from typing import Any

from peewee import SQL, fn

from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.db import upsert
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.models import RegionStat, Stat
from ichnaea_host.core.plugin_classes import StationUpdater, UpdateStats
from ichnaea_host.plugins.runtime import Runtime
from ichnaea_host.stations.updater import RadioUpdater

log = get_logger("ichnaea.stats")

COUNTER_TTL = 172800
STAT_KEEP_DAYS = 730
#: the website's cache of the region statistics, dropped when they change
REGION_STATS_CACHE_KEY = "cache:stats_regions:4"
STATCOUNTER_LOCK = "ichnaea:lock:update_statcounter"



def stat_keys(cls: type[StationUpdater]) -> tuple[int, int]:
    """The ``stat.key`` values of an updater's (observations, new stations)."""
    if cls.STAT_KEYS is not None:
        return cls.STAT_KEYS
    base = 100 + 2 * (zlib.crc32(cls.PLUGIN_NAME.encode()) % 16000)
    return base, base + 1


def counter_key(name: str, day: date) -> str:
    """The Redis key of one day's counter: ``statcounter_unique_wifi_20240310``."""
    return f"statcounter_{name}_{day:%Y%m%d}"


@dataclasses.dataclass(frozen=True)
class StatCounter:
    """One daily Redis counter and the ``stat`` key it feeds."""

    name: str
    key: int

    def redis_key(self, day: date) -> str:
        return counter_key(self.name, day)


def stat_counters(rt: Runtime) -> list[StatCounter]:
    """The counters of every station updater, in ``stat.key`` order."""
    counters: dict[int, StatCounter] = {}
    for name, cls in sorted(rt.plugins.station_updaters().items()):
        for counter_name, key in zip((name, f"unique_{name}"), stat_keys(cls), strict=True):
            if key in counters:
                log.error("stat_key_collision", key=key, counter=counter_name,
                          other=counters[key].name)
                continue
            counters[key] = StatCounter(counter_name, key)
    return [counters[key] for key in sorted(counters)]


def record_update(rt: Runtime, updater_name: str, stats: UpdateStats,
                  day: date | None = None) -> None:
    """Count one station-update run: Redis stat counters and statsd metrics."""
    day = day or today_utc()
    with rt.redis.pipeline(transaction=False) as pipe:
        for name, value in ((updater_name, stats.observations),
                            (f"unique_{updater_name}", stats.new)):
            key = counter_key(name, day)
            pipe.incrby(key, value)
            pipe.expire(key, COUNTER_TTL)
        pipe.execute()
    tags = [f"type:{updater_name}"]
    for metric, value in (("data.observation.insert", stats.observations),
                          ("data.station.new", stats.new),
                          ("data.station.confirm", stats.changed + stats.confirmed),
                          ("data.station.blocklist", stats.blocked),
                          ("data.station.moving", stats.moving)):
        if value:
            rt.metrics.incr(metric, value, tags=tags)


def update_statcounter(rt: Runtime, today: date | None = None) -> dict[str, int]:
    """Move the Redis counters of yesterday and today into ``stat``.

    Returns what was added per counter and day. A counter is decremented
    only after its row is committed, so a crash can count twice but never
    loses a count.
    """
    today = today or today_utc()
    added: dict[str, int] = {}
    if not rt.redis.set(STATCOUNTER_LOCK, b"1", nx=True, ex=300):
        return added  # another process is at it
    try:
        for counter in stat_counters(rt):
            for day in (today - timedelta(days=1), today):
                redis_key = counter.redis_key(day)
                value = int(rt.redis.get(redis_key) or 0)
                _add_to_stat(rt, counter.key, day, value)
                if value:
                    with rt.redis.pipeline() as pipe:
                        pipe.decrby(redis_key, value)
                        pipe.expire(redis_key, COUNTER_TTL)
                        pipe.execute()
                    added[f"{counter.name}:{day:%Y%m%d}"] = value
    finally:
        rt.redis.delete(STATCOUNTER_LOCK)
    if added:
        log.info("stat_counters_saved", counters=len(added), total=sum(added.values()))
    return added


def _add_to_stat(rt: Runtime, key: int, day: date, value: int) -> None:
    with rt.db.rw.atomic():
        row = Stat.get_or_none((Stat.key == key) & (Stat.time == day))
        if row is not None:
            if value:
                Stat.update(value=Stat.value + value).where(
                    (Stat.key == key) & (Stat.time == day)).execute()
            return
        previous = (Stat.select(Stat.value)
                    .where((Stat.key == key) & (Stat.time < day))
                    .order_by(Stat.time.desc()).limit(1).scalar()) or 0
        upsert(Stat, [{"key": key, "time": day, "value": previous + value}],
               conflict_target=[Stat.key, Stat.time],
               update={Stat.value: Stat.value + value})


def cleanup_stat(rt: Runtime, today: date | None = None) -> int:
    """Delete ``stat`` rows older than two years; return how many."""
    today = today or today_utc()
    deleted = Stat.delete().where(Stat.time < today - timedelta(days=STAT_KEEP_DAYS)).execute()
    if deleted:
        log.info("stat_rows_deleted", rows=deleted)
    return int(deleted)


def shard_region_counts(updater: RadioUpdater) -> dict[str, int]:
    """Stations with a region, per region, over every table of an updater
    (each counted once, however many work partitions it holds)."""
    counts: dict[str, int] = {}
    models: list[Any] = list(dict.fromkeys(updater.model(shard) for shard in updater.SHARDS))
    for model in models:
        query = (model.select(model.region, fn.COUNT(SQL("*")).alias("n"))
                 .where(model.region.is_null(False)).group_by(model.region).tuples())
        for region, number in query:
            counts[region] = counts.get(region, 0) + int(number)
    return counts


def region_counts(rt: Runtime) -> dict[str, dict[str, int]]:
    """``{kind: {region: stations}}`` over every station updater."""
    kinds: dict[str, dict[str, int]] = {}
    for name in rt.station_updater_names():
        updater = rt.updater(name)
        counted = updater.region_counts()
        if counted is None and isinstance(updater, RadioUpdater):
            counted = {name: shard_region_counts(updater)}
        for kind, per_region in (counted or {}).items():
            target = kinds.setdefault(kind, {})
            for region, number in per_region.items():
                target[region] = target.get(region, 0) + number
    return kinds


#: the longest ``region_stat.kind`` the table holds
KIND_LENGTH = RegionStat.kind.max_length


def update_statregion(rt: Runtime) -> int:
    """Rewrite ``region_stat`` from the station tables: one row per region and
    kind counted (kinds are the ``region_counts`` keys of the station
    updaters, whatever they are); return the number of regions."""
    counted = region_counts(rt)
    rows: list[dict[str, Any]] = []
    for kind, per_region in sorted(counted.items()):
        if not kind or len(kind) > KIND_LENGTH:
            log.warning("region_stat_kind_invalid", kind=kind[:64])
            continue
        rows.extend({"region": region, "kind": kind, "count": number}
                    for region, number in sorted(per_region.items())
                    if region and number > 0)
    if not rows:
        return 0
    kept: dict[str, list[str]] = {}
    for row in rows:
        kept.setdefault(row["kind"], []).append(row["region"])
    with rt.db.rw.atomic():
        upsert(RegionStat, rows, conflict_target=[RegionStat.region, RegionStat.kind],
               preserve=[RegionStat.count])
        RegionStat.delete().where(RegionStat.kind.not_in(sorted(kept))).execute()
        for kind, regions in sorted(kept.items()):
            RegionStat.delete().where((RegionStat.kind == kind)
                                      & RegionStat.region.not_in(regions)).execute()
    rt.redis.delete(REGION_STATS_CACHE_KEY)
    found = len({row["region"] for row in rows})
    log.info("region_stats_updated", regions=found, kinds=len(kept))
    return found


def region_stats(rt: Runtime) -> dict[str, dict[str, int]]:
    """``{region: {kind: stations}}`` as ``region_stat`` holds them (read-only database)."""
    query = RegionStat.select(RegionStat.region, RegionStat.kind, RegionStat.count).tuples()
    found: dict[str, dict[str, int]] = {}
    for region, kind, count in rt.db.read(query.order_by(RegionStat.region, RegionStat.kind)):
        found.setdefault(str(region), {})[str(kind)] = int(count or 0)
    return found


def stat_totals(rt: Runtime, key: int) -> list[tuple[date, int]]:
    """The cumulative totals of one ``stat`` key, oldest first."""
    query = Stat.select(Stat.time, Stat.value).where(Stat.key == key).order_by(Stat.time)
    return [(row.time, int(row.value or 0)) for row in query]

