"""The API's checks and error bodies, and the monitoring endpoints."""

from __future__ import annotations

import pytest

from ichnaea_host import hookimpl
from ichnaea_host.api.openapi import checking_client
from ichnaea_host.core.plugin_classes import HeartbeatCheck


@pytest.fixture
def client(app):
    """Every exchange of these tests is held against /openapi.json."""
    return checking_client(app)


KEY_INVALID = {"error": {"errors": [{"domain": "usageLimits", "reason": "keyInvalid",
                                     "message": "Missing or invalid API key."}],
                         "code": 400, "message": "Missing or invalid API key."}}


@pytest.mark.parametrize("url", ["/v1/geolocate", "/v1/geolocate?key=", "/v1/geolocate?key=a b",
                                 "/v1/geolocate?key=unknown-key", "/v1/country?key=x"])
def test_missing_or_unknown_key(client, url):
    response = client.post(url, json={})
    assert response.status_code == 400
    assert response.get_json() == KEY_INVALID
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_key_not_allowed_to_locate(client, api_key_factory):
    key = api_key_factory("no-locate", allow_locate=False)
    assert client.post(f"/v1/geolocate?key={key}", json={}).status_code == 400
    assert client.get(f"/v1/country?key={key}",
                      headers={"X-Forwarded-For": "81.2.69.160"}).status_code == 200


def test_daily_limit(client, api_key_factory, runtime):
    key = api_key_factory("limited", maxreq=2)
    headers = {"X-Forwarded-For": "81.2.69.160"}
    codes = [client.get(f"/v1/geolocate?key={key}", headers=headers).status_code
             for _ in range(3)]
    assert codes == [200, 200, 403]
    body = client.get(f"/v1/geolocate?key={key}", headers=headers).get_json()
    assert body["error"]["errors"][0]["reason"] == "dailyLimitExceeded"
    counters = [k.decode() for k in runtime.redis.keys("apilimit:limited:v1.geolocate:*")]
    assert len(counters) == 1
    assert runtime.redis.pfcount(
        next(k for k in runtime.redis.keys("apiuser:locate:limited:*"))) == 1


