"""Keys without a daily limit are counted by the web process and sent to
Redis together about once a second; keys with one are counted at once."""

from __future__ import annotations

import time

from ichnaea_host.api.keys import usage_keys
from ichnaea_host.core.answers import ApiKey


def _counts(runtime, name, api_type="locate", path="v1.geolocate"):
    users, limit = usage_keys(ApiKey(valid_key=name), api_type, path)
    count = runtime.redis.get(limit)
    return (int(count) if count is not None else 0), runtime.redis.pfcount(users)


def _ask(client, key, ips):
    for ip in ips:
        assert client.get(f"/v1/geolocate?key={key}",
                          headers={"X-Forwarded-For": ip}).status_code == 200


def test_unlimited_key_counts_reach_redis_within_seconds(client, api_key_factory, runtime):
    key = api_key_factory("free", maxreq=0)
    _ask(client, key, ["81.2.69.160", "81.2.69.160", "81.2.69.193"])
    deadline = time.monotonic() + 5
    while _counts(runtime, key) != (3, 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _counts(runtime, key) == (3, 2)
    _ask(client, key, ["81.2.69.160"])  # the next second's requests add to them
    deadline = time.monotonic() + 5
    while _counts(runtime, key) != (4, 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _counts(runtime, key) == (4, 2)


def test_closing_the_service_sends_what_it_holds(make_runtime, api_key_factory):
    from ichnaea_host.app import create_app

    rt = make_runtime()
    app = create_app(runtime=rt)
    app.extensions["ichnaea.usage"].interval = 3600.0  # nothing goes out on its own
    key = api_key_factory("closing", maxreq=None)
    _ask(app.test_client(), key, ["81.2.69.160", "81.2.69.161"])
    assert _counts(rt, key) == (0, 0)
    rt.close()
    assert _counts(make_runtime(), key) == (2, 2)


def test_limited_key_is_counted_during_the_request(client, api_key_factory, runtime):
    key = api_key_factory("strict", maxreq=5)
    _ask(client, key, ["81.2.69.160", "81.2.69.193"])
    assert _counts(runtime, key) == (2, 2)


def test_redis_down_drops_the_round_and_keeps_answering(make_runtime, api_key_factory):
    from ichnaea_host.app import create_app

    up = make_runtime()
    key = api_key_factory("outage", maxreq=0)
    down = make_runtime(redis_uri="redis://127.0.0.1:1/0")
    app = create_app(runtime=down)
    usage = app.extensions["ichnaea.usage"]
    usage.interval = 3600.0
    _ask(app.test_client(), key, ["81.2.69.160"])
    assert usage.flush() is True  # tried, failed, dropped
    assert usage.flush() is False  # nothing held any more
    assert _counts(up, key) == (0, 0)
