"""The container image and compose.yaml with podman (make test-deploy): the
stack comes up, learns what is submitted, and loses nothing when its worker,
its scheduler, its Redis and its web container restart."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
import requests

from .conftest import DEPLOY, Podman, Stack, timed

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not DEPLOY, reason="builds and runs containers with podman: "
                                 "make test-deploy (ICHNAEA_TEST_DEPLOY=1)")]

KEY = "deploytest"
#: a prefix of this run's network addresses (a fresh stack, but a clear trace)
RUN = secrets.token_hex(2)


def networks(batch: int) -> list[str]:
    return [f"5e{RUN}{batch:02x}00{i:02x}" for i in range(2)]


def position(batch: int) -> tuple[float, float]:
    return 48.0 + batch / 10, 11.0 + batch / 10


def submit(stack: Stack, batch: int) -> None:
    lat, lon = position(batch)
    body = {"items": [{"position": {"latitude": lat, "longitude": lon, "accuracy": 10.0,
                                    "source": "gnss"},
                       "wifiAccessPoints": [{"macAddress": mac, "signalStrength": -60 - i}
                                            for i, mac in enumerate(networks(batch))]}]}
    deadline = time.monotonic() + 30
    while True:  # a web process whose Redis just came back may refuse a moment
        try:
            resp = requests.post(f"{stack.url}/v2/geosubmit?key={KEY}", json=body, timeout=10)
            if resp.status_code == 200:
                return
            error = f"{resp.status_code} {resp.text[:300]}"
        except requests.RequestException as exc:
            error = repr(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"submit of batch {batch} failed: {error}\n{stack.logs()}")
        time.sleep(0.5)


def locate(stack: Stack, batch: int) -> dict[str, Any] | None:
    body = {"considerIp": False,
            "wifiAccessPoints": [{"macAddress": mac} for mac in networks(batch)]}
    with_retry = requests.post(f"{stack.url}/v1/geolocate?key={KEY}", json=body, timeout=10)
    return with_retry.json() if with_retry.status_code == 200 else None


def wait_learned(stack: Stack, batches: list[int], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(batches)
    while waiting and time.monotonic() < deadline:
        for batch in list(waiting):
            found = locate(stack, batch)
            if found is not None:
                lat, lon = position(batch)
                assert abs(found["location"]["lat"] - lat) < 0.001, found
                assert abs(found["location"]["lng"] - lon) < 0.001, found
                waiting.remove(batch)
        if waiting:
            time.sleep(1)
    assert not waiting, f"batches {waiting} not learned after {timeout} s\n{stack.logs()}"


def queued(stack: Stack) -> int:
    """Items in the Redis lists of incoming reports (update_incoming_*)."""
    script = ("local n = 0 for _, k in ipairs(redis.call('keys', '*update_incoming*')) do "
              "if redis.call('type', k).ok == 'list' then n = n + redis.call('llen', k) end "
              "end return n")
    return int(stack.exec("redis", "redis-cli", "eval", script, "0").strip())


def test_image(podman: Podman, images: dict[str, str]) -> None:
    """A non-root user, `ichnaea` as entry point, a health check on /__lbheartbeat__."""
    out = podman.run("image", "inspect", "--format",
                     "{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}",
                     images["ichnaea"]).stdout.strip()
    user, entrypoint, cmd = out.split("|")
    assert user == "10001:10001"
    assert entrypoint == '["ichnaea"]' and cmd == '["serve"]'
    health = podman.run("image", "inspect", "--format", "{{json .HealthCheck}}",
                        images["ichnaea"]).stdout
    assert "__lbheartbeat__" in health
    listed = podman.run("run", "--rm", "--network", "none", images["ichnaea"],
                        "plugins", "list").stdout
    for plugin in ("wifi", "cell", "blue", "geoip", "fallback", "export_s3"):
        assert plugin in listed


def test_stack(stack: Stack) -> None:
    # the image's health check, run by podman in the web container
    assert stack.healthy("web")
    assert stack.exec("web", "id", "-u").strip() == "10001"
    # the redis and mariadb volumes hold the data; redis writes its append-only file
    assert stack.exec("redis", "redis-cli", "config", "get", "appendonly").split()[-1] == "yes"
    assert "internal" in stack.exec("web", "ichnaea", "export", "list")

    # an API key, through podman-compose as an operator makes one
    done = stack.compose("run", "--rm", "--no-deps", "web", "apikey", "create", KEY,
                         "--maxreq", "0")
    assert f"'{KEY}'" in done.stdout, done.stdout[-2000:]

    with timed("submit two networks until they locate"):
        submit(stack, 1)
        wait_learned(stack, [1])

    # the workers stop: reports wait in Redis; Redis restarts and keeps them
    with timed("restarts: workers, redis, web"):
        stack.compose("stop", "worker", "scheduler")
        submit(stack, 2)
        assert queued(stack) >= 1
        stack.compose("restart", "redis")
        stack.wait_healthy("redis")
        assert queued(stack) >= 1, "the queued reports did not survive Redis' restart"
        stack.compose("start", "worker", "scheduler")
        stack.compose("restart", "web")
        stack.wait_healthy("web")
    for service in ("worker", "scheduler", "web", "redis", "mariadb"):
        assert stack.state(service)["Status"] == "running", service

    with timed("submit more, wait until all locate"):
        submit(stack, 3)
        wait_learned(stack, [1, 2, 3])
    assert queued(stack) == 0
    count = stack.exec("mariadb", "mariadb", "-uroot", "-N", "ichnaea", "-e",
                       "SELECT COUNT(*) FROM wifi").strip()
    assert count == "6"
