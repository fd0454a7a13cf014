"""The two exporters every installation has: ``dummy`` and ``internal``.

They are registered by the host's built-in plugin (:mod:`ichnaea_host.pipeline.builtin`)
through the same hooks as every other exporter.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import peewee

from ichnaea_host.core.log import get_logger
from ichnaea_host.core.plugin_classes import Exporter
from ichnaea_host.core.queues import StationPartition, batch_pipeline
from ichnaea_host.pipeline import calibrate, datamap
from ichnaea_host.pipeline.reports import normalize_position

log = get_logger("ichnaea.exporters")


class DummyExporter(Exporter):
    """Drains its queue and sends nowhere (``schema = dummy``)."""

    PLUGIN_NAME = "dummy"
    OWN_DATA = True  # sends nowhere

    def send(self, items: list[dict[str, Any]]) -> None:
        return None


class InternalExporter(Exporter):
    """Feeds our own station tables (``schema = internal``): each station
    updater plugin splits the reports into per-shard observation queues.

    Counts, per API key, as the original: ``data.report.upload`` (every report
    naming a network), ``data.report.drop`` (those that gave no observation,
    e.g. without a usable position), ``data.observation.upload`` (observations
    queued, per updater: ``type:wifi`` ...) and ``data.observation.drop``
    (entries that gave none: invalid, or repeated in one report). The ``key:``
    tag is added only for keys that exist in ``api_key``.
    """

    PLUGIN_NAME = "internal"
    #: observations are re-batched per shard anyway: a small export batch
    #: (``ichnaea run`` uses 1, for low latency) must not mean one report per run
    MIN_TAKE = 1000
    RETRIABLE = (OSError,)
    OWN_DATA = True

    def send(self, items: list[dict[str, Any]]) -> None:
        ctx = self.context
        updaters = {name: ctx.station_updater(name) for name in ctx.station_updater_names()}
        fields = {name: updater.FIELD for name, updater in updaters.items()}
        queue_names: dict[tuple[str, str], str] = {}
        per_queue: dict[str, list[dict[str, Any]]] = defaultdict(list)
        positions: list[tuple[float, float]] = []  # of reports that gave observations
        positioned: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (item, report)
        counts: Counter[tuple[str | None, str, str]] = Counter()  # (key, metric, type)
        dropped = 0
        for item in items:
            report = item.get("report") or {}
            api_key = item.get("api_key")
            if all(fields.values()) and not any(report.get(f) for f in fields.values()):
                continue  # names no network: not counted, as the original
            counts[api_key, "report.upload", ""] += 1
            position = normalize_position(report)
            if position is None:
                dropped += 1
                counts[api_key, "report.drop", ""] += 1
                continue
            report = dict(report, position=position)
            positioned.append((item, report))
            produced = 0
            for name, updater in updaters.items():
                made = 0
                for shard, observations in updater.split(report).items():
                    queue_name = queue_names.get((name, shard))
                    if queue_name is None:
                        queue_name = queue_names[name, shard] = StationPartition(name, shard).key
                    per_queue[queue_name].extend(observations)
                    made += len(observations)
                entries = report.get(fields[name]) if fields[name] else None
                given = len(entries) if isinstance(entries, list) else 0
                counts[api_key, "observation.upload", name] += made
                counts[api_key, "observation.drop", name] += max(given - made, 0)
                produced += made
            if produced:
                positions.append((position["lat"], position["lon"]))
            else:
                counts[api_key, "report.drop", ""] += 1
        # measured before the observations are queued: with the stations
        # learnt from earlier reports only, never with this batch's own
        try:
            calibrate.sample(ctx, positioned)
        except Exception as exc:  # noqa: BLE001 - a measurement must never stop the export
            log.error("calibration_failed", error=type(exc).__name__)
        with batch_pipeline(ctx.redis) as pipe:
            for queue_name, observations in per_queue.items():
                ctx.queue(queue_name).enqueue(observations, pipe=pipe)
            datamap.queue_positions(ctx, positions, pipe=pipe)
            pipe.execute()
        if dropped:
            log.info("reports_dropped", reason="position", count=dropped)
        try:
            self._count(counts)
        except (peewee.DatabaseError, peewee.InterfaceError, OSError) as exc:
            # the observations are queued: a metric must not send them twice
            log.warning("export_metrics_failed", error=repr(exc))

    def _count(self, counts: Counter[tuple[str | None, str, str]]) -> None:
        """Emit the upload and drop counters that are not zero."""
        counts = +counts  # only the positive ones
        metrics = self.context.metrics
        if not counts or not getattr(metrics, "enabled", True):
            return
        known = known_keys(self.context, {key for key, _, _ in counts if key})
        for (api_key, metric, kind), value in sorted(counts.items(), key=str):
            tags = [f"type:{kind}"] if kind else []
            if api_key in known:
                tags.append(f"key:{api_key}")
            metrics.incr(f"data.{metric}", value, tags=tags)


def known_keys(ctx: Any, keys: set[str]) -> set[str]:
    """Those of the API keys that exist in the ``api_key`` table."""
    if not keys:
        return set()
    db = ctx.db.rw
    wanted = sorted(keys)
    cursor = db.execute_sql(
        f"SELECT valid_key FROM api_key WHERE valid_key IN ({', '.join([db.param] * len(wanted))})",
        wanted)
    return {row[0] for row in cursor.fetchall()}
