"""The four wire formats, the provider-neutral query and the answer cache, in isolation."""

from __future__ import annotations

import math

import pytest

from ichnaea_fallback.cache import FallbackCache, rate_limit_reached
from ichnaea_fallback.query import cache_ids, provider_query
from ichnaea_fallback.schemas import (
    CombainV1Schema,
    GoogleMapsV1Schema,
    IchnaeaV1Schema,
    UnwiredLabsV1Schema,
)
from ichnaea_fallback.settings import FallbackSettings
from ichnaea_host.core.answers import ApiKey, Query
from ichnaea_host.core.geo import distance
from ichnaea_host.core.settings import ConfigError, load_plugin_settings

BLUE = [{"macAddress": "1a:2b:3c:4d:5e:01", "age": 10, "name": "tag", "signalStrength": -70},
        {"macAddress": "1a2b3c4d5e02", "signalStrength": -80}]
CELL = {"radioType": "lte", "mobileCountryCode": 262, "mobileNetworkCode": 1,
        "locationAreaCode": 5126, "cellId": 16504, "primaryScramblingCode": 120, "age": 20,
        "asu": 40, "signalStrength": -90, "timingAdvance": 3}
WIFI_LOOKUPS = [
    {"mac": "aabbcc000001", "age": 1000, "channel": 6, "frequency": 2437, "signal": -60,
     "snr": 30, "ssid": "home"},
    {"mac": "aabbcc000002", "age": None, "channel": 36, "frequency": 5180, "signal": None,
     "snr": None, "ssid": None},
]


def full_query(lacf: bool = True) -> dict:
    query = Query(api_key=ApiKey(), networks={"wifi": WIFI_LOOKUPS},
                  body={"cellTowers": [CELL], "bluetoothBeacons": BLUE},
                  fallbacks={"lacf": lacf, "ipf": True})
    return provider_query(query)


def test_provider_query_normalises_every_network():
    pquery = full_query()
    assert pquery["wifiAccessPoints"] == [
        {"macAddress": "aabbcc000001", "age": 1000, "channel": 6, "frequency": 2437,
         "signalStrength": -60, "signalToNoiseRatio": 30, "ssid": "home"},
        {"macAddress": "aabbcc000002", "channel": 36, "frequency": 5180},
    ]
    assert pquery["bluetoothBeacons"] == [
        {"macAddress": "1a2b3c4d5e01", "age": 10, "name": "tag", "signalStrength": -70},
        {"macAddress": "1a2b3c4d5e02", "signalStrength": -80},
    ]
    assert pquery["cellTowers"] == [CELL]
    assert pquery["fallbacks"] == {"lacf": True, "ipf": True}


def test_provider_query_drops_invalid_cells_and_lonely_beacons():
    bad = [
        {**CELL, "radioType": "cdma"},
        {**CELL, "mobileCountryCode": 0},
        {**CELL, "cellId": None},  # an area: nothing to ask a provider
        {**CELL, "locationAreaCode": 65534},
        "not a mapping",
    ]
    gsm_big = {"radioType": "gsm", "mobileCountryCode": 262, "mobileNetworkCode": 1,
               "locationAreaCode": 1, "cellId": 70000, "timingAdvance": 70, "asu": 15}
    query = Query(body={"cellTowers": [*bad, gsm_big],
                        "bluetoothBeacons": [BLUE[0], {"macAddress": "nope"}]})
    pquery = provider_query(query)
    # gsm with a 28-bit cell id is wcdma; wcdma has no timing advance; asu gives the signal
    assert pquery["cellTowers"] == [
        {"radioType": "wcdma", "mobileCountryCode": 262, "mobileNetworkCode": 1,
         "locationAreaCode": 1, "cellId": 70000, "asu": 15, "signalStrength": -101}]
    assert pquery["bluetoothBeacons"] == []
    assert pquery["wifiAccessPoints"] == []


def test_top_level_radio_type_and_duplicate_cells():
    cell = {k: v for k, v in CELL.items() if k != "radioType"}
    query = Query(body={"radioType": "lte",
                        "cellTowers": [{**cell, "signalStrength": -100},
                                       {**cell, "signalStrength": -80, "timingAdvance": 10}]})
    cells = provider_query(query)["cellTowers"]
    assert len(cells) == 1
    assert cells[0]["radioType"] == "lte"
    assert cells[0]["signalStrength"] == -100  # the kept entry had the lower timing advance


