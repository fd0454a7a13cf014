"""The whole path: submit WiFi networks with a GPS position, process the
pipeline, then locate with the same networks; and an IP-only locate."""

from __future__ import annotations

import gzip
import json

MACS = ["01:23:45:67:89:ab", "01-23-45-67-89-cd", "0123456789ef"]


def report(lat: float, lon: float) -> dict:
    return {
        "position": {"latitude": lat, "longitude": lon, "accuracy": 10.0, "source": "gnss"},
        "wifiAccessPoints": [{"macAddress": m, "signalStrength": -60 - i}
                             for i, m in enumerate(MACS)],
    }


def test_submit_then_locate(client, api_key, internal_export, drain, runtime):
    body = {"items": [report(51.5, -0.1), report(51.5001, -0.1001)]}
    response = client.post(f"/v2/geosubmit?key={api_key}", json=body)
    assert response.status_code == 200
    assert response.get_json() == {}
    assert runtime.queue("update_incoming").size() == 2

    runs = drain()
    assert runs["update_incoming"] >= 1 and runs["update_wifi"] >= 1
    assert runtime.queue("update_incoming").size() == 0

    query = {"wifiAccessPoints": [{"macAddress": m.upper()} for m in MACS]}
    response = client.post(f"/v1/geolocate?key={api_key}", json=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert abs(data["location"]["lat"] - 51.50005) < 0.0002
    assert abs(data["location"]["lng"] + 0.10005) < 0.0002
    assert 10.0 <= data["accuracy"] <= 500.0
    assert "fallback" not in data


def test_gzip_submit(client, api_key, internal_export, drain):
    data = gzip.compress(json.dumps({"items": [report(48.85, 2.35)]}).encode())
    response = client.post(f"/v2/geosubmit?key={api_key}", data=data,
                           headers={"Content-Encoding": "gzip",
                                    "Content-Type": "application/json"})
    assert response.status_code == 200
    drain()
    query = {"wifiAccessPoints": [{"macAddress": m} for m in MACS]}
    data = client.post(f"/v1/geolocate?key={api_key}", json=query).get_json()
    assert abs(data["location"]["lat"] - 48.85) < 0.001


def test_ip_only_locate_uses_geoip(client, api_key):
    response = client.get(f"/v1/geolocate?key={api_key}",
                          headers={"X-Forwarded-For": "81.2.69.160, 10.0.0.1"})
    assert response.status_code == 200
    assert response.get_json() == {"location": {"lat": 51.5142, "lng": -0.0931},
                                   "accuracy": 164000.0}


def test_unknown_networks_fall_back_to_geoip(client, api_key):
    query = {"wifiAccessPoints": [{"macAddress": m} for m in MACS]}
    response = client.post(f"/v1/geolocate?key={api_key}", json=query,
                           headers={"X-Forwarded-For": "85.214.132.7"})
    assert response.status_code == 200
    data = response.get_json()
    assert data["fallback"] == "ipf"
    assert data["location"] == {"lat": 52.5244, "lng": 13.4105}


def test_nothing_found(client, api_key):
    response = client.post(f"/v1/geolocate?key={api_key}", json={},
                           headers={"X-Forwarded-For": "192.0.2.1"})
    assert response.status_code == 404
    assert response.get_json()["error"]["errors"][0]["reason"] == "notFound"


def test_learnt_stations_know_their_region(client, api_key, internal_export, drain):
    from ichnaea_wifi.mac import normalize_mac
    from ichnaea_wifi.models import MODEL

    client.post(f"/v2/geosubmit?key={api_key}", json={"items": [report(48.85, 2.35)]})
    drain()
    mac = normalize_mac(MACS[0])
    model = MODEL
    assert model.get(model.mac == mac).region == "FR"