@pytest.mark.parametrize("body, headers, detail", [
    (b"\xae", {}, "decode"),
    (b"{not json", {}, "decode"),
    (b"[1]", {}, "validation"),
    (b"\x1f\x8b\x08\x00truncated", {"Content-Encoding": "gzip"}, "decode"),
    (b'{"wifiAccessPoints": 5}', {}, "validation"),
])
def test_parse_errors(client, api_key, body, headers, detail):
    response = client.post(f"/v1/geolocate?key={api_key}", data=body,
                           headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 400
    data = response.get_json()
    assert data["error"]["errors"][0]["reason"] == "parseError"
    assert list(data["details"]) == [detail]


def test_empty_submit_is_a_parse_error_without_details(client):
    response = client.post("/v2/geosubmit", data=b"")
    assert response.status_code == 400
    assert "details" not in response.get_json()


def test_submit_without_items(client):
    response = client.post("/v2/geosubmit", json={})
    assert response.status_code == 400
    assert response.get_json()["details"] == {"validation": {"items": "Required"}}


def test_submit_without_key_is_accepted_and_queued(client, runtime):
    body = {"items": [{"wifiAccessPoints": [{"macAddress": "ab:cd:ef:01:23:45"}]},
                      {"position": {"latitude": 1.0}}]}
    response = client.post("/v2/geosubmit", json=body)
    assert (response.status_code, response.get_json()) == (200, {})
    items = runtime.queue("update_incoming").dequeue()
    assert len(items) == 1  # the report without networks is dropped
    assert items[0]["api_key"] is None and items[0]["source"] == "gnss"
    assert items[0]["report"]["position"] is None
    assert 10**12 < items[0]["report"]["timestamp"] < 10**13


def test_cors_preflight(client):
    response = client.options("/v1/geolocate")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Max-Age"] == "2592000"


def test_unknown_path_and_method(client):
    response = client.get("/nobody-is-home")
    assert response.status_code == 404
    assert b"404 Not Found" in response.data
    assert client.delete("/v1/geolocate").status_code == 405


def test_security_headers(client):
    response = client.get("/__lbheartbeat__")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_heartbeats(client):
    assert client.get("/__lbheartbeat__").get_json() == {"status": "OK"}
    response = client.get("/__heartbeat__")
    assert response.status_code == 200
    data = response.get_json()
    assert set(data) >= {"database", "redis", "geoip"}
    assert all(v["up"] for v in data.values())


def test_heartbeat_gives_the_schema_version(client):
    database = client.get("/__heartbeat__").get_json()["database"]
    assert database["up"] is True and database["time"] >= 0
    heads = database["alembic_version"].split(",")
    assert heads == sorted(heads)
    assert {"host:005_api_key_allow_raw", "cell:003_arfcn",
            "wifi:004_ssid_hash", "blue:002_one_table"} <= set(heads)


def test_heartbeat_with_the_database_down(backend_uris, tmp_path):
    from ichnaea_host.app import create_app
    from ichnaea_host.core.settings import Settings
    from ichnaea_host.plugins.manager import build_plugin_host
    from ichnaea_host.plugins.runtime import Runtime

    settings = Settings.from_env({}, db_readwrite_uri="mysql+pymysql://root@127.0.0.1:1/gone",
                                 redis_uri=backend_uris[1], var_dir=str(tmp_path / "var"))
    rt = Runtime(settings, build_plugin_host(settings, strict=True))
    try:
        response = create_app(runtime=rt).test_client().get("/__heartbeat__")
        assert response.status_code == 503
        data = response.get_json()
        assert data["database"] == {"up": False, "time": 0, "alembic_version": "unknown"}
        assert data["redis"]["up"] is True
    finally:
        rt.close()


class BrokenCheck(HeartbeatCheck):
    PLUGIN_NAME = "broken"

    def check(self):
        raise RuntimeError("this check has a bug")


class BrokenCheckPlugin:
    @hookimpl
    def ichnaea_register_heartbeat_checks(self):
        return [BrokenCheck]


def test_heartbeat_with_a_check_that_raises(make_runtime):
    from ichnaea_host.app import create_app

    rt = make_runtime(extra=(("broken", BrokenCheckPlugin()),))
    response = create_app(runtime=rt).test_client().get("/__heartbeat__")
    assert response.status_code == 503
    data = response.get_json()
    assert data["broken"] == {"up": None, "time": -1}
    assert data["database"]["up"] is True and data["redis"]["up"] is True


def test_heartbeat_reports_a_down_redis(make_runtime):
    from ichnaea_host.app import create_app

    rt = make_runtime()
    down = make_runtime(redis_uri="redis://127.0.0.1:1/0")
    assert rt is not down
    client = create_app(runtime=down).test_client()
    response = client.get("/__heartbeat__")
    assert response.status_code == 503
    assert response.get_json()["redis"] == {"up": False, "time": 0}
    assert client.get("/__lbheartbeat__").status_code == 200


def test_locate_keeps_answering_when_redis_is_down(make_runtime, api_key_factory):
    from ichnaea_host.app import create_app

    make_runtime()
    key = api_key_factory("limited", maxreq=1)
    down = make_runtime(redis_uri="redis://127.0.0.1:1/0")
    client = create_app(runtime=down).test_client()
    for _ in range(3):
        response = client.get(f"/v1/geolocate?key={key}",
                              headers={"X-Forwarded-For": "81.2.69.160"})
        assert response.status_code == 200
    response = client.post("/v2/geosubmit", json={"items": [
        {"wifiAccessPoints": [{"macAddress": "ab:cd:ef:01:23:45"}]}]})
    assert response.status_code == 503
    assert response.get_json()["error"]["errors"][0]["reason"] == "serviceUnavailable"


def test_version_lists_plugins(client):
    data = client.get("/__version__").get_json()
    assert {"source", "version", "commit", "build"} <= set(data)
    names = {p["name"] for p in data["plugins"]}
    assert {"wifi", "geoip", "cell", "blue", "fallback", "export_s3",
            "export_geosubmit", "wigle"} <= names


def test_web_tier_starts_and_answers_without_the_database(backend_uris, tmp_path):
    """MariaDB is down when the service starts: GeoIP answers, submissions are queued."""
    from ichnaea_host.app import create_app
    from ichnaea_host.core.settings import Settings
    from ichnaea_host.plugins.manager import build_plugin_host
    from ichnaea_host.plugins.runtime import Runtime

    _, redis_uri = backend_uris
    settings = Settings.from_env({}, db_readwrite_uri="mysql+pymysql://root@127.0.0.1:1/gone",
                                 redis_uri=redis_uri, var_dir=str(tmp_path / "var"))
    rt = Runtime(settings, build_plugin_host(settings, strict=True))
    try:
        client = create_app(runtime=rt).test_client()
        response = client.get("/v1/geolocate?key=some-key",
                              headers={"X-Forwarded-For": "81.2.69.160"})
        assert response.status_code == 200
        assert response.get_json()["location"] == {"lat": 51.5142, "lng": -0.0931}
        report = {"wifiAccessPoints": [{"macAddress": "ab:cd:ef:01:23:45"}]}
        assert client.post("/v2/geosubmit?key=some-key",
                           json={"items": [report]}).status_code == 200
        assert rt.queue("update_incoming").size() >= 1
        assert client.get("/__heartbeat__").status_code == 503
    finally:
        rt.queue("update_incoming").dequeue(batch=0)
        rt.close()
