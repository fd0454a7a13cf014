"""/v1/country answers from the regions of learnt WiFi and Bluetooth stations."""

from __future__ import annotations

import re

import pytest

WIFI = [{"macAddress": f"d00000000{i:03x}"} for i in range(3)]
BLUE = [{"macAddress": f"e00000000{i:03x}"} for i in range(3)]


def learn(client, key, drain, lat, lon, **networks):
    report = {"position": {"latitude": lat, "longitude": lon, "accuracy": 10}, **networks}
    assert client.post(f"/v2/geosubmit?key={key}", json={"items": [report]}).status_code == 200
    drain()


@pytest.mark.parametrize("field, networks", [("wifiAccessPoints", WIFI),
                                             ("bluetoothBeacons", BLUE)])
def test_country_from_stations(client, api_key, internal_export, drain, field, networks):
    learn(client, api_key, drain, 52.52, 13.40, **{field: networks})  # Berlin
    response = client.post(f"/v1/country?key={api_key}", json={field: networks},
                           headers={"X-Forwarded-For": "192.0.2.1"})  # no GeoIP answer
    assert response.status_code == 200
    assert response.get_json() == {"country_code": "DE", "country_name": "Germany"}


def test_established_stations_outweigh_geoip_and_fresh_ones_do_not(client, api_key,
                                                                   internal_export, drain):
    from datetime import datetime, timedelta

    from ichnaea_wifi.models import MODEL

    learn(client, api_key, drain, 48.85, 2.35, wifiAccessPoints=WIFI)  # Paris
    headers = {"X-Forwarded-For": "81.2.69.160"}  # GeoIP says GB (score 0.8)
    body = {"wifiAccessPoints": WIFI}
    # three fresh stations score 0.05 each: the GeoIP answer wins
    data = client.post(f"/v1/country?key={api_key}", json=body, headers=headers).get_json()
    assert data["country_code"] == "GB"

    month_ago = datetime.utcnow().replace(microsecond=0) - timedelta(days=30)  # noqa: DTZ003
    for entry in WIFI:  # established: a month of data, many samples
        model = MODEL
        model.update(created=month_ago, samples=1000, radius=50).where(
            model.mac == entry["macAddress"]).execute()
    data = client.post(f"/v1/country?key={api_key}", json=body, headers=headers).get_json()
    assert data == {"country_code": "FR", "country_name": "France"}


def test_unknown_networks_give_no_station_region(client, api_key):
    response = client.post(f"/v1/country?key={api_key}", json={"wifiAccessPoints": WIFI},
                           headers={"X-Forwarded-For": "192.0.2.1"})
    assert response.status_code == 404


# where two regions' outlines overlap, with the region each place lies in
OVERLAPS = [((43.94, 12.45), "SM", "San Marino"), ((54.5044, -8.058), "IE", "Ireland"),
            ((47.6437, 7.5477), "FR", "France"), ((22.2055, 113.48), "CN", "China")]


def test_stations_where_outlines_overlap(client, runtime, api_key, internal_export, drain):
    from ichnaea_host.pipeline.stats import update_statregion

    for n, (position, code, name) in enumerate(OVERLAPS):
        wifis = [{"macAddress": f"d0000000{n:02x}{i:02x}"} for i in range(3)]
        learn(client, api_key, drain, *position, wifiAccessPoints=wifis)
        response = client.post(f"/v1/country?key={api_key}", json={"wifiAccessPoints": wifis},
                               headers={"X-Forwarded-For": "192.0.2.1"})  # no GeoIP answer
        assert response.get_json() == {"country_code": code, "country_name": name}
    update_statregion(runtime)
    page = client.get("/stats/regions").get_data(as_text=True)
    for _, _, name in OVERLAPS:
        assert re.search(rf'<td data-order="[^"]*">{name}</td>\s*(<td class="number">\d+</td>'
                         r"\s*){6}<td class=\"number\">3</td>", page), name
    for name in ("Italy", "United Kingdom", "Germany", "Macau"):
        assert f">{name}</td>" not in page
