"""microG's extended geolocate answer: ``raw`` lists the query's networks,
each with its learnt position or ``omit: true``; only API keys with
``allow_raw`` (``ichnaea apikey create KEY --allow-raw true``) get it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ichnaea_host.api.openapi import checking_client
from ichnaea_host.cli.commands import cli

NEAR = ["02:00:5e:40:00:01", "02:00:5e:40:00:02", "02:00:5e:40:00:03"]
FAR = "02:00:5e:40:00:04"
BEACONS = ["02:00:5e:41:00:01", "02:00:5e:41:00:02"]
UNKNOWN = "02:00:5e:40:00:99"
NOWHERE = {"X-Forwarded-For": "192.0.2.1"}


@pytest.fixture
def learnt(app, api_key_factory, internal_export, drain):
    client = checking_client(app)
    api_key_factory("plain")
    api_key_factory("microg", allow_raw=True)
    items = []
    for i in range(2):
        items.append({"position": {"latitude": 52.52 + i * 1e-4, "longitude": 13.405,
                                   "accuracy": 5.0, "source": "gps"},
                      "wifiAccessPoints": [{"macAddress": m, "signalStrength": -60}
                                           for m in NEAR],
                      "bluetoothBeacons": [{"macAddress": m} for m in BEACONS]})
        items.append({"position": {"latitude": 48.137, "longitude": 11.575 + i * 1e-4,
                                   "accuracy": 5.0, "source": "gps"},
                      "wifiAccessPoints": [{"macAddress": FAR},
                                           {"macAddress": "02:00:5e:40:00:aa"}]})
    assert client.post("/v2/geosubmit?key=plain", json={"items": items}).status_code == 200
    drain()
    return client


def query(*macs, beacons=()):
    return {"considerIp": False, "wifiAccessPoints": [{"macAddress": m} for m in macs],
            "bluetoothBeacons": [{"macAddress": m} for m in beacons]}


def test_raw_for_allowed_keys(learnt):
    response = learnt.post("/v1/geolocate?key=microg",
                           json=query(*NEAR, FAR, UNKNOWN, beacons=BEACONS), headers=NOWHERE)
    assert response.status_code == 200
    data = response.get_json()
    raw = {(next(k for k in e if k in ("wifiAccessPoint", "bluetoothBeacon")),
            e.get("wifiAccessPoint", e.get("bluetoothBeacon"))["macAddress"]): e
           for e in data["raw"]}
    assert len(data["raw"]) == 7
    for mac in NEAR:
        entry = raw[("wifiAccessPoint", mac)]
        assert entry["omit"] is False
        assert abs(entry["location"]["lat"] - 52.52005) < 0.001
        assert abs(entry["location"]["lng"] - 13.405) < 0.001
        assert 0 < entry["accuracy"] < 500
    for mac in BEACONS:
        assert raw[("bluetoothBeacon", mac)]["omit"] is False
    # far from the answer (moved or moving) and unknown: omit, no position
    for mac in (FAR, UNKNOWN):
        assert raw[("wifiAccessPoint", mac)] == {"wifiAccessPoint": {"macAddress": mac},
                                                 "omit": True}


def test_no_raw_for_other_keys(learnt):
    response = learnt.post("/v1/geolocate?key=plain", json=query(*NEAR), headers=NOWHERE)
    assert response.status_code == 200
    assert "raw" not in response.get_json()


def test_no_raw_in_misses(learnt):
    response = learnt.post("/v1/geolocate?key=microg", json=query(UNKNOWN, "02:00:5e:40:00:98"),
                           headers=NOWHERE)
    assert response.status_code == 404
    assert "raw" not in response.get_json()


def test_ip_answer_lists_networks_to_omit(learnt):
    response = learnt.post("/v1/geolocate?key=microg",
                           json={"wifiAccessPoints": [{"macAddress": UNKNOWN},
                                                      {"macAddress": "02:00:5e:40:00:98"}]},
                           headers={"X-Forwarded-For": "81.2.69.160"})
    assert response.status_code == 200
    data = response.get_json()
    assert data["fallback"] == "ipf"
    assert [e["omit"] for e in data["raw"]] == [True, True]


def test_cli_sets_allow_raw(runtime, backend_uris, tmp_path, app, internal_export, drain):
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
           "ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "INFO"}
    result = CliRunner().invoke(cli, ["apikey", "create", "nlp-backend", "--allow-raw", "true"],
                                env=env)
    assert result.exit_code == 0, result.output
    shown = CliRunner().invoke(cli, ["apikey", "show", "nlp-backend"], env=env)
    assert "allow_raw" in shown.output and "True" in shown.output
    client = checking_client(app)
    items = [{"position": {"latitude": 52.52 + i * 1e-4, "longitude": 13.405,
                           "source": "gps", "accuracy": 5.0},
              "wifiAccessPoints": [{"macAddress": m} for m in NEAR]} for i in range(2)]
    assert client.post("/v2/geosubmit", json={"items": items}).status_code == 200
    drain()
    response = client.post("/v1/geolocate?key=nlp-backend", json=query(*NEAR),
                           headers=NOWHERE)
    assert [e["omit"] for e in response.get_json()["raw"]] == [False, False, False]
