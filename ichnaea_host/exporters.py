"""The two exporters every installation has: ``dummy`` and ``internal``.

They are registered by the host's built-in plugin (:mod:`ichnaea_host.builtin`)
through the same hooks as every other exporter.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from . import datamap
from .interfaces import Exporter
from .log import get_logger
from .queues import station_queue_name
from .reports import normalize_position

log = get_logger("ichnaea.exporters")


class DummyExporter(Exporter):
    """Drains its queue and sends nowhere (``schema = dummy``)."""

    PLUGIN_NAME = "dummy"

    def send(self, items: list[dict[str, Any]]) -> None:
        return None


class InternalExporter(Exporter):
    """Feeds our own station tables (``schema = internal``): each station
    updater plugin splits the reports into per-shard observation queues."""

    PLUGIN_NAME = "internal"
    #: observations are re-batched per shard anyway: a small export batch
    #: (``ichnaea run`` uses 1, for low latency) must not mean one report per run
    MIN_TAKE = 1000
    RETRIABLE = (OSError,)

    def send(self, items: list[dict[str, Any]]) -> None:
        ctx = self.context
        updaters = {name: ctx.station_updater(name) for name in ctx.station_updater_names()}
        per_queue: dict[str, list[dict[str, Any]]] = defaultdict(list)
        positions: list[tuple[float, float]] = []  # of reports that gave observations
        dropped = 0
        for item in items:
            report = item.get("report") or {}
            position = normalize_position(report)
            if position is None:
                dropped += 1
                continue
            report = dict(report, position=position)
            produced = False
            for name, updater in updaters.items():
                for shard, observations in updater.split(report).items():
                    per_queue[station_queue_name(name, shard)].extend(observations)
                    produced = produced or bool(observations)
            if produced:
                positions.append((position["lat"], position["lon"]))
        with ctx.redis.pipeline() as pipe:
            for queue_name, observations in per_queue.items():
                ctx.queue(queue_name).enqueue(observations, pipe=pipe)
            datamap.queue_positions(ctx, positions, pipe=pipe)
            pipe.execute()
        if dropped:
            log.info("reports_dropped", reason="position", count=dropped)
