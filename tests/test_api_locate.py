"""Geolocate and region queries as real clients send them, the located
queries the service keeps for its pipeline, and answers without a database
or Redis."""

from __future__ import annotations

import datetime

import pytest

from ichnaea_host.api.openapi import checking_client

LONDON_IP = "81.2.69.160"
LONDON = {"lat": 51.5142, "lng": -0.0931}
MACS = ["02:00:5e:10:00:01", "02:00:5e:10:00:02", "02:00:5e:10:00:03"]
UNKNOWN_MAC = "02:00:5e:10:00:99"
NOWHERE = {"X-Forwarded-For": "192.0.2.1"}  # an address GeoIP knows nothing about


@pytest.fixture
def client(app):
    return checking_client(app)


@pytest.fixture
def stations(client, api_key, internal_export, drain, runtime):
    """Three WiFi networks the service learnt today, near 51.5, -0.1."""
    reports = [{"position": {"latitude": 51.5 + i * 1e-4, "longitude": -0.1, "accuracy": 5.0,
                             "source": "gnss"},
                "wifiAccessPoints": [{"macAddress": m, "signalStrength": -60} for m in MACS]}
               for i in range(2)]
    assert client.post(f"/v2/geosubmit?key={api_key}",
                       json={"items": reports}).status_code == 200
    drain()
    assert runtime.queue("update_incoming").size() == 0
    return MACS


def locate(client, body, key="test", **headers):
    return client.post(f"/v1/geolocate?key={key}", json=body, headers=headers)


def wifi(macs) -> dict:
    return {"wifiAccessPoints": [{"macAddress": m} for m in macs]}


def stored(runtime) -> list[dict]:
    return runtime.queue("update_incoming").dequeue()


# -- what clients send


def test_mac_addresses_in_any_spelling(client, stations):
    spellings = [MACS[0].upper(), MACS[1].replace(":", "-"), MACS[2].replace(":", "")]
    response = locate(client, wifi(spellings), **NOWHERE)
    assert response.status_code == 200
    data = response.get_json()
    assert abs(data["location"]["lat"] - 51.50005) < 0.001
    assert "fallback" not in data


def test_lenient_entries(client, stations):
    body = {"wifiAccessPoints": [
        {"macAddress": MACS[0], "signalStrength": "-61", "age": -1500, "channel": None},
        {"macAddress": MACS[1], "signalStrength": -70.4, "ssid": None, "frequency": 6115},
        {"macAddress": MACS[2], "signalToNoiseRatio": "", "age": "20"},
        None,
    ], "cellTowers": None, "bluetoothBeacons": None, "considerIp": None, "fallbacks": None}
    response = locate(client, body, **NOWHERE)
    assert response.status_code == 200
    assert abs(response.get_json()["location"]["lng"] + 0.1) < 0.001


def test_geoclue_query(client, api_key):
    """GeoClue: a report-level radio type, a cell without one, lower-case WiFi."""
    body = {"radioType": "gsm",
            "cellTowers": [{"cellId": 12345, "mobileCountryCode": 234, "mobileNetworkCode": 15,
                            "locationAreaCode": 1}],
            "wifiAccessPoints": [{"macAddress": UNKNOWN_MAC, "signalStrength": -50},
                                 {"macAddress": MACS[0], "signalStrength": -60}]}
    response = locate(client, body, **{"X-Forwarded-For": LONDON_IP})
    assert response.status_code == 200
    assert response.get_json() == {"location": LONDON, "accuracy": 164000.0, "fallback": "ipf"}


@pytest.mark.parametrize("radio", [None, "umts", "cdma", "nr", "LTE", 5])
def test_any_report_level_radio_type(client, api_key, radio):
    body = {"radioType": radio, "cellTowers": [
        {"radioType": radio, "mobileCountryCode": "262", "mobileNetworkCode": "01",
         "locationAreaCode": 5, "cellId": 6, "psc": 7}]}
    response = locate(client, body, **{"X-Forwarded-For": LONDON_IP})
    assert response.status_code == 200
    assert response.get_json()["location"] == LONDON


def test_microg_query(client, stations):
    body = {"considerIp": False, "fallbacks": {"lacf": False, "ipf": False},
            "wifiAccessPoints": [{"macAddress": m, "age": 0, "channel": 6, "frequency": 2437,
                                  "signalStrength": -60, "signalToNoiseRatio": 20,
                                  "ssid": "net"} for m in MACS]}
    response = locate(client, body, **{"X-Forwarded-For": LONDON_IP,
                                       "X-Ichnaea-Contribute-Opt-In": "1"})
    assert response.status_code == 200
    assert "fallback" not in response.get_json()


