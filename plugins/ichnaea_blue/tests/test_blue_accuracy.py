"""What the blue source answers beyond the original's method: beacons that
moved hardly count, and the accuracy is a 95 % radius from the beacons' own
range and spread, on both backends and through /v1/geolocate."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ichnaea_blue.models import MODEL
from ichnaea_blue.settings import BlueSettings
from ichnaea_host.app import create_app
from ichnaea_host.core.geo import distance
from ichnaea_host.core.settings import ConfigError, load_plugin_settings

LAT, LON = 51.5, -0.1
M_LAT = 1 / 111_195  # one metre of latitude, in degrees


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def mac(n: int) -> str:
    return f"b0b1c2{n % 16:x}{n:05x}"


def add_beacon(key: str, lat: float, *, radius: int = 10, samples: int = 32) -> None:
    created = now() - timedelta(days=20)
    row = {"mac": key, "lat": lat, "lon": LON, "max_lat": lat, "min_lat": lat, "max_lon": LON,
           "min_lon": LON, "radius": radius, "samples": samples, "weight": 10.0, "source": 3,
           "created": created, "modified": now(), "last_seen": now().date()}
    MODEL.insert(**row).execute()


def locate(client: Any, key: str, keys: list[str]) -> tuple[float, float, float]:
    query = {"considerIp": False,
             "bluetoothBeacons": [{"macAddress": k, "signalStrength": -80} for k in keys]}
    response = client.post(f"/v1/geolocate?key={key}", json=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    return data["location"]["lat"], data["location"]["lng"], data["accuracy"]


def test_a_beacon_that_moved_hardly_pulls_the_answer(client, api_key):
    add_beacon(mac(0), LAT)
    add_beacon(mac(1), LAT + 4 * M_LAT)
    # 60 m away, and its observations spread over 90 m: it was moved
    add_beacon(mac(2), LAT + 60 * M_LAT, radius=90)
    lat, lon, accuracy = locate(client, api_key, [mac(0), mac(1), mac(2)])
    assert distance(lat, lon, LAT + 2 * M_LAT, LON) < 2.0
    assert accuracy < 20.0


def test_the_circle_is_the_error_of_a_mean(client, api_key):
    add_beacon(mac(0), LAT)
    add_beacon(mac(1), LAT + 20 * M_LAT)
    lat, _, accuracy = locate(client, api_key, [mac(0), mac(1)])
    assert lat == pytest.approx(LAT + 10 * M_LAT, abs=1e-7)
    own = 10**2 + 25**2 / 32  # radius 10 m, and the 25 m station range over 32 samples
    assert accuracy == pytest.approx(math.sqrt(10**2 / 2 + own / 2), rel=0.01)


def test_the_circle_stays_within_the_limits(make_runtime, api_key, monkeypatch):
    monkeypatch.setenv("ICHNAEA_BLUE__MAX_ACCURACY", "30")
    monkeypatch.setenv("ICHNAEA_BLUE__STATION_RANGE", "200")
    client = create_app(runtime=make_runtime()).test_client()
    add_beacon(mac(0), LAT, radius=0, samples=1)
    add_beacon(mac(1), LAT, radius=0, samples=1)
    assert locate(client, api_key, [mac(0), mac(1)]) == (LAT, LON, 30.0)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_bad_station_range_names_the_variable(value):
    with pytest.raises(ConfigError, match="ICHNAEA_BLUE__STATION_RANGE"):
        load_plugin_settings(BlueSettings, "blue", {"ICHNAEA_BLUE__STATION_RANGE": value})
