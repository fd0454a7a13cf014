"""The per-process runtime: settings, plugins, database, Redis and queues.

One :class:`Runtime` is built per process (web, worker, CLI) and handed to
plugin objects as their :class:`~ichnaea_host.core.plugin_classes.HostContext`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis

from ichnaea_host.core.db import Database
from ichnaea_host.core.metrics import Metrics
from ichnaea_host.core.plugin_classes import PluginClass, ReportFragment
from ichnaea_host.core.queues import (
    CLUSTER_SCHEMES,
    INCOMING_QUEUE,
    DataQueue,
    EmbeddedRedis,
    ExportPartition,
    PartitionedQueue,
    StationPartition,
    close_redis,
    connect_redis,
)
from ichnaea_host.core.sections import PeriodicJob
from ichnaea_host.core.settings import Settings
from ichnaea_host.plugins.manager import PluginHost, build_plugin_host

INCOMING_BATCH = 5000
#: the lists ``update_incoming`` is spread over on a Redis Cluster (unless configured)
CLUSTER_INCOMING_PARTITIONS = 8


class Runtime:
    """Everything a process of the service holds between requests and tasks."""

    def __init__(self, settings: Settings | None = None, plugins: PluginHost | None = None,
                 *, redis_client: redis.Redis | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.plugins = plugins or build_plugin_host(self.settings)
        self.db = Database(self.settings.readwrite_uri, self.settings.readonly_uri, create=True)
        self._redis = redis_client
        self._embedded: EmbeddedRedis | None = None
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], Any] = {}
        self._closers: list[Callable[[], None]] = []
        self.metrics = Metrics(self.settings.statsd_host, self.settings.statsd_port)

    # -- HostContext
    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            with self._lock:
                if self._redis is None:
                    url = self.redis_url()
                    self._redis = connect_redis(
                        url, self._embedded.client_name if self._embedded else None)
        return self._redis

    def redis_url(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        if self._embedded is None:
            self._embedded = EmbeddedRedis(self.settings.var_path)
        return self._embedded.url()

    @property
    def redis_cluster(self) -> bool:
        """Whether Redis is a cluster (known from the settings, without connecting)."""
        return self.settings.redis_url.startswith(CLUSTER_SCHEMES)

    def incoming_keys(self) -> list[str]:
        """The Redis lists of the incoming reports: ``update_incoming`` alone,
        or ``update_incoming_0`` .. ``_<n-1>`` when spread over ``n`` lists."""
        count = self.settings.incoming_partitions or (
            CLUSTER_INCOMING_PARTITIONS if self.redis_cluster else 1)
        if count == 1:
            return [INCOMING_QUEUE]
        return [f"{INCOMING_QUEUE}_{n}" for n in range(count)]

    def queue(self, name: str | StationPartition | ExportPartition,
              batch: int | None = None) -> DataQueue:
        """The queue of this name or partition (a :class:`DataQueue`, or for
        ``update_incoming`` spread over several lists a :class:`PartitionedQueue`).
        A station shard's queue is ready at its updater's ``BATCH``; other
        queues at ``batch`` (0: as soon as they hold anything)."""
        if isinstance(name, StationPartition):
            if batch is None:
                batch = self.plugins.station_updaters()[name.updater].BATCH
            return DataQueue(self.redis, name.key, batch=batch)
        if isinstance(name, ExportPartition):
            return DataQueue(self.redis, name.key, batch=batch or 0)
        if isinstance(name, str) and name.startswith(INCOMING_QUEUE):
            keys = self.incoming_keys()
            if name == INCOMING_QUEUE and len(keys) > 1:
                return PartitionedQueue(name, [
                    DataQueue(self.redis, key, batch=INCOMING_BATCH, compress=True)
                    for key in keys])
            if name in keys:
                return DataQueue(self.redis, name, batch=INCOMING_BATCH, compress=True)
        return DataQueue(self.redis, name, batch=batch or 0)

    def enqueue(self, queue_name: str, items: Sequence[Any]) -> None:
        self.queue(queue_name).enqueue(items)

    # -- plugin objects, built once per process with their plugin's settings
    def build(self, cls: type) -> Any:
        """A new object of a registered class: ``cls(context, settings)``."""
        return cls(self, self.plugins.settings_of(cls))

    def source(self, cls: type[Any]) -> Any:
        """The object of this class (a source, or another class of the host
        built with the runtime alone), built once per process."""
        key = ("source", f"{cls.__module__}.{cls.__qualname__}")
        obj = self._objects.get(key)
        if obj is None:
            obj = self._objects[key] = (self.build(cls) if issubclass(cls, PluginClass)
                                        else cls(self))
        return obj

    def fragments(self) -> list[ReportFragment]:
        """The report fragments of the radios, in name order."""
        key = ("fragments", "")
        if key not in self._objects:
            self._objects[key] = [self.build(cls) for cls in self.plugins.report_fragments()]
        fragments: list[ReportFragment] = self._objects[key]
        return fragments

    def station_updater_names(self) -> list[str]:
        return list(self.plugins.station_updaters())

    def station_updater(self, name: str) -> Any:
        return self.updater(name)

    def fallback_schema(self, name: str) -> Any:
        """An instance of the fallback schema class registered as ``name``, or None."""
        cls = self.plugins.fallback_schemas().get(name)
        if cls is None:
            return None
        key = ("fallback_schema", name)
        if key not in self._objects:
            self._objects[key] = self.build(cls)
        return self._objects[key]

    def updater(self, name: str) -> Any:
        key = ("updater", name)
        obj = self._objects.get(key)
        if obj is None:
            obj = self._objects[key] = self.build(self.plugins.station_updaters()[name])
        return obj

    def run_job(self, job: PeriodicJob) -> bool:
        """Run a periodic job once with its plugin's settings; True when more
        work is waiting."""
        return bool(job.run(self, self.plugins.job_settings(job)))

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` first when the runtime closes, while Redis and the
        database still answer (to send what a process still holds)."""
        self._closers.append(callback)

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for callback in closers:
            callback()
        self.metrics.close()
        self.db.close()
        if self._redis is not None:
            close_redis(self._redis)
            self._redis = None
        if self._embedded is not None:
            self._embedded.shutdown()
            self._embedded = None
