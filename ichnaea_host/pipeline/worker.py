"""Huey: the host's tasks, the consumer and the sub-minute scheduler.

Tasks carry no data; they are triggers that process the Redis data queues
(:mod:`ichnaea_host.pipeline.tasks`). The host owns every task, with stable names;
tasks find plugin classes by name, so a plugin never decorates a Huey task.

Huey's own periodic tasks have minute resolution, so the scheduler here is a
small thread (run by exactly one worker, ``ichnaea worker --scheduler``) that
looks at the queues every second and triggers a task when its queue has a
full batch or its interval has passed. A per-trigger Redis lock keeps the
same trigger from piling up while a run is under way.

Every task and every scheduler tick runs in a database session (its
connection goes back to the pool, which drops a broken one) and treats an
outage of MariaDB or Redis as no error of its own: the work stays queued and
is triggered again, the outage is logged once when it starts and once when it
ends (:class:`Outages`) and counted (``task.backend_error``). Each consumer
keeps its process's mark of life in Redis (:class:`~ichnaea_host.core.queues.Liveness`);
the scheduler gives back, within seconds, the claims of a process whose mark
is gone.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from huey import Huey
from huey.consumer import Consumer
from huey.storage import RedisStorage

from ichnaea_host.core.db import is_connection_error
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.queues import (
    CLAIM_RECOVERY_SECONDS,
    REDIS_OUTAGE_ERRORS,
    ExportPartition,
    Liveness,
    StationPartition,
    mget,
)
from ichnaea_host.pipeline import tasks as pipeline
from ichnaea_host.plugins.runtime import INCOMING_QUEUE, Runtime

log = get_logger("ichnaea.worker")

HUEY_NAME = "ichnaea"
#: Huey's name on a Redis Cluster: its keys (``huey.redis.{ichnaea}``,
#: ``huey.schedule.{ichnaea}``, ...) then share one hash tag
CLUSTER_HUEY_NAME = "{ichnaea}"
TRIGGER_LOCK_SECONDS = 300
#: how often the scheduler gives back the claims of dead workers
RECOVER_INTERVAL = 2.0
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


def live_workers(rt: Runtime) -> list[str]:
    """The worker processes alive in the last ``Liveness.SECONDS`` (``ichnaea
    worker``, ``ichnaea run``), by their owner name ``<host>-<pid>-<tag>``."""
    keys = [raw.decode() for raw in rt.redis.scan_iter(match=Liveness.PREFIX + "*", count=1000)]
    names = []
    for key, value in zip(keys, mget(rt.redis, keys) if keys else [], strict=True):
        with contextlib.suppress(ValueError, TypeError):
            if value is not None and json.loads(value).get("role") == "worker":
                names.append(key[len(Liveness.PREFIX):])
    return sorted(names)


def backend_of(exc: BaseException) -> str | None:
    """``database`` or ``redis`` when ``exc`` says that backend is unreachable."""
    if isinstance(exc, REDIS_OUTAGE_ERRORS):
        return "redis"
    if is_connection_error(exc):
        return "database"
    return None


class Outages:
    """The backends this process found unreachable. An outage is logged when
    it starts (``database_unreachable``, ``redis_unreachable``) and when it
    ends (``database_reachable``, ``redis_reachable``, with how long it lasted
    and how many runs failed), never once per failed task; each failed run
    is counted (``task.backend_error``, tagged by backend and task)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = threading.Lock()
        self._since: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    def failed(self, exc: BaseException, during: str) -> bool:
        """Note a run that failed; False when ``exc`` is no backend outage."""
        backend = backend_of(exc)
        if backend is None:
            return False
        with contextlib.suppress(Exception):
            self.rt.metrics.incr("task.backend_error", tags=[f"backend:{backend}",
                                                             f"task:{during}"])
        with self._lock:
            first = backend not in self._since
            self._since.setdefault(backend, time.monotonic())
            self._failures[backend] = self._failures.get(backend, 0) + 1
        if first:
            log.warning(f"{backend}_unreachable", during=during,
                        error=f"{type(exc).__name__}: {str(exc)[:200]}",
                        action="work stays queued and is tried again")
        return True

    def down(self) -> list[str]:
        return list(self._since)

    def check(self) -> None:
        """After a run that did not fail: ask each backend found down whether
        it answers again (one ping); say so once when it does."""
        for backend in self.down():
            try:
                if backend == "redis":
                    self.rt.redis.ping()
                else:
                    with self.rt.db.session():
                        self.rt.db.rw.execute_sql("SELECT 1").fetchone()
            except Exception:  # noqa: BLE001 - still down
                continue
            with self._lock:
                since = self._since.pop(backend, None)
                failures = self._failures.pop(backend, 0)
            if since is not None:
                log.info(f"{backend}_reachable", down_seconds=round(time.monotonic() - since, 1),
                         failed_runs=failures)


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
        self.outages = Outages(rt)
        self.huey = Huey(name or huey_name(rt), results=False, utc=True,
                         storage_class=ClientStorage, client=rt.redis)
        huey = self.huey

        @huey.task(name="ichnaea.update_incoming", expires=60)
        def update_incoming(key: str = INCOMING_QUEUE) -> None:
            # ``key``: one list of the incoming reports; tasks queued by an
            # older version carry none
            if key not in rt.incoming_keys():
                key = INCOMING_QUEUE

            def run() -> bool:
                for partition in pipeline.update_incoming(rt, key):
                    self.trigger(partition.trigger,
                                 partial(export_reports, partition.export, partition.key))
                # with no export the reports wait for one (not run again at
                # once: the scheduler looks each tick)
                return bool(rt.queue(key).size()) and bool(pipeline.export_configs(rt))

            self.attempt("update_incoming", incoming_trigger(key), run,
                         again=lambda: update_incoming(key))

        @huey.task(name="ichnaea.export_reports", expires=300)
        def export_reports(name: str, queue_key: str) -> None:
            # the task's arguments stay two strings: tasks queued by an older
            # version still run
            partition = ExportPartition.parse(queue_key, name)
            if partition is None:
                log.warning("export_queue_unknown", export=name, queue=queue_key)
                self.release(f"export:{queue_key}")
                return
            self.attempt("export_reports", partition.trigger,
                         lambda: pipeline.export_reports(rt, partition),
                         again=lambda: export_reports(name, queue_key))

        @huey.task(name="ichnaea.update_stations", expires=120)
        def update_stations(updater: str, shard: str) -> None:
            self.attempt("update_stations", StationPartition(updater, shard).trigger,
                         lambda: pipeline.update_stations(rt, updater, shard),
                         again=lambda: update_stations(updater, shard))

        @huey.task(name="ichnaea.periodic", expires=120)
        def periodic(job_name: str) -> None:
            job = rt.plugins.periodic_jobs.get(job_name)
            self.attempt(job_name, f"periodic:{job_name}",
                         lambda: rt.run_job(job) if job is not None else False,
                         again=lambda: periodic(job_name))

        @huey.task(name="ichnaea.recover_claims", expires=120)
        def recover_claims() -> None:
            # the scheduler recovers claims itself; tasks queued by an older
            # version still run
            def run() -> bool:
                self.recover_claims()
                return False

            self.attempt("recover_claims", "recover", run, again=lambda: None)

        self.update_incoming = update_incoming
        self.export_reports = export_reports
        self.update_stations = update_stations
        self.periodic = periodic
        self.recover = recover_claims

    def attempt(self, task: str, trigger: str, run: Callable[[], bool],
                again: Callable[[], Any]) -> None:
        """Run a task's body, timed and in a database session, and free its
        trigger; trigger it ``again`` when ``run`` says more work waits.

        An outage of MariaDB or Redis is not the task's error: it is counted
        and logged once (:class:`Outages`), and the work stays queued (a claim
        gives its batch back) for the scheduler to trigger again."""
        try:
            try:
                with self.timed(task), self.rt.db.session():
                    more = run()
            finally:
                self.release(trigger)
            if more:
                self.trigger(trigger, again)
        except Exception as exc:
            if not self.outages.failed(exc, task):
                raise
        else:
            self.outages.check()

    @contextlib.contextmanager
    def timed(self, task: str) -> Iterator[None]:
        """Time a task run into the ``task`` timer, as the original did."""
        started = time.monotonic()
        try:
            yield
        except BaseException:
            self.rt.metrics.incr("task.failure", tags=[f"task:{task}"])  # Prometheus only
            raise
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
        """Free a trigger; while Redis is unreachable, this process's mark
        of life frees it once Redis is back (else it would stay taken for
        ``TRIGGER_LOCK_SECONDS``)."""
        key = _lock_key(name)
        try:
            self.rt.redis.delete(key)
        except REDIS_OUTAGE_ERRORS:
            mark = Liveness.of(self.rt.redis)
            if mark is not None:
                mark.later(lambda: self.rt.redis.delete(key))
        except Exception as exc:  # noqa: BLE001 - the lock expires by itself
            log.warning("trigger_release_failed", trigger=name, error=repr(exc))

    def recover_claims(self, older_than: float = CLAIM_RECOVERY_SECONDS) -> int:
        """Put back into their queues the batches of claims whose owner's
        mark of life is gone (the worker died), and of claims without an
        owner older than ``older_than`` seconds; free those queues' triggers."""
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
    """A consumer that leaves signal handling to its host process, and keeps
    the process's mark of life in Redis while it runs (its claims name it)."""

    liveness: Liveness | None = None

    def _set_signal_handlers(self) -> None:
        return None

    def start(self) -> None:
        self.liveness = Liveness(self.huey.storage.conn, role="worker")
        self.liveness.start()
        super().start()

    def stop(self, graceful: bool = False) -> None:
        super().stop(graceful=graceful)
        if self.liveness is not None:
            self.liveness.stop()
            self.liveness = None