@pytest.mark.parametrize("forwarded, found", [
    (f"{LONDON_IP}, 10.0.0.1, 192.0.2.7", True),
    (f"{LONDON_IP}:51234", True),
    ("[2a02:ff80::1]:443", True),
    ("unknown, 81.2.69.160", False),
    ("", False),
])
def test_forwarded_for(client, api_key, forwarded, found):
    response = locate(client, {}, **{"X-Forwarded-For": forwarded})
    assert response.status_code == (200 if found else 404)


def test_ip_fallback_switches(client, api_key):
    london = {"X-Forwarded-For": LONDON_IP}
    for body in ({"considerIp": False}, {"considerIp": "false"}, {"considerIp": 0},
                 {"fallbacks": {"ipf": False}}, {"fallbacks": {"ipf": "0"}}):
        assert locate(client, body, **london).status_code == 404, body
    for body in ({"considerIp": True}, {"considerIp": "no"}, {"considerIp": None},
                 {"considerIp": False, "fallbacks": {}}, {"fallbacks": {"ipf": None}}):
        assert locate(client, body, **london).status_code == 200, body


def test_country(client, api_key):
    response = client.post(f"/v1/country?key={api_key}", json={},
                           headers={"X-Forwarded-For": LONDON_IP})
    assert (response.status_code, response.get_json()) == (
        200, {"country_code": "GB", "country_name": "United Kingdom"})
    response = client.post(f"/v1/country?key={api_key}", json=wifi([UNKNOWN_MAC, MACS[0]]),
                           headers={"X-Forwarded-For": LONDON_IP})
    assert response.get_json() == {"country_code": "GB", "country_name": "United Kingdom",
                                   "fallback": "ipf"}
    response = client.get(f"/v1/country?key={api_key}", headers=NOWHERE)
    assert response.status_code == 404


# -- located queries kept for the pipeline


def test_a_query_with_new_networks_is_stored(client, stations, runtime):
    macs = [m.upper() for m in MACS] + [UNKNOWN_MAC]
    body = {"wifiAccessPoints": [{"macAddress": m, "signalStrength": -55, "channel": 1}
                                 for m in macs]}
    response = locate(client, body, **{"X-Forwarded-For": LONDON_IP})
    assert response.status_code == 200
    answer = response.get_json()
    [item] = stored(runtime)
    assert item["api_key"] == "test" and item["source"] == "query"
    report = item["report"]
    assert report["fallbacks"] == {"ipf": True, "lacf": True}
    assert report["position"] == {"latitude": answer["location"]["lat"],
                                  "longitude": answer["location"]["lng"],
                                  "accuracy": answer["accuracy"], "source": "query"}
    assert sorted(w["macAddress"] for w in report["wifiAccessPoints"]) == \
        sorted(m.replace(":", "") for m in MACS + [UNKNOWN_MAC])
    assert all(w["frequency"] == 2412 and w["signalStrength"] == -55
               for w in report["wifiAccessPoints"])


def test_networks_all_seen_today_are_not_stored(client, stations, runtime):
    assert locate(client, wifi(MACS), **NOWHERE).status_code == 200
    assert stored(runtime) == []


def test_networks_not_seen_today_are_stored(client, stations, runtime):
    from ichnaea_wifi.models import MODEL

    yesterday = datetime.date.today() - datetime.timedelta(days=2)
    for model in (MODEL,):
        model.update(last_seen=yesterday).execute()
    assert locate(client, wifi(MACS), **NOWHERE).status_code == 200
    assert len(stored(runtime)) == 1


def test_sample_rates(client, stations, runtime, api_key_factory):
    body = wifi(MACS + [UNKNOWN_MAC])
    runtime.redis.set("global_locate_sample_rate", "0")
    assert locate(client, body, **NOWHERE).status_code == 200
    assert stored(runtime) == []
    runtime.redis.set("global_locate_sample_rate", "not a number")
    assert locate(client, body, **NOWHERE).status_code == 200
    assert len(stored(runtime)) == 1
    runtime.redis.delete("global_locate_sample_rate")
    for columns in ({"store_sample_locate": 0}, {"store_sample_locate": None}):
        key = api_key_factory("sampled", **columns)
        assert locate(client, body, key=key, **NOWHERE).status_code == 200
    assert stored(runtime) == []


def test_answers_not_from_own_stations_are_not_stored(client, stations, runtime, api_key):
    # GeoIP answers, with and without networks, and region answers
    assert locate(client, {}, **{"X-Forwarded-For": LONDON_IP}).status_code == 200
    response = locate(client, wifi([UNKNOWN_MAC, "02:00:5e:10:00:98"]),
                      **{"X-Forwarded-For": LONDON_IP})
    assert response.get_json()["fallback"] == "ipf"
    response = client.post(f"/v1/country?key={api_key}", json=wifi(MACS + [UNKNOWN_MAC]),
                           headers={"X-Forwarded-For": LONDON_IP})
    assert response.status_code == 200
    assert stored(runtime) == []


