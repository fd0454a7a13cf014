"""What the geolocate rate limits (per API key, per client address, per MAC
address block) add to the locate path.

In one process, on a SQLite file and the local Redis server, it learns 200
groups of 10 WiFi networks through the pipeline, then answers the same
geolocate queries (8 known networks of a group, from random client
addresses) through the Flask app with the limits off and on, in alternating
rounds, and prints the mean time per request of each and the difference;
then the limits' own call alone (one pipelined round trip to Redis). The
limits are set high enough that nothing is refused.

Usage::

    python bench/limits.py                 # 4 rounds of 1000 requests each way
    python bench/limits.py --rounds 8 --requests 2000

Environment: ``BENCH_REDIS_URI`` (default Redis database 10, flushed).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REDIS_URI = os.environ.get("BENCH_REDIS_URI", "redis://127.0.0.1:6379/10")
GROUPS = 200
PER_GROUP = 10


def mac(group: int, i: int) -> str:
    return f"02:00:5e:{group >> 8:02x}:{group & 0xff:02x}:{i:02x}"


def build(folder: Path, limits: bool) -> tuple[Any, Any]:
    from ichnaea_host.app import create_app
    from ichnaea_host.core import migrate
    from ichnaea_host.core.settings import Settings
    from ichnaea_host.plugins.manager import build_plugin_host
    from ichnaea_host.plugins.runtime import Runtime

    values: dict[str, Any] = {"db_readwrite_uri": f"sqlite:///{folder / 'bench.sqlite'}",
                              "redis_uri": REDIS_URI, "var_dir": str(folder / "var"),
                              "logging_level": "WARNING"}
    if limits:
        values.update(locate_limit_key=10**9, locate_limit_ip=10**9,
                      locate_limit_prefix=10**6)
    else:
        values.update(locate_limit_key=0, locate_limit_ip=0, locate_limit_prefix=0)
    settings = Settings.from_env({}, **values)
    plugins = build_plugin_host(settings)
    rt = Runtime(settings, plugins)
    migrate.upgrade(rt.db.rw, plugins.migration_dirs)
    return rt, create_app(runtime=rt).test_client()


def learn(rt: Any, client: Any) -> None:
    from ichnaea_host.core.models import ApiKeyRow, ExportConfig
    from ichnaea_host.pipeline.tasks import drain

    ApiKeyRow.create(valid_key="bench", maxreq=0, allow_fallback=False, allow_locate=True,
                     allow_region=True, store_sample_locate=0, store_sample_submit=100)
    ExportConfig.create(name="internal", batch=0, schema="internal")
    items = [{"position": {"latitude": 10.0 + g * 0.01 + r * 1e-4, "longitude": 20.0,
                           "accuracy": 5.0, "source": "gps"},
              "wifiAccessPoints": [{"macAddress": mac(g, i), "signalStrength": -60}
                                   for i in range(PER_GROUP)]}
             for g in range(GROUPS) for r in range(2)]
    assert client.post("/v2/geosubmit?key=bench", json={"items": items}).status_code == 200
    drain(rt)


def queries(count: int) -> list[tuple[dict[str, Any], str]]:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        group = rng.randrange(GROUPS)
        body = {"considerIp": False, "wifiAccessPoints": [
            {"macAddress": mac(group, i), "signalStrength": rng.randint(-90, -50)}
            for i in rng.sample(range(PER_GROUP), 8)]}
        out.append((body, f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}"))
    return out


def run(client: Any, batch: list[tuple[dict[str, Any], str]]) -> float:
    start = time.perf_counter()
    for body, ip in batch:
        response = client.post("/v1/geolocate?key=bench", json=body,
                               headers={"X-Forwarded-For": ip})
        assert response.status_code == 200, response.status_code
    return (time.perf_counter() - start) / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    from ichnaea_host.core.log import configure_logging

    configure_logging("WARNING")  # as bench/locate.py: no line per request
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rt_off, off = build(folder, limits=False)
        rt_off.redis.flushdb()
        learn(rt_off, off)
        rt_on, on = build(folder, limits=True)
        batch = queries(args.requests)
        run(off, batch[:100])
        run(on, batch[:100])  # warm both
        times: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(args.rounds):
            times["off"].append(run(off, batch))
            times["on"].append(run(on, batch))
        mean_off, mean_on = statistics.mean(times["off"]), statistics.mean(times["on"])
        print(f"geolocate, limits off: {mean_off:8.1f} us/request "
              f"(rounds {', '.join(f'{t:.0f}' for t in times['off'])})")
        print(f"geolocate, limits on:  {mean_on:8.1f} us/request "
              f"(rounds {', '.join(f'{t:.0f}' for t in times['on'])})")
        print(f"added: {mean_on - mean_off:+.1f} us/request "
              f"({(mean_on - mean_off) / mean_off * 100:+.1f} %)")

        from ichnaea_host.api import limits
        from ichnaea_host.core.answers import ApiKey, Query

        fragments = on.application.extensions["ichnaea.fragments"]
        key = ApiKey(valid_key="bench")
        prepared = []
        for body, ip in batch:
            query = Query(api_type="locate", api_key=key, ip=ip, body=body)
            for fragment in fragments:
                query.networks[fragment.PLUGIN_NAME] = fragment.parse_query(
                    body.get(fragment.FIELD) or [], body)
            prepared.append((query, ip))
        start = time.perf_counter()
        for query, ip in prepared:
            assert limits.exceeded(rt_on, key, ip, query, fragments) is None
        alone = (time.perf_counter() - start) / len(prepared) * 1e6
        start = time.perf_counter()
        for _ in prepared:
            with rt_on.redis.pipeline(transaction=False) as pipe:
                pipe.execute_command("PING")
                pipe.execute()
        ping = (time.perf_counter() - start) / len(prepared) * 1e6
        print(f"limits.exceeded alone: {alone:.1f} us/call (one pipelined Redis round trip; "
              f"a bare pipelined PING takes {ping:.1f} us)")
        rt_on.redis.flushdb()
        rt_on.close()
        rt_off.close()


if __name__ == "__main__":
    sys.exit(main())