class Scheduler(threading.Thread):
    """Triggers the pipeline's tasks; exactly one per deployment."""

    def __init__(self, worker: Worker, *, tick: float = 1.0) -> None:
        super().__init__(name="ichnaea-scheduler", daemon=True)
        self.worker = worker
        self.tick = tick
        self.stopping = threading.Event()
        self.last_run: dict[str, float] = {}
        #: since when (this scheduler's clock) Redis answered every tick
        self.redis_since: float | None = None

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
        if self.redis_since is None:
            self.redis_since = now
        # the claims of dead workers, first: their queues are then looked at
        # below. Not before Redis has answered for a mark's lifetime: marks
        # that lapsed while Redis was away are renewed by then
        if (self._due("recover", RECOVER_INTERVAL, now)
                and now - self.redis_since >= Liveness.SECONDS):
            self.last_run["recover"] = now
            w.recover_claims()
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
                             partial(w.update_incoming, key)))
        for station_queue in station_queues:
            size = sizes[station_queue.key]
            if size:
                cls = updaters[station_queue.updater]
                jobs.append((station_queue.trigger, cls.INTERVAL, size, cls.BATCH,
                             partial(w.update_stations, station_queue.updater,
                                     station_queue.shard)))
        for job in rt.plugins.periodic_jobs.values():
            jobs.append((f"periodic:{job.name}", job.interval, 1, 10**9,
                         partial(w.periodic, job.name)))
        if self._due("exports", EXPORT_CHECK_INTERVAL, now):
            self.last_run["exports"] = now
            for partition in pipeline.ready_exports(rt):
                jobs.append((partition.trigger, 0.0, 1, 1,
                             partial(w.export_reports, partition.export, partition.key)))
        for name, interval, size, batch, enqueue in jobs:
            if size >= batch or self._due(name, interval, now):
                if w.trigger(name, enqueue):
                    fired.append(name)
                self.last_run[name] = now
        return fired

    def run(self) -> None:
        log.info("scheduler_started")
        outages = self.worker.outages
        while not self.stopping.is_set():
            try:
                with self.worker.rt.db.session():
                    self.run_once()
            except Exception as exc:  # noqa: BLE001 - Redis or DB down: try again
                if isinstance(exc, REDIS_OUTAGE_ERRORS):
                    self.redis_since = None
                if not outages.failed(exc, "scheduler"):
                    log.warning("scheduler_tick_failed", error=repr(exc))
            else:
                outages.check()
            self.stopping.wait(self.tick)

    def stop(self) -> None:
        self.stopping.set()