def test_ichnaea_and_combain_outbound():
    for schema in (IchnaeaV1Schema(None), CombainV1Schema(None)):
        url, body, headers = schema.build_request(full_query(lacf=False), "http://p/v1?key=k")
        assert url == "http://p/v1?key=k"
        assert headers == {"User-Agent": "ichnaea"}
        assert body == {
            "bluetoothBeacons": [
                {"macAddress": "1a2b3c4d5e01", "age": 10, "name": "tag", "signalStrength": -70},
                {"macAddress": "1a2b3c4d5e02", "signalStrength": -80}],
            "cellTowers": [{"radioType": "lte", "mobileCountryCode": 262,
                            "mobileNetworkCode": 1, "locationAreaCode": 5126,
                            "cellId": 16504, "primaryScramblingCode": 120, "age": 20,
                            "signalStrength": -90, "timingAdvance": 3}],
            "wifiAccessPoints": [
                {"macAddress": "aabbcc000001", "age": 1000, "channel": 6,
                 "signalStrength": -60, "signalToNoiseRatio": 30, "ssid": "home"},
                {"macAddress": "aabbcc000002", "channel": 36}],
            "fallbacks": {"lacf": False, "ipf": False},
        }


def test_googlemaps_outbound():
    url, body, headers = GoogleMapsV1Schema(None).build_request(full_query(), "https://g/?key=x")
    assert url == "https://g/?key=x"
    assert headers == {"User-Agent": "ichnaea"}
    assert body == {
        "considerIp": False,
        "cellTowers": [{"radioType": "lte", "mobileCountryCode": 262, "mobileNetworkCode": 1,
                        "locationAreaCode": 5126, "cellId": 16504, "age": 20,
                        "signalStrength": -90, "timingAdvance": 3}],
        "wifiAccessPoints": [
            {"macAddress": "aabbcc000001", "age": 1000, "channel": 6, "signalStrength": -60,
             "signalToNoiseRatio": 30},
            {"macAddress": "aabbcc000002", "channel": 36}],
    }
    # Google knows no Bluetooth: a beacon-only query asks nothing
    beacons_only = provider_query(Query(body={"bluetoothBeacons": BLUE}))
    assert GoogleMapsV1Schema(None).build_request(beacons_only, "https://g/") is None


def test_unwiredlabs_outbound():
    url, body, headers = UnwiredLabsV1Schema(None).build_request(
        full_query(), "https://eu1.unwiredlabs.com/v2/process#s3cr3t")
    assert url == "https://eu1.unwiredlabs.com/v2/process"
    assert headers == {"User-Agent": "ichnaea"}
    assert body == {
        "token": "s3cr3t",
        "fallbacks": {"lacf": True, "ipf": False},
        "cells": [{"radio": "lte", "mcc": 262, "mnc": 1, "lac": 5126, "cid": 16504,
                   "signal": -90, "tA": 3, "psc": 120, "asu": 40}],
        "wifi": [{"bssid": "aabbcc000001", "channel": 6, "frequency": 2437, "signal": -60,
                  "signalToNoiseRatio": 30},
                 {"bssid": "aabbcc000002", "channel": 36, "frequency": 5180}],
    }
    wcdma = provider_query(Query(body={"cellTowers": [{**CELL, "radioType": "wcdma"}]}))
    _, body, _ = UnwiredLabsV1Schema(None).build_request(wcdma, "https://u/#t")
    assert body["cells"][0]["radio"] == "umts"


@pytest.mark.parametrize("url", ["https://u/v2/process", "https://u/v2/process#", "https://u/#  "])
def test_unwiredlabs_needs_a_token(url):
    with pytest.raises(ValueError, match="token"):
        UnwiredLabsV1Schema(None).build_request(full_query(), url)


def test_empty_query_asks_nothing():
    empty = provider_query(Query())
    for schema in (IchnaeaV1Schema(None), CombainV1Schema(None), GoogleMapsV1Schema(None),
                   UnwiredLabsV1Schema(None)):
        assert schema.build_request(empty, "http://p/#t") is None


