"""The three submit endpoints: what they accept from real clients, what they
answer, and the reports they queue for the pipeline."""

from __future__ import annotations

import gzip
import json
import random
import time

import pytest

from ichnaea_host.api.openapi import checking_client

NOW_MS = 1_700_000_000_000


@pytest.fixture
def client(app):
    return checking_client(app)


def queued(runtime) -> list[dict]:
    return runtime.queue("update_incoming").dequeue()


def only_report(runtime) -> dict:
    items = queued(runtime)
    assert len(items) == 1, items
    return items[0]


def now_ms() -> int:
    return int(time.time() * 1000)


def mac(i: int) -> str:
    return f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"


# -- v2


def test_v2_report_is_queued_as_sent(client, runtime, api_key):
    report = {
        "carrier": "Telecom", "homeMobileCountryCode": 262, "homeMobileNetworkCode": 1,
        "timestamp": NOW_MS,
        "position": {"latitude": 51.5, "longitude": -0.1, "accuracy": 10.5, "altitude": 30.0,
                     "altitudeAccuracy": 5.0, "heading": 90.0, "pressure": 1013.0,
                     "speed": 2.5, "age": 1500, "source": "GNSS"},
        "wifiAccessPoints": [{"macAddress": "01:23:45:67:89:AB", "age": 3, "channel": 6,
                              "frequency": 2437, "signalStrength": -77,
                              "signalToNoiseRatio": 13, "ssid": "home", "radioType": "802.11n"}],
        "bluetoothBeacons": [{"macAddress": "ff:74:27:89:5a:77", "age": 2000, "name": "beacon",
                              "signalStrength": -110}],
        "unknownField": {"ignored": True},
    }
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": [report]})
    assert (response.status_code, response.get_json()) == (200, {})
    assert response.headers["Content-Type"] == "application/json"
    item = only_report(runtime)
    assert item["api_key"] == "test" and item["source"] == "gnss"
    got = item["report"]
    assert got["position"] == {**report["position"], "source": "gnss"}
    assert got["timestamp"] == NOW_MS
    assert got["wifiAccessPoints"] == report["wifiAccessPoints"]  # the MAC is kept as sent
    assert got["bluetoothBeacons"] == report["bluetoothBeacons"]
    assert got["carrier"] == "Telecom" and got["homeMobileCountryCode"] == 262
    assert "unknownField" not in got


def test_v2_position_defaults(client, runtime):
    items = [{"wifiAccessPoints": [{"macAddress": mac(1)}]},
             {"position": None, "wifiAccessPoints": [{"macAddress": mac(2)}]},
             {"position": {}, "wifiAccessPoints": [{"macAddress": mac(3)}]}]
    assert client.post("/v2/geosubmit", json={"items": items}).status_code == 200
    reports = [item["report"] for item in queued(runtime)]
    assert [r["position"] for r in reports] == [None, None, {}]
    assert all(abs(r["timestamp"] - now_ms()) < 60_000 for r in reports)


def test_unusable_timestamps_become_the_time_of_arrival(client, runtime):
    values = [None, "soon", 10**12, 10**13, -5, 1.5e15, [1]]
    items = [{"timestamp": value, "wifiAccessPoints": [{"macAddress": mac(1)}]}
             for value in values]
    assert client.post("/v2/geosubmit", json={"items": items}).status_code == 200
    got = [item["report"]["timestamp"] for item in queued(runtime)]
    assert len(got) == len(values)
    assert all(abs(timestamp - now_ms()) < 60_000 for timestamp in got)


def test_timestamps_as_strings_and_floats(client, runtime):
    items = [{"timestamp": str(NOW_MS), "wifiAccessPoints": [{"macAddress": mac(1)}]},
             {"timestamp": NOW_MS + 0.7, "wifiAccessPoints": [{"macAddress": mac(2)}]}]
    assert client.post("/v2/geosubmit", json={"items": items}).status_code == 200
    assert [i["report"]["timestamp"] for i in queued(runtime)] == [NOW_MS, NOW_MS]


def test_position_source_vocabulary(client, runtime):
    sources = ["gnss", "FIXED", "fused", "query", "gps", "manual", "", "2", 2, None]
    items = [{"position": {"latitude": 1.0, "longitude": 2.0, "source": source},
              "wifiAccessPoints": [{"macAddress": mac(i)}]} for i, source in enumerate(sources)]
    assert client.post("/v2/geosubmit", json={"items": items}).status_code == 200
    got = queued(runtime)
    assert [i["report"]["position"].get("source") for i in got] == \
        ["gnss", "fixed", "fused", "query"] + [None] * 6
    assert [i["source"] for i in got] == ["gnss", "fixed", "fused", "query"] + ["gnss"] * 6


