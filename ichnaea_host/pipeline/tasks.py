"""The data pipeline's steps, as plain functions of a :class:`Runtime`.

Huey tasks (:mod:`ichnaea_host.pipeline.worker`) and ``ichnaea process`` call these;
each returns True when its queue still holds work.

update_incoming -> one queue per ``export_config`` row -> exporter plugin
(``internal`` splits reports into per-shard observation queues) ->
station updater plugins.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from ichnaea_host.core.log import get_logger
from ichnaea_host.core.models import ExportConfig
from ichnaea_host.core.plugin_classes import Exporter, UpdateStats
from ichnaea_host.core.queues import QUEUE_TTL, ExportPartition, StationPartition, batch_pipeline
from ichnaea_host.pipeline.stats import record_update
from ichnaea_host.plugins.runtime import INCOMING_QUEUE, Runtime

log = get_logger("ichnaea.pipeline")

EXPORT_ATTEMPTS = 3


# ---------------------------------------------------------------------------
# update_incoming -> export queues


def export_configs(rt: Runtime) -> list[ExportConfig]:
    return list(ExportConfig.select().order_by(ExportConfig.name))


def update_incoming(rt: Runtime, key: str = INCOMING_QUEUE) -> list[ExportPartition]:
    """Fan the next batch of incoming reports out to the export queues
    (from the list ``key``; ``update_incoming``: the fullest of them).

    Returns the export queues that are ready to send. With no export at all
    the reports stay where they are, so that none is lost: they flow as soon
    as an export is added (``ichnaea db upgrade`` adds the internal one).
    """
    incoming = rt.queue(key)
    configs = export_configs(rt)
    if not configs:
        _warn_no_exports(incoming.size())
        return []
    exporters = rt.plugins.exporters()
    with incoming.claim() as items:
        if not items:
            return []
        groups: dict[tuple[str | None, str], list[dict[str, Any]]] = defaultdict(list)
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("report"), dict):
                continue
            by = (item.get("api_key"), item.get("source") or "gnss")
            groups[by].append({"api_key": by[0], "report": item["report"]})
        with batch_pipeline(rt.redis) as pipe:
            for config in configs:
                cls = exporters.get(config.schema or "")
                partitioned = bool(cls and cls.PARTITIONED)
                for (api_key, source), group in groups.items():
                    if config.allowed(api_key, source):
                        partition = ExportPartition.of(config.name, source, api_key,
                                                       partitioned=partitioned)
                        rt.queue(partition, batch=config.batch).enqueue(group, pipe=pipe)
            pipe.execute()
    return ready_exports(rt, configs)


#: the ``no_exports`` warning is logged at most this often by each process
NO_EXPORTS_WARN_EVERY = 60.0
_no_exports_warned = -NO_EXPORTS_WARN_EVERY


def _warn_no_exports(waiting: int) -> None:
    global _no_exports_warned
    now = time.monotonic()
    if now - _no_exports_warned >= NO_EXPORTS_WARN_EVERY:
        _no_exports_warned = now
        log.warning("no_exports", queue_size=waiting,
                    fix="ichnaea export add internal --schema internal")


def ready_exports(rt: Runtime,
                  configs: list[ExportConfig] | None = None) -> list[ExportPartition]:
    """The export queues holding a full batch, or waiting for an hour."""
    ready = []
    for config in export_configs(rt) if configs is None else configs:
        for partition in export_partitions(rt, config):
            if rt.queue(partition, batch=config.batch).ready():
                ready.append(partition)
    return ready


def export_partitions(rt: Runtime, config: ExportConfig) -> list[ExportPartition]:
    """The queues of an export: its only one, or those of its partitions that exist."""
    cls = rt.plugins.exporters().get(config.schema or "")
    if cls is not None and cls.PARTITIONED:
        pattern = ExportPartition(config.name).key + ":*"
        found = (ExportPartition.parse(k.decode(), config.name)
                 for k in rt.redis.scan_iter(match=pattern, count=100)
                 if b"{" not in k)  # claim helper keys
        return sorted((p for p in found if p is not None), key=lambda p: p.key)
    return [ExportPartition(config.name)]


def failed_queue_name(queue_key: str) -> str:
    """The dead-letter list of an export queue; it shares the queue's hash slot."""
    return f"{{{queue_key}}}:failed"


def park(rt: Runtime, partition: ExportPartition, items: list[dict[str, Any]]) -> None:
    """Keep an undeliverable batch in the queue's dead-letter list, without expiry."""
    failed = rt.queue(failed_queue_name(partition.key))
    with rt.redis.pipeline() as pipe:
        failed.enqueue(items, pipe=pipe)
        pipe.persist(failed.key)
        pipe.execute()