@pytest.mark.parametrize("schema", [IchnaeaV1Schema(None), CombainV1Schema(None),
                                    GoogleMapsV1Schema(None)])
def test_geolocate_style_answers(schema):
    found = {"location": {"lat": 1.0, "lng": 1.0}, "accuracy": 11.6}
    assert schema.parse_response(200, found) == {"lat": 1.0, "lon": 1.0, "accuracy": 11.6,
                                                 "fallback": None}
    assert schema.parse_response(200, {**found, "fallback": "lacf"})["fallback"] == "lacf"
    assert schema.parse_response(200, {**found, "fallback": "cidf"})["fallback"] is None
    assert schema.parse_response(404, None) is None
    assert schema.parse_response(404, {"error": {}}) is None
    for status, body in [
        (500, found), (403, found), (200, None), (200, []),
        (200, {"location": {"lat": 1.0, "lng": 1.0}}),
        (200, {"accuracy": 10}),
        (200, {"location": {"lat": math.nan, "lng": 1.0}, "accuracy": 10}),
        (200, {"location": {"lat": 1.0, "lng": math.inf}, "accuracy": 10}),
        (200, {"location": {"lat": 91.0, "lng": 1.0}, "accuracy": 10}),
        (200, {"location": {"lat": "1", "lng": 1.0}, "accuracy": 10}),
        (200, {"location": {"lat": True, "lng": 1.0}, "accuracy": 10}),
        (200, {"location": {"lat": 1.0, "lng": 1.0}, "accuracy": -1}),
    ]:
        with pytest.raises(ValueError):
            schema.parse_response(status, body)


def test_unwiredlabs_answers():
    schema = UnwiredLabsV1Schema(None)
    ok = {"status": "ok", "balance": 100, "lat": 51.5, "lon": -0.1, "accuracy": 250}
    assert schema.parse_response(200, ok) == {"lat": 51.5, "lon": -0.1, "accuracy": 250.0,
                                              "fallback": None}
    assert schema.parse_response(200, {**ok, "fallback": "lacf"})["fallback"] == "lacf"
    assert schema.parse_response(
        200, {"status": "error", "message": "No matches found", "balance": 99}) is None
    for status, body in [(200, {"status": "error", "message": "Invalid token"}),
                         (200, {"status": "ok", "lat": 1.0, "lon": 1.0}),
                         (200, "ok"), (200, None), (500, ok)]:
        with pytest.raises(ValueError):
            schema.parse_response(status, body)


def test_cache_identities():
    wifi_only = provider_query(Query(networks={"wifi": WIFI_LOOKUPS}))
    assert cache_ids(wifi_only) == [("wifi", bytes.fromhex("aabbcc000001")),
                                    ("wifi", bytes.fromhex("aabbcc000002"))]
    one_cell = provider_query(Query(body={"cellTowers": [CELL]}))
    (kind, raw), = cache_ids(one_cell)
    assert kind == "cell" and len(raw) == 11
    assert raw == bytes([3]) + (262).to_bytes(2, "big") + (1).to_bytes(2, "big") \
        + (5126).to_bytes(2, "big") + (16504).to_bytes(4, "big")
    no_lacf = provider_query(Query(body={"cellTowers": [CELL]},
                                   fallbacks={"lacf": False, "ipf": True}))
    assert cache_ids(no_lacf) is None
    blue_only = provider_query(Query(body={"bluetoothBeacons": BLUE}))
    assert [k for k, _ in cache_ids(blue_only)] == ["blue", "blue"]
    assert cache_ids(full_query()) is None  # mixed
    many = [{**WIFI_LOOKUPS[0], "mac": f"aabbcc0001{i:02x}"} for i in range(20)]
    assert cache_ids(provider_query(Query(networks={"wifi": many}))) is None


def test_settings_from_environment():
    settings = load_plugin_settings(FallbackSettings, "fallback",
                                    {"ICHNAEA_FALLBACK__TIMEOUT": "0.5"})
    assert settings.timeout == 0.5 and settings.pool_size == 20
    with pytest.raises(ConfigError, match="ICHNAEA_FALLBACK__TIMEOUT"):
        load_plugin_settings(FallbackSettings, "fallback", {"ICHNAEA_FALLBACK__TIMEOUT": "0"})


