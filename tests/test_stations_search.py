"""The position search shared by the WiFi and Bluetooth sources: station rows
read the same from both databases, the one-place shortcut of the clusters,
and a MySQL connection lost between requests."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from ichnaea_host.stations.search import (
    Station,
    complete_linkage,
    load_stations,
    pairwise_distances,
    within_limit,
)

MACS = ["02:00:5e:20:00:01", "02:00:5e:20:00:02", "02:00:5e:20:00:03"]


def _station(lat: float, lon: float) -> Station:
    return Station("000000000000", lat, lon, None, None, None, None, None, None, None)


@pytest.mark.parametrize("seed", range(40))
def test_one_place_shortcut_agrees_with_the_matrix(seed):
    rng = random.Random(seed)
    lat0 = rng.uniform(-89.0, 89.0)
    lon0 = rng.choice([rng.uniform(-180.0, 180.0), 179.999, -179.999])
    spread = rng.choice([1e-4, 1e-3, 3e-3, 1e-2])
    stations = [_station(max(-90.0, min(90.0, lat0 + rng.gauss(0, spread))),
                         (lon0 + rng.gauss(0, spread) + 180.0) % 360.0 - 180.0)
                for _ in range(rng.randint(2, 15))]
    dist = pairwise_distances(np.array([s.lat for s in stations]),
                              np.array([s.lon for s in stations]))
    for limit in (100.0, 500.0, 2000.0):
        if within_limit(stations, limit):  # never claims one place the matrix splits
            assert complete_linkage(dist, limit) == [list(range(len(stations)))]
    close = [_station(51.5 + i * 1e-5, -0.1) for i in range(10)]
    assert within_limit(close, 500.0)


def test_station_rows_keep_every_value(runtime):
    from ichnaea_wifi.models import MODEL

    created = datetime(2024, 3, 1, 12, 30, 5)
    rows = {
        "02005e200001": {"radius": 120, "samples": 4000000000, "created": created,
                         "modified": created + timedelta(days=40), "last_seen": date(2024, 5, 2),
                         "block_last": date(2024, 1, 2), "block_count": 1},
        "02005e200002": {"radius": None, "samples": None, "created": None, "modified": None,
                         "last_seen": None, "block_last": None, "block_count": None},
        "02005e200003": {"radius": 5},  # no position: never an answer
    }
    for mac, values in rows.items():
        position = {} if mac.endswith("3") else {"lat": 51.5123456789012, "lon": -0.1234567890123}
        MODEL.insert(mac=mac, **position, **values).execute()
    found = {s.mac: s for s in load_stations(runtime.db.ro, MODEL,
                                            list(rows) + ["02005e2000ff"])}
    assert sorted(found) == ["02005e200001", "02005e200002"]
    for mac, station in found.items():
        assert (station.lat, station.lon) == (51.5123456789012, -0.1234567890123)
        assert station._asdict() == {"mac": mac, "lat": station.lat, "lon": station.lon,
                                     **rows[mac]}


def test_a_lost_database_connection_is_replaced(backend, client, api_key, runtime):
    if backend != "mysql":
        pytest.skip("only MySQL connections are kept between requests")
    import pymysql

    from ichnaea_host.core.db import _parse_mysql
    from ichnaea_wifi.models import MODEL

    for i, mac in enumerate(MACS):
        key = mac.replace(":", "")
        MODEL.insert(
            mac=key, lat=51.5 + i * 1e-4, lon=-0.1, radius=30, samples=20,
            created=datetime(2024, 1, 1), modified=datetime(2024, 6, 1)).execute()
    body = {"wifiAccessPoints": [{"macAddress": m} for m in MACS]}
    headers = {"X-Forwarded-For": "192.0.2.1"}
    assert client.post(f"/v1/geolocate?key={api_key}", json=body,
                       headers=headers).status_code == 200
    # the connection this thread kept is killed, as a server restart would
    kept = runtime.db.ro.connection().thread_id()
    name, options = _parse_mysql(runtime.db.readwrite_uri)
    admin = pymysql.connect(**{k: options[k] for k in ("host", "port", "user", "password")})
    with admin.cursor() as cursor:
        cursor.execute(f"KILL {int(kept)}")
    admin.close()
    response = client.post(f"/v1/geolocate?key={api_key}", json=body, headers=headers)
    assert response.status_code == 200
    assert abs(response.get_json()["location"]["lat"] - 51.5001) < 0.001
