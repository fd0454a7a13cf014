"""Huey tasks, the scheduler and real consumer threads."""

from __future__ import annotations

import time

from ichnaea_host.pipeline.worker import EmbeddedConsumer, Scheduler, Worker

BODY = {"items": [{"position": {"latitude": 59.33, "longitude": 18.06, "accuracy": 5},
                   "wifiAccessPoints": [{"macAddress": "b00000000001", "signalStrength": -50},
                                        {"macAddress": "b00000000002", "signalStrength": -55}]}]}


def station_count(runtime):
    from ichnaea_wifi.models import MODEL

    return sum(model.select().count() for model in (MODEL,))


def test_scheduler_triggers_tasks(runtime, client, api_key, internal_export):
    worker = Worker(runtime)
    worker.huey.immediate = True
    scheduler = Scheduler(worker)
    client.post(f"/v2/geosubmit?key={api_key}", json=BODY)
    fired = scheduler.run_once()
    assert "incoming" in fired
    assert station_count(runtime) == 0  # observations wait in their shard queue
    fired = scheduler.run_once()
    assert "stations:wifi:0" in fired
    assert station_count(runtime) == 2
    assert scheduler.run_once() == []  # nothing waiting, intervals not due


def test_trigger_does_not_pile_up(runtime):
    worker = Worker(runtime)
    calls = []
    assert worker.trigger("stations:wifi:0", lambda: calls.append(1))
    assert not worker.trigger("stations:wifi:0", lambda: calls.append(1))
    worker.release("stations:wifi:0")
    assert worker.trigger("stations:wifi:0", lambda: calls.append(1))
    assert calls == [1, 1]


def test_real_consumer_threads(runtime, client, api_key, internal_export):
    worker = Worker(runtime)
    consumer = EmbeddedConsumer(worker.huey, workers=2, periodic=False, worker_type="thread")
    scheduler = Scheduler(worker, tick=0.1)
    consumer.start()
    scheduler.start()
    try:
        assert client.post(f"/v2/geosubmit?key={api_key}", json=BODY).status_code == 200
        deadline = time.monotonic() + 20
        while station_count(runtime) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert station_count(runtime) == 2
    finally:
        scheduler.stop()
        consumer.stop(graceful=True)
    query = {"wifiAccessPoints": BODY["items"][0]["wifiAccessPoints"]}
    data = client.post(f"/v1/geolocate?key={api_key}", json=query).get_json()
    assert abs(data["location"]["lat"] - 59.33) < 0.001


def test_failed_export_is_parked_not_lost(runtime, client, api_key):
    from ichnaea_host.core.models import ExportConfig
    from ichnaea_host.core.plugin_classes import Exporter
    from ichnaea_host.pipeline import tasks as pipeline

    class Unreachable(Exporter):
        PLUGIN_NAME = "unreachable"

        def send(self, items):
            raise OSError("connection refused")

    runtime.plugins.registry["exporters"]["unreachable"] = Unreachable
    ExportConfig.create(name="partner", batch=0, schema="unreachable")
    client.post(f"/v2/geosubmit?key={api_key}", json=BODY)
    pipeline.drain(runtime)
    assert runtime.queue("queue_export_partner").size() == 0
    parked = runtime.queue(pipeline.failed_queue_name("queue_export_partner")).dequeue(batch=0)
    assert len(parked) == 1 and parked[0]["api_key"] == api_key


def test_immediate_worker_fixture(immediate_worker, runtime, client, api_key, internal_export):
    client.post(f"/v2/geosubmit?key={api_key}", json=BODY)
    immediate_worker.update_incoming()
    immediate_worker.update_stations("wifi", "0")
    assert station_count(runtime) == 2


def test_periodic_jobs_run_at_once_on_a_freshly_booted_machine(runtime):
    # the monotonic clock starts near zero at boot: a job of a ten-minute
    # interval must not wait ten minutes after the machine came up
    worker = Worker(runtime)
    worker.huey.immediate = True
    scheduler = Scheduler(worker)
    fired = scheduler.run_once(now=5.0)
    assert "periodic:update_statcounter" in fired
    assert "periodic:cleanup_stat" in fired
    worker.release("periodic:update_statcounter")
    assert "periodic:update_statcounter" not in scheduler.run_once(now=6.0)
    worker.release("periodic:update_statcounter")
    assert "periodic:update_statcounter" in scheduler.run_once(now=606.0)


def test_export_task_for_a_queue_of_another_export_sends_nothing(runtime):
    from ichnaea_host.core.models import ExportConfig

    worker = Worker(runtime)
    worker.huey.immediate = True
    ExportConfig.create(name="partner", batch=0, schema="dummy")
    runtime.queue("queue_export_other").enqueue([{"report": {"n": 1}}])
    runtime.queue("queue_export_partner").enqueue([{"report": {"n": 2}}])
    assert worker.trigger("export:queue_export_other",
                          lambda: worker.export_reports("partner", "queue_export_other"))
    assert runtime.queue("queue_export_other").size() == 1  # not partner's queue: untouched
    assert worker.trigger("export:queue_export_other", lambda: None)  # its trigger is free
    assert worker.trigger("export:queue_export_partner",
                          lambda: worker.export_reports("partner", "queue_export_partner"))
    assert runtime.queue("queue_export_partner").size() == 0
    assert worker.trigger("export:queue_export_partner", lambda: None)


def test_live_workers_are_the_running_consumers(runtime):
    import os

    from ichnaea_host.core.queues import Liveness
    from ichnaea_host.pipeline.worker import live_workers

    worker = Worker(runtime)
    consumer = EmbeddedConsumer(worker.huey, workers=1, periodic=False, worker_type="thread")
    with Liveness(runtime.redis, role="process"):  # ``ichnaea process``: no worker
        assert live_workers(runtime) == []
    consumer.start()
    try:
        (name,) = live_workers(runtime)
        assert f"-{os.getpid()}-" in name
    finally:
        consumer.stop(graceful=True)
    assert live_workers(runtime) == []  # a clean stop ends the mark at once


def test_scheduler_gives_back_the_claims_of_dead_workers(runtime):
    from ichnaea_host.core.queues import Liveness

    worker = Worker(runtime)
    scheduler = Scheduler(worker)
    queue = runtime.queue("update_incoming")
    queue.enqueue([{"report": {"n": 1}}])
    dead = queue.claim(owner="gone-4242-abcdef")  # its worker died holding it
    assert len(dead.__enter__()) == 1
    with Liveness(runtime.redis):
        queue.enqueue([{"report": {"n": 2}}])
        busy = queue.claim()  # a live worker's
        assert len(busy.__enter__()) == 1
        # not before Redis answered for a mark's lifetime: a live worker's
        # mark that lapsed while Redis was away is renewed by then
        assert "incoming" not in scheduler.run_once(now=100.0)
        assert queue.claimed() == 2
        fired = scheduler.run_once(now=100.0 + Liveness.SECONDS)
        assert "incoming" in fired
        assert queue.claimed() == 1 and queue.dequeue(batch=0) == [{"report": {"n": 1}}]
        busy.__exit__(None, None, None)
    assert queue.claimed() == 0
