"""Huey: the host's tasks, the consumer and the sub-minute scheduler.

Tasks carry no data; they are triggers that process the Redis data queues
(:mod:`ichnaea_host.pipeline.tasks`). The host owns every task, with stable names;
tasks find plugin classes by name, so a plugin never decorates a Huey task.

Huey's own periodic tasks have minute resolution, so the scheduler here is a
small thread (run by exactly one worker, ``ichnaea worker --scheduler``) that
looks at the queues every second and triggers a task when its queue has a
full batch or its interval has passed. A per-trigger Redis lock keeps the
same trigger from piling up while a run is under way.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from huey import Huey
from huey.consumer import Consumer
from huey.storage import RedisStorage

from ichnaea_host.core.log import get_logger
from ichnaea_host.core.queues import ExportPartition, StationPartition
from ichnaea_host.pipeline import tasks as pipeline
from ichnaea_host.plugins.runtime import INCOMING_QUEUE, Runtime

log = get_logger("ichnaea.worker")

HUEY_NAME = "ichnaea"
#: Huey's name on a Redis Cluster: its keys (``huey.redis.{ichnaea}``,
#: ``huey.schedule.{ichnaea}``, ...) then share one hash tag
CLUSTER_HUEY_NAME = "{ichnaea}"
TRIGGER_LOCK_SECONDS = 300
CLAIM_RECOVERY_SECONDS = 600
INCOMING_INTERVAL = 2.0
#: how often the scheduler looks for export queues that became ready by age
EXPORT_CHECK_INTERVAL = 30.0


#: the scheduler's mark of life: the time of its last tick, kept this long
SCHEDULER_KEY = "ichnaea:scheduler:alive"
SCHEDULER_MARK_SECONDS = 30


def scheduler_last_seen(rt: Runtime) -> float | None:
    """When the deployment's scheduler last ticked (a Unix time), or None when
    no scheduler ticked in the last ``SCHEDULER_MARK_SECONDS``."""
    value = rt.redis.get(SCHEDULER_KEY)
    return float(value) if value else None


def _lock_key(name: str) -> str:
    return f"ichnaea:trigger:{name}"


def incoming_trigger(key: str) -> str:
    """The trigger of one list of incoming reports (``incoming`` for the only one)."""
    return "incoming" if key == INCOMING_QUEUE else f"incoming:{key}"


class ClientStorage(RedisStorage):  # type: ignore[misc]
    """Huey's Redis storage on a client of the service (one Redis or a
    cluster client), under a name kept as given (braces included)."""

    def __init__(self, name: str, client: Any, **kwargs: Any) -> None:
        self._client = client
        super().__init__(name, connection_pool=client, clean_name=False, **kwargs)

    def redis_client(self, connection_pool: Any) -> Any:
        # huey builds ``self.conn`` with ``self.redis_client(connection_pool=...)``
        return self._client


def huey_name(rt: Runtime) -> str:
    return CLUSTER_HUEY_NAME if rt.redis_cluster else HUEY_NAME


def task_queue_key(rt: Runtime) -> str:
    """The Redis list of Huey's queued tasks."""
    return f"huey.redis.{huey_name(rt)}"


