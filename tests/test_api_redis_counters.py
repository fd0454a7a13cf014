"""The Redis commands of every API request go in one round trip, which
survives a Redis restart."""

from __future__ import annotations

import redis

HEADERS = {"X-Forwarded-For": "81.2.69.160"}


def test_counts_survive_a_redis_restart(client, api_key_factory, runtime):
    key = api_key_factory("counted", maxreq=3)
    assert client.get(f"/v1/geolocate?key={key}", headers=HEADERS).status_code == 200
    # every connection of the service is dropped, as a restart would
    pool = runtime.redis.connection_pool
    other = redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, **pool.connection_kwargs))
    assert other.client_kill_filter(_type="normal", skipme=True) >= 1
    other.close()
    codes = [client.get(f"/v1/geolocate?key={key}", headers=HEADERS).status_code
             for _ in range(3)]
    assert codes == [200, 200, 403]  # every request was counted, none failed
