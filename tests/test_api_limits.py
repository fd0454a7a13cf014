"""Anti-enumeration limits of /v1/geolocate: per API key, per client address
(kept hashed) and per address block of the networks looked up, answered
with 429 in the API's error format; Redis down means no limit."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ichnaea_host.app import create_app
from ichnaea_host.cli.commands import cli

#: one window for the whole test: no window boundary falls inside it
WINDOW = 10**9
CLIENT = "198.51.100.23"
OTHER = "198.51.100.24"


def geolocate(client, body, key="test", ip=CLIENT):
    return client.post(f"/v1/geolocate?key={key}", json=body,
                       headers={"X-Forwarded-For": ip})


def wifi(*suffixes: int, block: str = "02:00:5e:10:00") -> dict:
    return {"considerIp": False,
            "wifiAccessPoints": [{"macAddress": f"{block}:{s:02x}"} for s in suffixes]}


def assert_refused(response) -> None:
    assert response.status_code == 429
    assert response.get_json() == {"error": {
        "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded",
                    "message": "You have exceeded your rate limit."}],
        "code": 429, "message": "You have exceeded your rate limit."}}
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.fixture
def service(make_runtime, api_key_factory):
    def build(**limits):
        values = {"locate_limit_window": WINDOW, "locate_limit_key": 0, "locate_limit_ip": 0,
                  "locate_limit_prefix": 0, **limits}
        rt = make_runtime(**values)
        api_key_factory("test")
        api_key_factory("other")
        return create_app(runtime=rt).test_client(), rt
    return build


def test_limit_per_client_address(service):
    client, rt = service(locate_limit_ip=3)
    for i in range(3):
        assert geolocate(client, wifi(2 * i, 2 * i + 1)).status_code == 404
    assert_refused(geolocate(client, wifi(1, 2)))
    assert_refused(geolocate(client, wifi(1, 2), key="other"))  # the address, whatever the key
    assert geolocate(client, wifi(1, 2), ip=OTHER).status_code == 404
    # the address is counted under a keyed hash only
    names = [k.decode() for k in rt.redis.keys("locatelimit:*")]
    assert names and not any(CLIENT in n or "198.51" in n for n in names)


def test_limit_per_api_key(service):
    client, _ = service(locate_limit_key=2)
    assert geolocate(client, wifi(1, 2)).status_code == 404
    assert geolocate(client, wifi(1, 2), ip=OTHER).status_code == 404
    assert_refused(geolocate(client, wifi(1, 2), ip="192.0.2.9"))
    assert geolocate(client, wifi(1, 2), key="other").status_code == 404
    # IP-only queries count as well
    assert_refused(client.get("/v1/geolocate?key=test"))


def test_limit_per_address_block(service):
    client, rt = service(locate_limit_prefix=4)
    rt.redis.script_flush()  # as on a Redis just started: the check loads itself
    assert geolocate(client, wifi(1, 2)).status_code == 404
    assert geolocate(client, wifi(3, 4), ip=OTHER).status_code == 404
    # a fifth distinct network of the block, from anyone: refused
    assert_refused(geolocate(client, wifi(4, 5), ip="192.0.2.9"))
    assert_refused(geolocate(client, wifi(4, 5), ip="192.0.2.9"))  # retrying adds nothing
    # networks already looked up in the window keep answering
    assert geolocate(client, wifi(1, 3)).status_code == 404
    assert geolocate(client, wifi(2, 4), key="other").status_code == 404
    # another block is counted on its own
    assert geolocate(client, wifi(1, 2, block="02:00:5e:10:01")).status_code == 404


def test_block_limit_counts_wifi_and_bluetooth_not_cells(service):
    client, _ = service(locate_limit_prefix=2)
    cells = {"considerIp": False, "cellTowers": [
        {"radioType": "lte", "mobileCountryCode": 262, "mobileNetworkCode": 1,
         "locationAreaCode": 100, "cellId": 1000 + i} for i in range(10)]}
    assert geolocate(client, cells).status_code == 404
    blue = {"considerIp": False, "bluetoothBeacons": [
        {"macAddress": f"02:00:5e:20:00:{i:02x}"} for i in range(3)]}
    assert_refused(geolocate(client, blue))


def test_limits_do_not_touch_other_paths(service):
    client, _ = service(locate_limit_ip=1, locate_limit_key=1)
    assert geolocate(client, wifi(1, 2)).status_code == 404
    assert_refused(geolocate(client, wifi(1, 2)))
    body = {"items": [{"position": {"latitude": 1.5, "longitude": 2.5},
                       "wifiAccessPoints": [{"macAddress": "02:00:5e:10:00:01"}]}]}
    for _ in range(3):
        assert client.post("/v2/geosubmit?key=test", json=body,
                           headers={"X-Forwarded-For": CLIENT}).status_code == 200
        assert client.post("/v1/country?key=test", json={},
                           headers={"X-Forwarded-For": CLIENT}).status_code in (200, 404)


def test_no_limit_without_redis(service, make_runtime):
    service()
    down = make_runtime(redis_uri="redis://127.0.0.1:1/0", locate_limit_window=WINDOW,
                        locate_limit_ip=1, locate_limit_key=1, locate_limit_prefix=1)
    client = create_app(runtime=down).test_client()
    for _ in range(3):
        assert geolocate(client, wifi(1, 2, 3)).status_code == 404


def test_single_network_is_never_answered(service, internal_export):
    from ichnaea_host.pipeline.tasks import drain

    client, rt = service()
    reports = [{"position": {"latitude": 51.5 + i * 1e-4, "longitude": -0.1, "accuracy": 5.0,
                             "source": "gps"},
                "wifiAccessPoints": [{"macAddress": f"02:00:5e:10:00:{m:02x}"}
                                     for m in (1, 2)]} for i in range(2)]
    assert client.post("/v2/geosubmit?key=test", json={"items": reports}).status_code == 200
    drain(rt)
    assert geolocate(client, wifi(1, 2)).status_code == 200
    # one known network, alone or with unknown ones that do not count: no answer
    assert geolocate(client, wifi(1)).status_code == 404
    assert geolocate(client, wifi(1, 1)).status_code == 404
    assert geolocate(client, wifi(1, 0x50)).status_code == 404
    assert geolocate(client, wifi(1, 0x50, 0x51)).status_code == 404


def test_limits_are_settings(runtime, backend_uris, tmp_path):
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri, "SECRET_KEY": "s3cret-value",
           "ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "INFO",
           "ICHNAEA_LOCATE_LIMIT_IP": "42"}
    result = CliRunner().invoke(cli, ["settings", "--json"], env=env)
    assert result.exit_code == 0, result.output
    by_env = {s["env"]: s for s in json.loads(result.stdout)}
    assert by_env["ICHNAEA_LOCATE_LIMIT_IP"]["value"] == 42
    assert by_env["ICHNAEA_LOCATE_LIMIT_PREFIX"]["default"] == 64
    assert by_env["SECRET_KEY"]["value"] == "***"
    assert "s3cret" not in result.output
    listed = CliRunner().invoke(cli, ["plugins", "list"], env=env)
    assert "setting ICHNAEA_LOCATE_LIMIT_IP = 42" in listed.output
    bad = CliRunner().invoke(cli, ["settings"], env={**env, "ICHNAEA_LOCATE_LIMIT_IP": "-1"})
    assert bad.exit_code != 0 and "ICHNAEA_LOCATE_LIMIT_IP" in bad.output