class Worker:
    """The Huey instance of a process and its tasks, bound to a runtime."""

    def __init__(self, rt: Runtime, *, name: str | None = None) -> None:
        self.rt = rt
        self.huey = Huey(name or huey_name(rt), results=False, utc=True,
                         storage_class=ClientStorage, client=rt.redis)
        huey = self.huey

        @huey.task(name="ichnaea.update_incoming", expires=60)
        def update_incoming(key: str = INCOMING_QUEUE) -> None:
            # ``key``: one list of the incoming reports; tasks queued by an
            # older version carry none
            if key not in rt.incoming_keys():
                key = INCOMING_QUEUE
            trigger = incoming_trigger(key)
            try:
                with self.timed("update_incoming"):
                    ready = pipeline.update_incoming(rt, key)
                for partition in ready:
                    self.trigger(partition.trigger, lambda p=partition:
                                 export_reports(p.export, p.key))
            finally:
                self.release(trigger)
            if rt.queue(key).size():
                self.trigger(trigger, lambda: update_incoming(key))

        @huey.task(name="ichnaea.export_reports", expires=300)
        def export_reports(name: str, queue_key: str) -> None:
            # the task's arguments stay two strings: tasks queued by an older
            # version still run
            partition = ExportPartition.parse(queue_key, name)
            if partition is None:
                log.warning("export_queue_unknown", export=name, queue=queue_key)
                self.release(f"export:{queue_key}")
                return
            try:
                with self.timed("export_reports"):
                    more = pipeline.export_reports(rt, partition)
            finally:
                self.release(partition.trigger)
            if more:
                self.trigger(partition.trigger, lambda: export_reports(name, queue_key))

        @huey.task(name="ichnaea.update_stations", expires=120)
        def update_stations(updater: str, shard: str) -> None:
            trigger = StationPartition(updater, shard).trigger
            try:
                with self.timed("update_stations"):
                    more = pipeline.update_stations(rt, updater, shard)
            finally:
                self.release(trigger)
            if more:
                self.trigger(trigger, lambda: update_stations(updater, shard))

        @huey.task(name="ichnaea.periodic", expires=120)
        def periodic(job_name: str) -> None:
            job = rt.plugins.periodic_jobs.get(job_name)
            try:
                with self.timed(job_name):
                    more = job.run(rt) if job is not None else False
            finally:
                self.release(f"periodic:{job_name}")
            if more:
                self.trigger(f"periodic:{job_name}", lambda: periodic(job_name))

        @huey.task(name="ichnaea.recover_claims", expires=120)
        def recover_claims() -> None:
            try:
                moved = self.recover_claims()
                if moved:
                    log.warning("claims_recovered", items=moved)
            finally:
                self.release("recover")

        self.update_incoming = update_incoming
        self.export_reports = export_reports
        self.update_stations = update_stations
        self.periodic = periodic
        self.recover = recover_claims

    @contextlib.contextmanager
    def timed(self, task: str) -> Iterator[None]:
        """Time a task run into the ``task`` timer, as the original did."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.rt.metrics.timing("task", (time.monotonic() - started) * 1000,
                                   tags=[f"task:{task}"])

    # -- triggers
    def trigger(self, name: str, enqueue: Callable[[], Any]) -> bool:
        """Enqueue a task unless the same trigger is already queued or running."""
        if not self.rt.redis.set(_lock_key(name), b"1", nx=True, ex=TRIGGER_LOCK_SECONDS):
            return False
        try:
            enqueue()
        except Exception:
            self.release(name)
            raise
        return True

    def release(self, name: str) -> None:
        try:
            self.rt.redis.delete(_lock_key(name))
        except Exception as exc:  # noqa: BLE001 - the lock expires by itself
            log.warning("trigger_release_failed", trigger=name, error=repr(exc))

    def recover_claims(self, older_than: float = CLAIM_RECOVERY_SECONDS) -> int:
        """Put the batches of claims older than ``older_than`` seconds (their
        worker died) back into their queues, and free those queues' triggers."""
        triggers = {key: incoming_trigger(key) for key in self.rt.incoming_keys()}
        for station_queue in pipeline.station_queues(self.rt):
            triggers[station_queue.key] = station_queue.trigger
        # export queues by their claims: a fully claimed partition has no list left
        exports = [config.name for config in pipeline.export_configs(self.rt)]
        for raw in self.rt.redis.scan_iter(match="{queue_export_*}:claims", count=1000):
            key = raw.decode()[1:-len("}:claims")]
            for export in exports:
                partition = ExportPartition.parse(key, export)
                if partition is not None:
                    triggers[key] = partition.trigger
        moved = 0
        for name, trigger in triggers.items():
            count = self.rt.queue(name).recover(older_than)
            if count:
                log.warning("claim_recovered", queue=name, items=count)
                self.release(trigger)
                moved += count
        return moved

    # -- consumers
    def consumer(self, threads: int) -> Consumer:
        return self.huey.create_consumer(workers=threads, worker_type="thread", periodic=False,
                                         check_worker_health=True)


class EmbeddedConsumer(Consumer):
    """A consumer that leaves signal handling to its host process."""

    def _set_signal_handlers(self) -> None:
        return None


class Scheduler(threading.Thread):
    """Triggers the pipeline's tasks; exactly one per deployment."""

    def __init__(self, worker: Worker, *, tick: float = 1.0) -> None:
        super().__init__(name="ichnaea-scheduler", daemon=True)
        self.worker = worker
        self.tick = tick
        self.stopping = threading.Event()
        self.last_run: dict[str, float] = {}

    def _due(self, name: str, interval: float, now: float) -> bool:
        # a job never run in this scheduler is due at once, however recently the
        # machine booted (the monotonic clock starts near zero at boot)
        last = self.last_run.get(name)
        return last is None or now - last >= interval

    def run_once(self, now: float | None = None) -> list[str]:
        """Look at every queue once; return the triggers fired."""
        now = time.monotonic() if now is None else now
        rt, w = self.worker.rt, self.worker
        rt.redis.set(SCHEDULER_KEY, f"{time.time():.3f}", ex=SCHEDULER_MARK_SECONDS)
        fired = []
        jobs: list[tuple[str, float, int, int, Callable[[], Any]]] = []
        updaters = rt.plugins.station_updaters()
        incoming = rt.incoming_keys()
        names = list(incoming)
        station_queues = pipeline.station_queues(rt)
        names += [station_queue.key for station_queue in station_queues]
        with rt.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.llen(name)
            sizes = dict(zip(names, pipe.execute(), strict=True))
        for key in incoming:
            if sizes[key]:
                jobs.append((incoming_trigger(key), 0.0, sizes[key], 1,
                             lambda k=key: w.update_incoming(k)))
        for station_queue in station_queues:
            size = sizes[station_queue.key]
            if size:
                cls = updaters[station_queue.updater]
                jobs.append((station_queue.trigger, getattr(cls, "INTERVAL", 5.0), size, cls.BATCH,
                             lambda q=station_queue: w.update_stations(q.updater, q.shard)))
        for job in rt.plugins.periodic_jobs.values():
            jobs.append((f"periodic:{job.name}", job.interval, 1, 10**9,
                         lambda n=job.name: w.periodic(n)))
        jobs.append(("recover", 60.0, 1, 10**9, w.recover))
        if self._due("exports", EXPORT_CHECK_INTERVAL, now):
            self.last_run["exports"] = now
            for partition in pipeline.ready_exports(rt):
                jobs.append((partition.trigger, 0.0, 1, 1,
                             lambda p=partition: w.export_reports(p.export, p.key)))
        for name, interval, size, batch, enqueue in jobs:
            if size >= batch or self._due(name, interval, now):
                if w.trigger(name, enqueue):
                    fired.append(name)
                self.last_run[name] = now
        return fired

    def run(self) -> None:
        log.info("scheduler_started")
        while not self.stopping.is_set():
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - Redis or DB down: try again
                log.warning("scheduler_tick_failed", error=repr(exc))
            self.stopping.wait(self.tick)

    def stop(self) -> None:
        self.stopping.set()
