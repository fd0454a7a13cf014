"""The service on a three-master Redis Cluster (no replicas): web on one
node, two workers on the others, as real processes; then one master dies."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import requests

from ichnaea_host.core.clock import today_utc

from .conftest import SCALE, RedisCluster, Service

pytestmark = [pytest.mark.scale,
              pytest.mark.skipif(not SCALE, reason="set ICHNAEA_TEST_SCALE=1 (make test-scale)")]


def mac(n: int, i: int) -> str:
    return f"5c{n:06x}{i:04x}"


def report(n: int) -> dict[str, Any]:
    return {"position": {"latitude": 10.0 + n / 1000, "longitude": 20.0, "accuracy": 10.0,
                         "source": "gnss"},
            "wifiAccessPoints": [{"macAddress": mac(n, i), "signalStrength": -60 - i}
                                 for i in range(2)]}


def locate(service: Service, n: int, key: str = "scale") -> requests.Response:
    query = {"wifiAccessPoints": [{"macAddress": mac(n, i)} for i in range(2)],
             "considerIp": False}
    return requests.post(f"{service.url}/v1/geolocate?key={key}", json=query, timeout=30)


def located(service: Service, n: int) -> bool:
    response = locate(service, n)
    if response.status_code != 200:
        return False
    return abs(response.json()["location"]["lat"] - (10.0 + n / 1000)) < 0.001


def wait_located(service: Service, numbers: list[int], timeout: float = 90.0) -> list[int]:
    """The numbers whose networks are not located after ``timeout`` seconds."""
    missing = list(numbers)
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        missing = [n for n in missing if not located(service, n)]
        if missing:
            time.sleep(1)
    return missing


def runtime(service: Service, node: int = 0) -> Any:
    from ichnaea_host.core.settings import Settings
    from ichnaea_host.plugins.runtime import Runtime

    return Runtime(Settings.from_env(service.env(node)))


def test_heartbeat_pings_every_node(service):
    response = requests.get(f"{service.url}/__heartbeat__", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["redis"]["up"] is True


def test_submits_are_spread_processed_by_two_workers_and_located(service):
    numbers = list(range(40))
    for start in range(0, 40, 4):
        body = {"items": [report(n) for n in numbers[start:start + 4]]}
        response = requests.post(f"{service.url}/v2/geosubmit?key=scale", json=body, timeout=30)
        assert response.status_code == 200, response.text
    assert wait_located(service, numbers) == [], service.logs()
    rt = runtime(service)
    try:
        # the incoming reports went to lists on more than one master
        from redis.cluster import key_slot

        masters = {rt.redis.nodes_manager.get_node_from_slot(key_slot(key.encode())).name
                   for key in rt.incoming_keys()}
        assert len(masters) == 3
    finally:
        rt.close()


def test_daily_limit_and_unique_users(service):
    codes = [requests.get(f"{service.url}/v1/geolocate?key=limited", timeout=30,
                          headers={"X-Forwarded-For": f"81.2.69.{160 + n}"}).status_code
             for n in range(4)]
    assert codes == [200, 200, 200, 403]
    from ichnaea_host.pipeline.monitoring import monitor_api_key_limits, monitor_api_users

    rt = runtime(service, 1)
    try:
        yesterday = f"{today_utc() - timedelta(days=1):%Y-%m-%d}"
        rt.redis.pfadd(f"apiuser:locate:limited:{yesterday}", "81.2.69.160", "10.1.1.1")
        assert monitor_api_key_limits(rt)[("limited", "v1.geolocate")] == 4
        users = monitor_api_users(rt)
        # four clients today, one more yesterday: counted across hash slots
        assert (users["locate:limited:1d"], users["locate:limited:7d"]) == (4, 5)
    finally:
        rt.close()


def test_rate_controller_runs_on_the_cluster(service):
    from ichnaea_host.core.queues import mget, mset
    from ichnaea_host.pipeline.monitoring import monitor_queue_size_and_rate_control

    rt = runtime(service, 2)
    try:
        mset(rt.redis, {"rate_controller_enabled": "1", "rate_controller_target": "1000"})
        result = monitor_queue_size_and_rate_control(rt)
        assert result["enabled"] and result["rate"] == 100.0
        rate, state = mget(rt.redis, ["global_locate_sample_rate", "rate_controller_state"])
        assert rate == b"100" and b"running" in state
        mset(rt.redis, {"rate_controller_enabled": "0"})
    finally:
        rt.close()


def test_a_dead_master_refuses_submits_and_loses_nothing_acknowledged(
        service: Service, redis_cluster: RedisCluster):
    """Kill one replica-less master: submits answer 503 (the client keeps its
    data), and every submit answered 200 is processed once it is back."""
    victim = redis_cluster.ports[1]
    redis_cluster.kill(victim)
    acked, refused = [], []
    numbers = iter(range(1000, 2000))
    deadline = time.monotonic() + 60
    while len(refused) < 5 and time.monotonic() < deadline:
        n = next(numbers)
        response = requests.post(f"{service.url}/v2/geosubmit?key=scale",
                                 json={"items": [report(n)]}, timeout=60)
        assert response.status_code in (200, 503), response.text
        (acked if response.status_code == 200 else refused).append(n)
    assert len(refused) == 5
    heartbeat = requests.get(f"{service.url}/__heartbeat__", timeout=60)
    assert heartbeat.status_code == 503 and heartbeat.json()["redis"]["up"] is False
    assert located(service, 0)  # locates keep answering from the database

    redis_cluster.start_node(victim)  # empty, with its cluster configuration
    redis_cluster.wait_ok(60)
    assert wait_located(service, acked, timeout=120) == [], service.logs()
    assert requests.get(f"{service.url}/__heartbeat__", timeout=30).status_code == 200
