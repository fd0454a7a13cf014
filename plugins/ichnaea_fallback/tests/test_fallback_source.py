"""The fallback source end to end: /v1/geolocate -> a real provider on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
import structlog
from marshmallow import EXCLUDE, Schema, fields

from ichnaea_fallback.cache import FallbackCache
from ichnaea_host import PositionSource, Radio, hookimpl
from ichnaea_host.app import create_app
from ichnaea_host.core.answers import Position
from ichnaea_host.core.models import ApiKeyRow

KEY = "fallback-key-123"
TOKEN = "t0k3n-s3cr3t"
JSON = {"Content-Type": "application/json"}

QUERY = {"wifiAccessPoints": [
    {"macAddress": "AA:BB:CC:00:00:01", "signalStrength": -60, "channel": 6, "ssid": "home",
     "age": 1000, "signalToNoiseRatio": 30},
    {"macAddress": "aabbcc000002", "frequency": 5180},
]}
OTHER_QUERY = {"wifiAccessPoints": [{"macAddress": "aabbcc000003"},
                                    {"macAddress": "aabbcc000004"}]}
GEOLOCATE_WIFI = [
    {"macAddress": "aabbcc000001", "age": 1000, "channel": 6, "signalStrength": -60,
     "signalToNoiseRatio": 30, "ssid": "home"},
    {"macAddress": "aabbcc000002", "channel": 36},
]


@dataclasses.dataclass
class Vendor:
    schema: str
    path: str
    expected_body: dict[str, Any]
    found: Any
    not_found: tuple[int, Any]

    def url(self, server: Any) -> str:
        return server.url + self.path


GOOGLE_STYLE_FOUND = {"location": {"lat": 51.5, "lng": -0.1}, "accuracy": 120.5}
VENDORS = {
    "ichnaea/v1": Vendor(
        "ichnaea/v1", "/v1/geolocate?key=upstream",
        {"wifiAccessPoints": GEOLOCATE_WIFI, "fallbacks": {"lacf": True, "ipf": False}},
        GOOGLE_STYLE_FOUND,
        (404, {"error": {"errors": [{"reason": "notFound"}], "code": 404}})),
    "combain/v1": Vendor(
        "combain/v1", "/?key=upstream&id=ichnaea",
        {"wifiAccessPoints": GEOLOCATE_WIFI, "fallbacks": {"lacf": True, "ipf": False}},
        GOOGLE_STYLE_FOUND,
        (404, {"error": {"code": 404, "message": "Not Found"}})),
    "googlemaps/v1": Vendor(
        "googlemaps/v1", "/geolocation/v1/geolocate?key=upstream",
        {"considerIp": False,
         "wifiAccessPoints": [{k: v for k, v in w.items() if k != "ssid"}
                              for w in GEOLOCATE_WIFI]},
        GOOGLE_STYLE_FOUND,
        (404, {"error": {"code": 404, "message": "Not Found",
                         "errors": [{"reason": "notFound"}]}})),
    "unwiredlabs/v1": Vendor(
        "unwiredlabs/v1", f"/v2/process#{TOKEN}",
        {"token": TOKEN, "fallbacks": {"lacf": True, "ipf": False},
         "wifi": [{"bssid": "aabbcc000001", "channel": 6, "frequency": 2437, "signal": -60,
                   "signalToNoiseRatio": 30},
                  {"bssid": "aabbcc000002", "channel": 36, "frequency": 5180}]},
        {"status": "ok", "balance": 99, "lat": 51.5, "lon": -0.1, "accuracy": 120.5},
        (200, {"status": "error", "message": "No matches found", "balance": 98})),
}
EXPECTED = {"location": {"lat": 51.5, "lng": -0.1}, "accuracy": 120.5}


class Env:
    def __init__(self, runtime: Any, client: Any, server: Any) -> None:
        self.runtime = runtime
        self.client = client
        self.server = server

    def locate(self, body: Any = None, key: str = KEY) -> Any:
        return self.client.post(f"/v1/geolocate?key={key}", json=QUERY if body is None else body)

    def respond(self, status: int, body: Any, delay: float = 0.0) -> None:
        def answer(request: Any) -> tuple[int, dict[str, str], Any]:
            if delay:
                time.sleep(delay)
            return status, dict(JSON), body

        self.server.respond = answer


@pytest.fixture
def setup(make_runtime, local_http_server, monkeypatch):
    def build(schema: str = "ichnaea/v1", *, url: str | None = None, timeout: float = 2.0,
              extra: tuple[Any, ...] = (), fragments: tuple[str, ...] = (),
              **columns: Any) -> Env:
        monkeypatch.setenv("ICHNAEA_FALLBACK__TIMEOUT", str(timeout))
        rt = make_runtime(plugins_disabled=["geoip"], extra=extra)
        known = {f.FIELD for f in rt.plugins.report_fragments()}
        missing = [name for name in fragments if name not in known]
        if missing:  # stand in for radio plugins that are not installed
            rt = make_runtime(plugins_disabled=["geoip"],
                              extra=(*extra, *(stand_in_fragment(f) for f in missing)))
        app = create_app(runtime=rt)
        app.testing = True
        values = dict(
            valid_key=KEY, maxreq=0, allow_fallback=True, allow_locate=True,
            allow_region=True, fallback_name="upstream", fallback_schema=schema,
            fallback_url=url or VENDORS[schema].url(local_http_server),
            fallback_ratelimit=10, fallback_ratelimit_interval=60,
            fallback_cache_expire=60, store_sample_locate=0, store_sample_submit=0)
        values.update(columns)
        ApiKeyRow.create(**values)
        return Env(rt, app.test_client(), local_http_server)

    return build


# -- every vendor: request format and outcomes


@pytest.mark.parametrize("schema", sorted(VENDORS))
def test_found(setup, schema):
    vendor = VENDORS[schema]
    env = setup(schema)
    env.respond(200, vendor.found)
    response = env.locate()
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == EXPECTED
    (request,) = env.server.requests
    assert request.method == "POST"
    assert request.path == vendor.path.split("#")[0]
    assert request.headers["User-Agent"] == "ichnaea"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == vendor.expected_body
    # the answer is cached: the same query does not reach the provider again
    again = env.locate()
    assert again.get_json() == EXPECTED
    assert len(env.server.requests) == 1


@pytest.mark.parametrize("schema", sorted(VENDORS))
def test_not_found_is_cached(setup, schema):
    env = setup(schema)
    env.respond(*VENDORS[schema].not_found)
    response = env.locate()
    assert response.status_code == 404
    assert response.get_json()["error"]["errors"][0]["reason"] == "notFound"
    assert env.locate().status_code == 404
    assert len(env.server.requests) == 1


@pytest.mark.parametrize("schema", sorted(VENDORS))
@pytest.mark.parametrize("status, body", [
    (500, {"error": "internal"}),
    (403, {"error": "forbidden"}),
    (200, "{this is not json"),
    (200, {"unexpected": "shape"}),
], ids=["500", "403", "malformed", "wrong-shape"])
def test_provider_errors_are_not_cached(setup, schema, status, body):
    env = setup(schema)
    env.respond(status, body)
    assert env.locate().status_code == 404
    assert env.locate().status_code == 404
    assert len(env.server.requests) == 2  # errors are not remembered


def test_unwiredlabs_error_status(setup):
    env = setup("unwiredlabs/v1")
    env.respond(200, {"status": "error", "message": "Invalid token"})
    assert env.locate().status_code == 404
    assert env.locate().status_code == 404
    assert len(env.server.requests) == 2


@pytest.mark.parametrize("schema", sorted(VENDORS))
def test_timeout(setup, schema):
    env = setup(schema, timeout=0.3)
    env.respond(200, VENDORS[schema].found, delay=1.5)
    start = time.monotonic()
    response = env.locate()
    elapsed = time.monotonic() - start
    assert response.status_code == 404
    assert elapsed < 1.2
    assert len(env.server.requests) == 1


def test_unreachable_provider(setup):
    env = setup(url="http://127.0.0.1:9/nothing-listens-here")
    assert env.locate().status_code == 404


def test_lacf_answer_scores_lower(setup):
    env = setup()
    env.respond(200, {**GOOGLE_STYLE_FOUND, "fallback": "lacf"})
    assert env.locate().get_json() == {**EXPECTED, "fallback": "lacf"}


# -- cells and Bluetooth beacons, read from the validated body

CELL = {"radioType": "lte", "mobileCountryCode": 262, "mobileNetworkCode": 1,
        "locationAreaCode": 5126, "cellId": 16504, "signalStrength": -90}


class AnyEntry(Schema):
    class Meta:
        unknown = EXCLUDE

    radioType = fields.String(allow_none=True)
    mobileCountryCode = fields.Integer(allow_none=True)
    mobileNetworkCode = fields.Integer(allow_none=True)
    locationAreaCode = fields.Integer(allow_none=True)
    cellId = fields.Integer(allow_none=True)
    signalStrength = fields.Integer(allow_none=True)
    macAddress = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    age = fields.Integer(allow_none=True)


def stand_in_fragment(field: str) -> tuple[str, Any]:
    class StandIn(Radio):
        """A radio that only reads its list of queries (no answers of its own)."""

        PLUGIN_NAME = f"stand-in-{field}"
        FIELD = field
        ENTRY_SCHEMA = AnyEntry
        DATA_ACCURACY = "medium" if field == "cellTowers" else "high"
        POSITION_ORDER = None
        REGION_ORDER = None

    class Plugin:
        @hookimpl
        def ichnaea_register_radios(self) -> list[Any]:
            return [StandIn]

    return (f"stand-in-{field}", Plugin())


def test_one_cell_query(setup):
    env = setup(fragments=("cellTowers",))
    env.respond(200, {"location": {"lat": 52.5, "lng": 13.4}, "accuracy": 5000.0,
                      "fallback": "lacf"})
    expected = {"location": {"lat": 52.5, "lng": 13.4}, "accuracy": 5000.0, "fallback": "lacf"}
    assert env.locate({"cellTowers": [CELL]}).get_json() == expected
    assert env.server.requests[0].json() == {
        "cellTowers": [CELL], "fallbacks": {"lacf": True, "ipf": False}}
    assert env.locate({"cellTowers": [CELL]}).get_json() == expected
    assert len(env.server.requests) == 1  # one cell: cached
    keys = env.runtime.redis.keys(b"cache:fallback:ichnaea:v1:1:upstream:cell:*")
    assert len(keys) == 1 and len(keys[0].rsplit(b"cell:", 1)[1]) == 11


def test_cell_query_without_area_fallback_is_not_cached(setup):
    env = setup(fragments=("cellTowers",))
    env.respond(200, GOOGLE_STYLE_FOUND)
    body = {"cellTowers": [CELL], "fallbacks": {"lacf": False}}
    assert env.locate(body).get_json() == EXPECTED
    assert env.locate(body).get_json() == EXPECTED
    assert len(env.server.requests) == 2
    assert env.server.requests[0].json()["fallbacks"] == {"lacf": False, "ipf": False}


def test_beacons_and_mixed_queries(setup):
    env = setup("googlemaps/v1", fragments=("cellTowers", "bluetoothBeacons"))
    env.respond(200, GOOGLE_STYLE_FOUND)
    beacons = [{"macAddress": "1a:2b:3c:4d:5e:01", "name": "tag"},
               {"macAddress": "1a2b3c4d5e02"}]
    # Google knows no Bluetooth: a beacon-only query asks nothing
    assert env.locate({"bluetoothBeacons": beacons}).status_code == 404
    assert env.server.requests == []
    mixed = {"bluetoothBeacons": beacons, "cellTowers": [CELL], **QUERY}
    assert env.locate(mixed).get_json() == EXPECTED
    assert env.locate(mixed).get_json() == EXPECTED
    assert len(env.server.requests) == 2  # mixed queries bypass the cache
    sent = env.server.requests[0].json()
    assert set(sent) == {"considerIp", "cellTowers", "wifiAccessPoints"}


def test_beacons_ichnaea(setup):
    env = setup(fragments=("bluetoothBeacons",))
    env.respond(200, GOOGLE_STYLE_FOUND)
    beacons = [{"macAddress": "1a:2b:3c:4d:5e:01", "name": "tag", "signalStrength": -70},
               {"macAddress": "1a2b3c4d5e02", "age": 5}]
    assert env.locate({"bluetoothBeacons": beacons}).get_json() == EXPECTED
    assert env.server.requests[0].json() == {
        "bluetoothBeacons": [
            {"macAddress": "1a2b3c4d5e01", "name": "tag", "signalStrength": -70},
            {"macAddress": "1a2b3c4d5e02", "age": 5}],
        "fallbacks": {"lacf": True, "ipf": False}}
    assert env.locate({"bluetoothBeacons": beacons}).get_json() == EXPECTED
    assert len(env.server.requests) == 1


# -- cache and rate limit


def test_cache_disabled(setup):
    env = setup(fallback_cache_expire=0)
    env.respond(200, GOOGLE_STYLE_FOUND)
    env.locate()
    env.locate()
    assert len(env.server.requests) == 2


def test_cache_is_shared_by_keys_of_one_provider_only(setup):
    env = setup()
    for name, provider in (("same-provider", "upstream"), ("other-provider", "elsewhere")):
        ApiKeyRow.create(valid_key=name, maxreq=0, allow_fallback=True, allow_locate=True,
                      fallback_name=provider, fallback_schema="ichnaea/v1",
                      fallback_url=VENDORS["ichnaea/v1"].url(env.server),
                      fallback_ratelimit=0, fallback_ratelimit_interval=60,
                      fallback_cache_expire=60)
    env.respond(200, GOOGLE_STYLE_FOUND)
    env.locate()
    env.locate(key="same-provider")
    assert len(env.server.requests) == 1
    env.locate(key="other-provider")
    assert len(env.server.requests) == 2


def test_inconsistent_cache_asks_the_provider(setup):
    env = setup()
    cache = FallbackCache(env.runtime.redis, "ichnaea/v1", "upstream", 60)
    ids = [("wifi", bytes.fromhex("aabbcc000001")), ("wifi", bytes.fromhex("aabbcc000002"))]
    # the same latitude, 700 km apart: not one place
    cache.set(ids[:1], {"lat": 51.5, "lon": 0.0, "accuracy": 100.0, "fallback": None})
    cache.set(ids[1:], {"lat": 51.5, "lon": 10.0, "accuracy": 100.0, "fallback": None})
    env.respond(200, GOOGLE_STYLE_FOUND)
    assert env.locate().get_json() == EXPECTED
    assert len(env.server.requests) == 1
    # the fresh answer replaced both entries: now a consistent hit
    assert env.locate().get_json() == EXPECTED
    assert len(env.server.requests) == 1


def test_partial_cache_hit_asks_the_provider(setup):
    env = setup()
    cache = FallbackCache(env.runtime.redis, "ichnaea/v1", "upstream", 60)
    cache.set([("wifi", bytes.fromhex("aabbcc000001"))],
              {"lat": 10.0, "lon": 10.0, "accuracy": 100.0, "fallback": None})
    env.respond(200, GOOGLE_STYLE_FOUND)
    assert env.locate().get_json() == EXPECTED
    assert len(env.server.requests) == 1


def test_rate_limit_reached(setup):
    env = setup(fallback_ratelimit=1, fallback_cache_expire=0)
    env.respond(200, GOOGLE_STYLE_FOUND)
    assert env.locate().status_code == 200
    assert env.locate(OTHER_QUERY).status_code == 404
    assert len(env.server.requests) == 1
    counters = [k for k in env.runtime.redis.keys("fallback_ratelimit:upstream:*")]
    assert len(counters) == 1


def test_cache_hits_do_not_count_against_the_rate_limit(setup):
    env = setup(fallback_ratelimit=1)
    env.respond(200, GOOGLE_STYLE_FOUND)
    for _ in range(3):
        assert env.locate().get_json() == EXPECTED
    assert len(env.server.requests) == 1


def test_rate_limit_zero_is_unlimited(setup):
    env = setup(fallback_ratelimit=0, fallback_cache_expire=0)
    env.respond(200, GOOGLE_STYLE_FOUND)
    for _ in range(3):
        assert env.locate().status_code == 200
    assert len(env.server.requests) == 3


def test_redis_down_means_no_provider_call(setup, make_runtime, local_http_server):
    env = setup()  # flushes the test databases and creates the key
    rt = make_runtime(plugins_disabled=["geoip"], redis_uri="redis://127.0.0.1:1/0")
    app = create_app(runtime=rt)
    app.testing = True
    env.respond(200, GOOGLE_STYLE_FOUND)
    response = app.test_client().post(f"/v1/geolocate?key={KEY}", json=QUERY)
    assert response.status_code == 404
    assert local_http_server.requests == []


# -- when the provider is not asked


@pytest.mark.parametrize("columns", [
    {"allow_fallback": False},
    {"fallback_url": None},
    {"fallback_name": None},
    {"fallback_ratelimit": None},
    {"fallback_ratelimit_interval": 0},
], ids=["not-allowed", "no-url", "no-name", "no-ratelimit", "no-interval"])
def test_keys_without_fallback_never_call(setup, columns):
    env = setup(**columns)
    env.respond(200, GOOGLE_STYLE_FOUND)
    assert env.locate().status_code == 404
    assert env.server.requests == []


def test_queries_without_networks_never_call(setup):
    env = setup()
    env.respond(200, GOOGLE_STYLE_FOUND)
    assert env.locate({}).status_code == 404
    one_wifi = {"wifiAccessPoints": [{"macAddress": "aabbcc000001"}]}
    assert env.locate(one_wifi).status_code == 404
    assert env.server.requests == []


def test_unwiredlabs_url_without_token_is_skipped(setup, local_http_server):
    env = setup("unwiredlabs/v1", url=local_http_server.url + "/v2/process")
    env.respond(200, VENDORS["unwiredlabs/v1"].found)
    response = env.locate()
    assert response.status_code == 404
    assert env.server.requests == []


def test_unknown_schema_is_skipped(setup):
    env = setup(url="http://127.0.0.1:9/", fallback_schema="acme/v7")
    assert env.locate().status_code == 404


def test_default_schema_is_ichnaea(setup, local_http_server):
    env = setup(url=local_http_server.url + "/v1/geolocate", fallback_schema=None)
    env.respond(200, GOOGLE_STYLE_FOUND)
    assert env.locate().get_json() == EXPECTED
    assert env.server.requests[0].json() == VENDORS["ichnaea/v1"].expected_body


def fixed_source(score: float, accuracy: float) -> Any:
    class FixedSource(PositionSource):
        PLUGIN_NAME = "fixed"
        DEFAULT_ORDER = 10

        def search(self, query: Any) -> list[Position]:
            return [Position(lat=48.0, lon=2.0, accuracy=accuracy, score=score,
                             source="fixed")]

    class Plugin:
        @hookimpl
        def ichnaea_register_position_sources(self) -> list[Any]:
            return [FixedSource]

    return ("fixed", Plugin())


def test_good_enough_internal_result_means_no_call(setup):
    env = setup(extra=[fixed_source(score=10.0, accuracy=50.0)])
    env.respond(200, GOOGLE_STYLE_FOUND)
    assert env.locate().get_json() == {"location": {"lat": 48.0, "lng": 2.0}, "accuracy": 50.0}
    assert env.server.requests == []


@pytest.mark.parametrize("score, accuracy", [(0.5, 50.0), (10.0, 5000.0)],
                         ids=["weak", "imprecise"])
def test_weak_or_imprecise_internal_result_asks_the_provider(setup, score, accuracy):
    env = setup(extra=[fixed_source(score=score, accuracy=accuracy)])
    env.respond(200, GOOGLE_STYLE_FOUND)
    assert env.locate().get_json() == EXPECTED
    assert len(env.server.requests) == 1


# -- nothing secret in the logs


def test_logs_hold_no_key_token_or_client_address(setup):
    env = setup("unwiredlabs/v1")
    with structlog.testing.capture_logs() as logs:
        env.respond(500, {"error": "boom"})
        env.client.post(f"/v1/geolocate?key={KEY}", json=QUERY,
                        headers={"X-Forwarded-For": "203.0.113.77"})
        env.respond(200, VENDORS["unwiredlabs/v1"].found)
        env.client.post(f"/v1/geolocate?key={KEY}", json=QUERY,
                        headers={"X-Forwarded-For": "203.0.113.77"})
    lookups = [e for e in logs if e["event"] == "fallback_lookup"]
    assert [e["outcome"] for e in lookups] == ["error", "found"]
    text = json.dumps(logs, default=str)
    assert TOKEN not in text
    assert KEY not in text
    assert "203.0.113.77" not in text