def forwarded(rt: Runtime, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Queued reports as they may leave the service: each fragment keeps the
    entries of its list it may forward (:meth:`ReportFragment.forwarded`)."""
    fragments = [(fragment.FIELD, fragment) for fragment in rt.fragments()]
    out = []
    for item in items:
        report = item.get("report")
        if isinstance(report, dict):
            changed = None
            for field, fragment in fragments:
                entries = report.get(field)
                if isinstance(entries, list) and entries:
                    kept = fragment.forwarded(entries)
                    if len(kept) != len(entries):
                        changed = changed or dict(report)
                        changed[field] = kept
            if changed is not None:
                item = {**item, "report": changed}
        out.append(item)
    return out


def export_reports(rt: Runtime, partition: ExportPartition, *, force: bool = False) -> bool:
    """Send one batch of an export queue; True when the queue is still ready.

    A batch that fails ``EXPORT_ATTEMPTS`` times is parked in the queue's
    dead-letter list (``{queue}:failed``), never dropped.
    """
    name = partition.export
    config = ExportConfig.get_or_none(ExportConfig.name == name)
    if config is None:
        return False
    cls = rt.plugins.exporters().get(config.schema or "")
    if cls is None:
        log.warning("export_schema_unknown", export=name, schema=config.schema)
        return False
    queue = rt.queue(partition, batch=config.batch)
    if not force and not queue.ready():
        return False
    exporter: Exporter = cls(rt, rt.plugins.settings_of(cls), config, partition)
    tags = [f"key:{name}"]
    # ``batch`` is when a queue is ready; an exporter whose output does not
    # depend on batch sizes (internal) takes MIN_TAKE items a run, or the
    # batch when it is larger: with a batch of 0 (ready whenever not empty)
    # a backlog is worked off in runs of that size, not at once (taking a
    # backlog of 20,000 reports at once, the internal exporter built 200,000
    # observations: workers spent a fifth of their time on page faults)
    take = config.batch or 0
    if cls.MIN_TAKE:
        take = max(take, cls.MIN_TAKE)
    with queue.claim(take) as items:
        if not items:
            return False
        sent = items if cls.OWN_DATA else forwarded(rt, items)
        for attempt in range(1, EXPORT_ATTEMPTS + 1):
            started = time.monotonic()
            try:
                exporter.send(sent)
            except cls.RETRIABLE as exc:
                log.warning("export_failed", export=name, attempt=attempt, error=repr(exc))
                if attempt == EXPORT_ATTEMPTS:
                    park(rt, partition, items)
                    log.error("export_parked", export=name, items=len(items),
                              queue=failed_queue_name(partition.key))
                else:
                    time.sleep(0 if force else attempt**2)
            else:
                rt.metrics.timing("data.export.upload.timing",
                                  (time.monotonic() - started) * 1000, tags=tags)
                rt.metrics.incr("data.export.batch", tags=tags)
                log.info("export_sent", export=name, items=len(items))
                break
    return queue.ready()


# ---------------------------------------------------------------------------
# parked export batches (ichnaea export failed / replay)

_REPLAY = """
local items = redis.call('LRANGE', KEYS[2], 0, -1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(items, i, math.min(i + 999, #items)))
end
if #items > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
redis.call('DEL', KEYS[2])
return #items
"""


def parked(rt: Runtime, name: str | None = None) -> list[tuple[ExportPartition, int]]:
    """(export queue, parked reports) of every export queue holding parked
    batches, for one export or all."""
    configs = [c for c in export_configs(rt) if name is None or c.name == name]
    found = []
    for raw in rt.redis.scan_iter(match="{queue_export_*}:failed", count=1000):
        queue_key = raw.decode()[1:-len("}:failed")]
        for config in configs:
            partition = ExportPartition.parse(queue_key, config.name)
            if partition is not None:
                found.append((partition, int(rt.redis.llen(raw))))
    return sorted(found, key=lambda f: (f[0].export, f[0].key))


def replay(rt: Runtime, name: str) -> dict[str, int]:
    """Move the parked batches of an export back to its queues; return the
    reports moved per queue key."""
    moved = {}
    for partition, _ in parked(rt, name):
        queue_key = partition.key
        count = int(rt.redis.eval(_REPLAY, 2, queue_key, failed_queue_name(queue_key),
                                  QUEUE_TTL))
        if count:
            moved[queue_key] = count
            log.info("export_replayed", export=name, items=count, queue=queue_key)
    return moved


# ---------------------------------------------------------------------------
# station updates


def station_queues(rt: Runtime) -> list[StationPartition]:
    """The observation queue of every shard of every station updater."""
    return [StationPartition(name, shard) for name, cls in rt.plugins.station_updaters().items()
            for shard in cls.SHARDS]


def update_stations(rt: Runtime, updater_name: str, shard: str) -> bool:
    """Apply one batch of observations to one shard; True when more are waiting."""
    updater = rt.updater(updater_name)
    queue = rt.queue(StationPartition(updater_name, shard))
    with queue.claim() as observations:
        if not observations:
            return False
        stats: UpdateStats = updater.update(shard, observations)
    record_update(rt, updater_name, stats)
    log.info("stations_updated", updater=updater_name, shard=shard,
             observations=stats.observations, new=stats.new, changed=stats.changed,
             confirmed=stats.confirmed, blocked=stats.blocked, moving=stats.moving,
             removed=stats.removed)
    return queue.ready()


# ---------------------------------------------------------------------------
# draining everything (ichnaea process, tests)


def drain(rt: Runtime, *, max_rounds: int = 1000) -> dict[str, int]:
    """Run every step until every queue is empty; return how many runs of each."""
    runs: dict[str, int] = defaultdict(int)
    for _ in range(max_rounds):
        progress = False
        while rt.queue(INCOMING_QUEUE).size() and export_configs(rt):  # none: reports wait
            update_incoming(rt)
            runs["update_incoming"] += 1
            progress = True
        for config in export_configs(rt):
            if config.schema not in rt.plugins.exporters():
                continue
            for partition in export_partitions(rt, config):
                while rt.queue(partition).size():
                    export_reports(rt, partition, force=True)
                    runs["export_reports"] += 1
                    progress = True
        for station_queue in station_queues(rt):
            while rt.queue(station_queue).size():
                update_stations(rt, station_queue.updater, station_queue.shard)
                runs[f"update_{station_queue.updater}"] += 1
                progress = True
        for job in rt.plugins.periodic_jobs.values():
            if job.drain and rt.run_job(job):
                runs[job.name] += 1
                progress = True
        if not progress:
            break
    return dict(runs)
