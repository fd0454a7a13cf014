"""What the wifi source answers beyond the original's method: networks that
moved or travel hardly count, and the accuracy is a 95 % radius (the
networks' own range and spread, shrinking with their number), on both
backends and through /v1/geolocate."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from ichnaea_host.app import create_app
from ichnaea_host.core.geo import distance
from ichnaea_host.core.settings import ConfigError, load_plugin_settings
from ichnaea_host.stations import cluster_position
from ichnaea_wifi.models import MODEL
from ichnaea_wifi.settings import WifiSettings

LAT, LON = 51.5, -0.1
M_LAT = 1 / 111_195  # one metre of latitude, in degrees
M_LON = M_LAT / math.cos(math.radians(LAT))


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def mac(n: int) -> str:
    return f"a0b1c2{n % 16:x}{n:05x}"


def add_station(key: str, lat: float, lon: float = LON, *, radius: int = 50,
                samples: int = 64) -> None:
    """A station learnt over 20 days (score 6 with 64 samples)."""
    created = now() - timedelta(days=20)
    row = {"mac": key, "lat": lat, "lon": lon, "max_lat": lat, "min_lat": lat, "max_lon": lon,
           "min_lon": lon, "radius": radius, "samples": samples, "weight": 10.0, "source": 3,
           "created": created, "modified": now(), "last_seen": now().date()}
    MODEL.insert(**row).execute()


def locate(client: Any, key: str, networks: list[dict[str, Any]]) -> tuple[float, float, float]:
    response = client.post(f"/v1/geolocate?key={key}",
                           json={"considerIp": False, "wifiAccessPoints": networks})
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    return data["location"]["lat"], data["location"]["lng"], data["accuracy"]


def seen(*keys: str, signal: int | None = -70) -> list[dict[str, Any]]:
    return [{"macAddress": k, **({} if signal is None else {"signalStrength": signal})}
            for k in keys]


def test_a_network_that_moved_hardly_pulls_the_answer(client, api_key):
    for n in range(3):
        add_station(mac(n), LAT + n * 10 * M_LAT)
    # seen 300 m north of the others, its observations spread over a kilometre
    add_station(mac(3), LAT + 300 * M_LAT, radius=1200, samples=40)
    lat, lon, accuracy = locate(client, api_key, seen(*(mac(n) for n in range(4))))
    assert distance(lat, lon, LAT + 10 * M_LAT, LON) < 3.0
    assert accuracy < 60.0


def test_the_circle_grows_with_the_range_the_networks_are_heard_over(client, api_key):
    add_station(mac(0), LAT, radius=20)
    add_station(mac(1), LAT + 40 * M_LAT, radius=20)
    add_station(mac(2), LAT + 0.01, radius=200)
    add_station(mac(3), LAT + 0.01 + 40 * M_LAT, radius=200)
    _, _, near = locate(client, api_key, seen(mac(0), mac(1)))
    _, _, far = locate(client, api_key, seen(mac(2), mac(3)))
    # 20 m apart from the answer each; heard over 20 m or 200 m
    assert near == pytest.approx(math.sqrt(20**2 / 2 + (20**2 + 100**2 / 64) / 2), rel=0.01)
    assert far == pytest.approx(math.sqrt(20**2 / 2 + (200**2 + 100**2 / 64) / 2), rel=0.01)


def test_the_circle_shrinks_as_more_networks_surround_the_device(client, api_key):
    for n in range(8):  # eight networks on a 60 m circle around LAT, LON
        angle = 2 * math.pi * n / 8
        add_station(mac(n), LAT + 60 * math.sin(angle) * M_LAT, LON + 60 * math.cos(angle)
                    * M_LON)
    _, _, two = locate(client, api_key, seen(mac(0), mac(4)))
    lat, lon, eight = locate(client, api_key, seen(*(mac(n) for n in range(8))))
    assert distance(lat, lon, LAT, LON) < 0.5
    assert eight < two
    assert eight == pytest.approx(math.sqrt(60**2 / 8 + (50**2 + 100**2 / 64) / 8), rel=0.01)


def test_networks_seen_once_are_given_the_station_range(make_runtime, api_key, monkeypatch):
    monkeypatch.setenv("ICHNAEA_WIFI__STATION_RANGE", "60")
    app = create_app(runtime=make_runtime())
    client = app.test_client()
    add_station(mac(0), LAT, radius=0, samples=1)
    add_station(mac(1), LAT, radius=0, samples=1)
    assert locate(client, api_key, seen(mac(0), mac(1))) == (LAT, LON, pytest.approx(
        60 / math.sqrt(2)))


def test_a_missing_signal_counts_as_the_median_of_the_others(client, api_key):
    add_station(mac(0), LAT)
    add_station(mac(1), LAT + 100 * M_LAT)
    add_station(mac(2), LAT + 200 * M_LAT)
    networks = [{"macAddress": mac(0), "signalStrength": -60},
                {"macAddress": mac(1)},
                {"macAddress": mac(2), "signalStrength": -80}]
    lat, _, _ = locate(client, api_key, networks)
    w = [1.0, 10 ** (-10 / 20), 10 ** (-20 / 20)]  # -60, (-70), -80 dBm
    assert lat == pytest.approx(LAT + (100 * w[1] + 200 * w[2]) / sum(w) * M_LAT, abs=1e-7)
    # and no signal at all: every network the same
    lat, _, _ = locate(client, api_key, seen(mac(0), mac(1), mac(2), signal=None))
    assert lat == pytest.approx(LAT + 100 * M_LAT, abs=1e-7)


def test_networks_either_side_of_the_antimeridian(client, api_key):
    add_station(mac(0), -18.0, 179.9998)
    add_station(mac(1), -18.0, -179.9998)
    lat, lon, accuracy = locate(client, api_key, seen(mac(0), mac(1)))
    assert lat == pytest.approx(-18.0)
    assert abs(lon) == pytest.approx(180.0, abs=1e-6)  # not 0.0, the other side of the Earth
    assert accuracy < 100.0


def station(lat: float, lon: float, key: str) -> Any:
    return SimpleNamespace(mac=key, lat=lat, lon=lon, radius=80, samples=20,
                           created=now() - timedelta(days=60), modified=now(),
                           last_seen=now().date(), block_last=None, block_count=None)


def test_the_circle_holds_the_device_about_95_times_in_100():
    """Networks heard up to 80 m away in every direction, learnt with some error:
    the device lies inside the answered circle about as often as promised."""
    rng = np.random.default_rng(3)
    settings = WifiSettings()
    inside = []
    for _ in range(400):
        count = int(rng.integers(2, 12))
        r = 80 * np.sqrt(rng.random(count))
        a = rng.random(count) * 2 * np.pi
        north = r * np.sin(a) + rng.normal(0, 15, count)
        east = r * np.cos(a) + rng.normal(0, 15, count)
        members = [station(LAT + y * M_LAT, LON + x * M_LON, mac(i))
                   for i, (x, y) in enumerate(zip(east, north, strict=True))]
        lookups = {m.mac: {"mac": m.mac} for m in members}
        result = cluster_position(members, lookups, now(), settings, "wifi")
        inside.append(distance(LAT, LON, result.lat, result.lon) <= result.accuracy)
    assert 0.90 <= np.mean(inside) <= 0.99


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "wide"])
def test_bad_station_range_names_the_variable(value):
    with pytest.raises(ConfigError) as info:
        load_plugin_settings(WifiSettings, "wifi", {"ICHNAEA_WIFI__STATION_RANGE": value})
    assert info.value.name == "ICHNAEA_WIFI__STATION_RANGE"
