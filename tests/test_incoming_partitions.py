"""``update_incoming`` spread over several Redis lists (as on a Redis
Cluster, here configured on one Redis): submits spread over the lists, the
workers drain every list, the queue gauge sums them."""

from __future__ import annotations

from typing import Any

import pytest

from ichnaea_host.pipeline.monitoring import monitor_queue_size_and_rate_control
from ichnaea_host.pipeline.worker import Scheduler, Worker

LISTS = [f"update_incoming_{n}" for n in range(4)]


def body(n: int) -> dict[str, Any]:
    return {"items": [{"position": {"latitude": 40.0 + n / 100, "longitude": 10.0,
                                    "accuracy": 5},
                       "wifiAccessPoints": [{"macAddress": f"c0000000{n:04x}",
                                             "signalStrength": -50}]}]}


@pytest.fixture
def runtime(make_runtime) -> Any:
    return make_runtime(incoming_partitions=4)


def test_submits_spread_over_the_lists_and_all_are_processed(runtime, client, api_key,
                                                               internal_export, drain):
    assert runtime.incoming_keys() == LISTS
    for n in range(40):
        assert client.post(f"/v2/geosubmit?key={api_key}", json=body(n)).status_code == 200
    sizes = [runtime.redis.llen(key) for key in LISTS]
    assert sum(sizes) == 40 and runtime.queue("update_incoming").size() == 40
    assert sum(1 for size in sizes if size) >= 2
    assert not runtime.redis.exists("update_incoming")
    gauged = monitor_queue_size_and_rate_control(runtime)["sizes"]  # one gauge each
    assert gauged["update_incoming"] == 40
    assert not any(name.startswith("update_incoming_") for name in gauged)

    drain()
    assert [runtime.redis.llen(key) for key in LISTS] == [0, 0, 0, 0]
    from ichnaea_wifi.models import MODEL

    assert MODEL.select().count() == 40


def test_scheduler_triggers_one_task_per_list(runtime, client, api_key, internal_export):
    worker = Worker(runtime)
    worker.huey.immediate = True
    scheduler = Scheduler(worker)
    for n in range(12):
        client.post(f"/v2/geosubmit?key={api_key}", json=body(n))
    waiting = [key for key in LISTS if runtime.redis.llen(key)]
    fired = scheduler.run_once()
    assert sorted(f for f in fired if f.startswith("incoming")) == [
        f"incoming:{key}" for key in waiting]
    assert runtime.queue("update_incoming").size() == 0


def test_without_the_cluster_locates_answer_and_the_heartbeat_says_redis_is_down(
        make_runtime, api_key_factory):
    from ichnaea_host.app import create_app

    make_runtime()
    key = api_key_factory("test")
    down = make_runtime(redis_uri="redis+cluster://127.0.0.1:1,127.0.0.1:2/")
    client = create_app(runtime=down).test_client()
    response = client.get(f"/v1/geolocate?key={key}", headers={"X-Forwarded-For": "81.2.69.160"})
    assert response.status_code == 200 and response.get_json()["accuracy"] == 164000.0
    heartbeat = client.get("/__heartbeat__")
    assert heartbeat.status_code == 503 and heartbeat.get_json()["redis"]["up"] is False