# -- backends down


def test_locate_without_database(make_runtime, api_key_factory):
    from ichnaea_host.app import create_app

    make_runtime()
    down = make_runtime(db_readonly_uri="mysql+pymysql://root@127.0.0.1:1/ichnaea")
    client = create_app(runtime=down).test_client()
    # the key cannot be checked: the request is served as the original did
    response = client.get("/v1/geolocate?key=never-created",
                          headers={"X-Forwarded-For": LONDON_IP})
    assert (response.status_code, response.get_json()) == (
        200, {"location": LONDON, "accuracy": 164000.0})
    response = client.post("/v1/geolocate?key=never-created", json=wifi(MACS),
                           headers={"X-Forwarded-For": LONDON_IP})
    assert response.get_json()["fallback"] == "ipf"
    response = client.get("/v1/country?key=never-created",
                          headers={"X-Forwarded-For": LONDON_IP})
    assert response.get_json()["country_code"] == "GB"


def test_locate_from_stations_without_redis(stations, make_runtime, runtime):
    from ichnaea_host.app import create_app

    down = make_runtime(redis_uri="redis://127.0.0.1:1/0")
    client = create_app(runtime=down).test_client()
    response = locate(client, wifi(MACS + [UNKNOWN_MAC]), **NOWHERE)
    assert response.status_code == 200
    assert abs(response.get_json()["location"]["lat"] - 51.50005) < 0.001


# -- confidence


def locate_at(client, body, level, **headers):
    return client.post(f"/v1/geolocate?key=test&confidence={level}", json=body, headers=headers)


def source_table(runtime, name):
    return next(s for s in runtime.plugins.position_sources() if s.PLUGIN_NAME == name).CONFIDENCE


def test_confidence_scales_the_accuracy_by_the_source_measure(client, stations, runtime):
    from ichnaea_host.core.results import confidence_factor

    default = locate(client, wifi(MACS), **NOWHERE).get_json()
    assert locate_at(client, wifi(MACS), 95, **NOWHERE).get_json() == default
    answers = {level: locate_at(client, wifi(MACS), level, **NOWHERE).get_json()
               for level in (50, 68, 80, 99)}
    for level, answer in answers.items():
        assert answer["location"] == default["location"]  # the same position, another circle
        factor = confidence_factor(level, source_table(runtime, "wifi"))
        assert answer["accuracy"] == pytest.approx(default["accuracy"] * factor, rel=1e-6)
    accuracies = [answers[level]["accuracy"] for level in (50, 68, 80)]
    assert accuracies == sorted(accuracies) and accuracies[-1] < answers[99]["accuracy"]


def test_confidence_of_an_ip_answer(client, api_key, runtime):
    from ichnaea_host.core.results import confidence_factor

    london = {"X-Forwarded-For": LONDON_IP}
    default = locate(client, {}, **london).get_json()
    answer = locate_at(client, {}, 68, **london).get_json()
    expected = default["accuracy"] * confidence_factor(68, source_table(runtime, "geoip"))
    assert answer["accuracy"] == pytest.approx(expected, rel=1e-6)
    assert answer["accuracy"] < default["accuracy"]


@pytest.mark.parametrize("value", ["49", "100", "high", "", "68.5", "-70"])
def test_confidence_outside_50_to_99_is_a_parse_error(client, api_key, value):
    response = locate_at(client, {}, value, **{"X-Forwarded-For": LONDON_IP})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"]["errors"][0]["reason"] == "parseError"
    assert "confidence" in body["details"]["validation"]


def test_confidence_factor_without_and_with_a_measure():
    from ichnaea_host.core.results import confidence_factor

    # a circular normal error: the 50 % radius is sqrt(ln 0.5 / ln 0.05) of the 95 % one
    assert confidence_factor(50) == pytest.approx(0.4810, abs=1e-4)
    assert confidence_factor(99) == pytest.approx(1.2399, abs=1e-4)
    assert confidence_factor(95) == 1.0
    table = {50: 0.2, 90: 0.6, 99: 2.0}
    assert confidence_factor(70, table) == pytest.approx(0.4)  # halfway from 50 to 90
    assert confidence_factor(95, table) == 1.0  # the default answers the accuracy as it is
    assert confidence_factor(98, {50: 0.2, 90: 0.6}) == pytest.approx(confidence_factor(98))