# -- the cache and the rate limit against the test Redis


@pytest.fixture
def redis_client(runtime):
    return runtime.redis


WIFI_IDS = [("wifi", bytes.fromhex("aabbcc000001")), ("wifi", bytes.fromhex("aabbcc000002"))]


def test_cache_round_trip_and_expiry(redis_client):
    cache = FallbackCache(redis_client, "ichnaea/v1", "prov", 60)
    assert cache.get(WIFI_IDS).status == "miss"
    answer = {"lat": 1.0, "lon": 2.0, "accuracy": 30.0, "fallback": None}
    assert cache.set(WIFI_IDS, answer)
    key = b"cache:fallback:ichnaea:v1:1:prov:wifi:" + bytes.fromhex("aabbcc000001")
    assert 0 < redis_client.ttl(key) <= 60
    hit = cache.get(WIFI_IDS)
    assert hit.status == "hit" and hit.answer == answer
    # another provider, or another wire format, does not share the entry
    assert FallbackCache(redis_client, "ichnaea/v1", "other", 60).get(WIFI_IDS).status == "miss"
    assert FallbackCache(redis_client, "combain/v1", "prov", 60).get(WIFI_IDS).status == "miss"
    cache.set(WIFI_IDS, None)
    assert cache.get(WIFI_IDS).status == "notfound"


def test_cache_combines_agreeing_answers(redis_client):
    cache = FallbackCache(redis_client, "ichnaea/v1", "prov", 60)
    lat = 51.5
    cache.set(WIFI_IDS[:1], {"lat": lat, "lon": 10.0, "accuracy": 100.0, "fallback": None})
    cache.set(WIFI_IDS[1:], {"lat": lat + 0.0001, "lon": 10.0, "accuracy": 200.0,
                             "fallback": None})
    hit = cache.get(WIFI_IDS)
    assert hit.status == "hit"
    assert hit.answer["lat"] == pytest.approx(lat + 0.00005)
    expected = distance(lat + 0.00005, 10.0, lat, 10.0) + 200.0
    assert hit.answer["accuracy"] == round(expected, 3) == pytest.approx(205.56, abs=0.01)


def test_cache_misses_when_entries_disagree_or_are_partial(redis_client):
    cache = FallbackCache(redis_client, "ichnaea/v1", "prov", 60)
    # same latitude, far apart in longitude: two different places
    cache.set(WIFI_IDS[:1], {"lat": 10.0, "lon": 10.0, "accuracy": 100.0, "fallback": None})
    assert cache.get(WIFI_IDS).status == "miss"  # only one of two networks known
    cache.set(WIFI_IDS[1:], {"lat": 10.0, "lon": 20.0, "accuracy": 100.0, "fallback": None})
    assert cache.get(WIFI_IDS).status == "inconsistent"
    cache.set(WIFI_IDS[1:], None)
    assert cache.get(WIFI_IDS).status == "inconsistent"
    cache.set(WIFI_IDS[1:], {"lat": 10.0, "lon": 10.0, "accuracy": 100.0, "fallback": "lacf"})
    assert cache.get(WIFI_IDS).status == "inconsistent"
    redis_client.set(cache.key(*WIFI_IDS[1]), b"{not json")
    assert cache.get(WIFI_IDS).status == "failure"


def test_rate_limit(redis_client):
    now = 1_700_000_000.0
    assert not rate_limit_reached(redis_client, "prov", 2, 60, now=now)
    assert not rate_limit_reached(redis_client, "prov", 2, 60, now=now)
    assert rate_limit_reached(redis_client, "prov", 2, 60, now=now)
    key = f"fallback_ratelimit:prov:{int(now) // 60}"
    assert int(redis_client.get(key)) == 3
    assert 0 < redis_client.ttl(key) <= 300
    # the next interval starts afresh; 0 means unlimited and counts nothing
    assert not rate_limit_reached(redis_client, "prov", 2, 60, now=now + 60)
    assert not rate_limit_reached(redis_client, "free", 0, 60, now=now)
    assert redis_client.get(f"fallback_ratelimit:free:{int(now) // 60}") is None