def test_reports_without_networks_are_dropped(client, runtime):
    items = [{"position": {"latitude": 1.0, "longitude": 2.0}},
             {"wifiAccessPoints": [], "cellTowers": [], "bluetoothBeacons": []},
             {"wifiAccessPoints": [{"ssid": "no mac"}, {"macAddress": None}]},
             {"wifiAccessPoints": None, "bluetoothBeacons": [{"macAddress": mac(9)}]}]
    response = client.post("/v2/geosubmit", json={"items": items})
    assert (response.status_code, response.get_json()) == (200, {})
    item = only_report(runtime)
    assert item["report"]["bluetoothBeacons"] == [{"macAddress": mac(9)}]
    assert item["report"]["wifiAccessPoints"] == []
    # a batch of nothing usable is still accepted, and nothing is queued
    assert client.post("/v2/geosubmit", json={"items": items[:2]}).status_code == 200
    assert client.post("/v2/geosubmit", json={"items": []}).status_code == 200
    assert queued(runtime) == []


def test_lenient_types(client, runtime):
    report = {
        "timestamp": NOW_MS,
        "position": {"latitude": "51.5", "longitude": -0.1, "accuracy": "", "altitude": None,
                     "speed": float("nan"), "heading": float("inf"), "age": "1500"},
        "wifiAccessPoints": [{"macAddress": "01-23-45-67-89-ab", "signalStrength": "-70",
                              "channel": 6.9, "frequency": None, "age": -200,
                              "signalToNoiseRatio": True}],
    }
    response = client.post("/v2/geosubmit", data=json.dumps({"items": [report]}),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    got = only_report(runtime)["report"]
    assert got["position"] == {"latitude": 51.5, "longitude": -0.1, "age": 1500}
    assert got["wifiAccessPoints"] == [{"macAddress": "01-23-45-67-89-ab", "signalStrength": -70,
                                        "channel": 6, "age": -200, "signalToNoiseRatio": 1}]


def test_new_radios_are_kept(client, runtime):
    report = {"position": {"latitude": 60.1, "longitude": 24.9},
              "wifiAccessPoints": [{"macAddress": mac(1), "frequency": 6115, "channel": 33}],
              "cellTowers": [{"radioType": "nr", "mobileCountryCode": 244,
                              "mobileNetworkCode": 91, "locationAreaCode": 1234,
                              "cellId": 68719476735, "signalStrength": -90}]}
    assert client.post("/v2/geosubmit", json={"items": [report]}).status_code == 200
    got = only_report(runtime)["report"]
    assert got["wifiAccessPoints"] == [{"macAddress": mac(1), "frequency": 6115, "channel": 33}]
    assert got["cellTowers"][0]["radioType"] == "nr"
    assert got["cellTowers"][0]["cellId"] == 68719476735


def test_null_entries_in_network_lists_are_skipped(client, runtime):
    report = {"wifiAccessPoints": [None, {"macAddress": mac(1)}, None]}
    assert client.post("/v2/geosubmit", json={"items": [report]}).status_code == 200
    assert only_report(runtime)["report"]["wifiAccessPoints"] == [{"macAddress": mac(1)}]


def test_submission_without_usable_key_is_anonymous(client, runtime):
    report = {"items": [{"wifiAccessPoints": [{"macAddress": mac(1)}]}]}
    for query in ("", "?key=", "?key=%25KEY%25", "?key=unknown-key"):
        assert client.post("/v2/geosubmit" + query, json=report).status_code == 200
        assert only_report(runtime)["api_key"] is None


# -- v1


def test_v1_flat_reports(client, runtime, api_key):
    report = {
        "latitude": -22.7539192, "longitude": -43.4371081, "accuracy": 10.0, "altitude": 100.0,
        "altitudeAccuracy": 50.0, "timestamp": 1405602028568, "heading": 45.0, "speed": 3.6,
        "source": "fused",
        "bluetoothBeacons": [{"macAddress": "ff:74:27:89:5a:77", "age": 2000, "name": "beacon",
                              "signalStrength": -110}],
        "wifiAccessPoints": [{"macAddress": "01:23:45:67:89:ab", "age": 3, "channel": 6,
                              "frequency": 2437, "signalToNoiseRatio": 13,
                              "signalStrength": -77},
                             {"macAddress": "23:45:67:89:ab:cd"}],
        "position": {"latitude": 1.0},  # not part of the v1 format
    }
    response = client.post(f"/v1/geosubmit?key={api_key}", json={"items": [report]})
    assert (response.status_code, response.get_json()) == (200, {})
    item = only_report(runtime)
    assert item["source"] == "fused" and item["api_key"] == "test"
    got = item["report"]
    assert got["position"] == {"latitude": -22.7539192, "longitude": -43.4371081,
                               "accuracy": 10.0, "altitude": 100.0, "altitudeAccuracy": 50.0,
                               "heading": 45.0, "speed": 3.6, "source": "fused"}
    assert got["timestamp"] == 1405602028568
    assert got["wifiAccessPoints"] == report["wifiAccessPoints"]
    assert got["bluetoothBeacons"] == report["bluetoothBeacons"]
    assert "latitude" not in got and "source" not in got


def test_v1_report_without_position(client, runtime):
    body = {"items": [{"wifiAccessPoints": [{"macAddress": mac(1)}]}]}
    assert client.post("/v1/geosubmit", json=body).status_code == 200
    item = only_report(runtime)
    assert "position" not in item["report"] and item["source"] == "gnss"


# -- v0


def test_v0_reports(client, runtime, api_key):
    report = {
        "lat": -22.7539192, "lon": -43.4371081, "time": "2024-03-01T12:00:00.000Z",
        "accuracy": 10.0, "altitude": 100.0, "altitude_accuracy": 1.0, "heading": 45.0,
        "speed": 13.88, "radio": "gsm",
        "blue": [{"key": "ff:74:27:89:5a:77", "age": 2000, "name": "beacon", "signal": -110}],
        "wifi": [{"key": "01:23:45:67:89:ab", "age": 2000, "channel": 11, "frequency": 2412,
                  "signal": -51, "radio": "802.11g"}],
    }
    response = client.post(f"/v1/submit?key={api_key}", json={"items": [report]},
                           headers={"X-Nickname": "Alice"})
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    item = only_report(runtime)
    assert item["api_key"] == "test" and item["source"] == "gnss"
    got = item["report"]
    assert got["timestamp"] == 1709294400000
    assert got["position"] == {"latitude": -22.7539192, "longitude": -43.4371081,
                               "accuracy": 10.0, "altitude": 100.0, "altitudeAccuracy": 1.0,
                               "heading": 45.0, "speed": 13.88}
    assert got["bluetoothBeacons"] == [{"macAddress": "ff:74:27:89:5a:77", "age": 2000,
                                        "name": "beacon", "signalStrength": -110}]
    assert got["wifiAccessPoints"] == [{"macAddress": "01:23:45:67:89:ab", "age": 2000,
                                        "channel": 11, "frequency": 2412,
                                        "signalStrength": -51, "radioType": "802.11g"}]
    assert "Alice" not in json.dumps(item)


def test_v0_geoclue_submission(client, runtime):
    """What GeoClue's legacy submit sends: an ISO time with an offset, a
    report-level radio and cells with short names."""
    report = {"lat": 48.85, "lon": 2.35, "accuracy": 20.0, "altitude": 35.0,
              "time": "2024-03-01T13:00:00+01:00", "radioType": "gsm",
              "wifi": [{"key": "0123456789ab", "signal": -60, "frequency": 2437},
                       {"key": "0123456789ac", "signal": -70, "frequency": 5180}],
              "cell": [{"radio": "gsm", "cid": 1234, "mcc": 208, "mnc": 1, "lac": 5}]}
    assert client.post("/v1/submit", json={"items": [report]}).status_code == 204
    got = only_report(runtime)["report"]
    assert got["timestamp"] == 1709294400000  # the offset is honoured
    assert [w["macAddress"] for w in got["wifiAccessPoints"]] == ["0123456789ab",
                                                                  "0123456789ac"]
    assert got["cellTowers"][0]["cellId"] == 1234
    assert got["cellTowers"][0]["mobileCountryCode"] == 208


def test_v0_unusable_time(client, runtime):
    values = ["1710-02-28", "yesterday", 5, None, "2024-13-45", {}]
    items = [{"lat": 1.0, "lon": 2.0, "time": value, "wifi": [{"key": mac(1)}]}
             for value in values]
    assert client.post("/v1/submit", json={"items": items}).status_code == 204
    got = [item["report"]["timestamp"] for item in queued(runtime)]
    assert len(got) == len(values)
    assert all(abs(timestamp - now_ms()) < 60_000 for timestamp in got)


def test_v0_names_only(client, runtime):
    # v2 names inside a v0 report are not part of that format
    report = {"latitude": 1.0, "lat": 2.0, "lon": 3.0,
              "wifi": [{"macAddress": mac(1), "key": mac(2), "signalStrength": -50}],
              "wifiAccessPoints": [{"macAddress": mac(3)}]}
    assert client.post("/v1/submit", json={"items": [report]}).status_code == 204
    got = only_report(runtime)["report"]
    assert got["position"] == {"latitude": 2.0, "longitude": 3.0}
    assert got["wifiAccessPoints"] == [{"macAddress": mac(2)}]


# -- sampling and backends


def test_store_sample_submit(client, runtime, api_key_factory):
    never = api_key_factory("never", store_sample_submit=0)
    unset = api_key_factory("unset", store_sample_submit=None)
    body = {"items": [{"wifiAccessPoints": [{"macAddress": mac(1)}]}]}
    for key in (never, unset):
        response = client.post(f"/v2/geosubmit?key={key}", json=body)
        assert (response.status_code, response.get_json()) == (200, {})
    assert queued(runtime) == []
    always = api_key_factory("always", store_sample_submit=100)
    assert client.post(f"/v2/geosubmit?key={always}", json=body).status_code == 200
    assert only_report(runtime)["api_key"] == "always"


@pytest.mark.parametrize("uri", ["redis://127.0.0.1:1/0", "redis+cluster://127.0.0.1:1/"])
def test_submit_answers_503_without_redis(make_runtime, uri):
    from ichnaea_host.app import create_app

    make_runtime()
    down = make_runtime(redis_uri=uri)
    client = create_app(runtime=down).test_client()
    body = {"items": [{"wifiAccessPoints": [{"macAddress": mac(1)}]}]}
    for path in ("/v2/geosubmit", "/v1/geosubmit"):
        response = client.post(path, json=body)
        assert response.status_code == 503
        assert response.get_json()["error"]["errors"][0]["reason"] == "serviceUnavailable"
    v0 = {"items": [{"lat": 1.0, "lon": 2.0, "wifi": [{"key": mac(1)}]}]}
    assert client.post("/v1/submit", json=v0).status_code == 503
    # nothing to keep: nothing is lost by accepting it
    assert client.post("/v2/geosubmit", json={"items": []}).status_code == 200


def test_submit_keeps_answering_without_database(make_runtime, api_key_factory):
    from ichnaea_host.app import create_app

    first = make_runtime()
    api_key_factory("test")
    down = make_runtime(db_readonly_uri="mysql+pymysql://root@127.0.0.1:1/ichnaea")
    client = create_app(runtime=down).test_client()
    body = {"items": [{"wifiAccessPoints": [{"macAddress": mac(1)}]}]}
    response = client.post("/v2/geosubmit?key=test", json=body)
    assert (response.status_code, response.get_json()) == (200, {})
    item = only_report(first)
    assert item["api_key"] is None  # the key could not be checked


def test_a_batch_of_2000_gzip_reports(client, runtime, api_key):
    """What NeoStumbler sends at most: 2000 gzipped reports in one request."""
    rng = random.Random(7)
    items = [{"timestamp": NOW_MS - i,
              "position": {"latitude": 51.5 + rng.random() / 100, "longitude": -0.1,
                           "accuracy": 8.0, "source": "gps"},
              "wifiAccessPoints": [{"macAddress": mac(rng.randrange(1 << 24)),
                                    "signalStrength": -rng.randrange(30, 95),
                                    "frequency": 2412} for _ in range(10)],
              "cellTowers": [{"radioType": "lte", "mobileCountryCode": 234,
                              "mobileNetworkCode": 15, "locationAreaCode": 1, "cellId": i}]}
             for i in range(2000)]
    data = gzip.compress(json.dumps({"items": items}).encode())
    response = client.post(f"/v2/geosubmit?key={api_key}", data=data, headers={
        "Content-Encoding": "gzip", "Content-Type": "application/json",
        "User-Agent": "NeoStumbler/18"})
    assert (response.status_code, response.get_json()) == (200, {})
    queue = runtime.queue("update_incoming")
    assert queue.size() == 2000
    first = queue.dequeue(1)[0]
    assert first["report"]["timestamp"] == NOW_MS
    assert len(first["report"]["wifiAccessPoints"]) == 10
