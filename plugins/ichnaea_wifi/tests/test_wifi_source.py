"""Answering /v1/geolocate from learnt access points: clusters, accuracy,
privacy, blocked stations, and the ICHNAEA_WIFI__* settings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from ichnaea_host.app import create_app
from ichnaea_host.core.geo import distance
from ichnaea_host.core.settings import ConfigError, Settings, load_plugin_settings
from ichnaea_host.plugins.manager import build_plugin_host
from ichnaea_host.stations import complete_linkage, pairwise_distances
from ichnaea_wifi.models import MODEL
from ichnaea_wifi.settings import WifiSettings

LAT, LON = 51.5, -0.1
M_LAT = 1 / 111_250  # about one metre of latitude, in degrees
MACS = ["a0b1c2d3e401", "a0b1c2d3e502", "a0b1c2d3e603", "a0b1c2d3e704", "a0b1c2d3e805"]


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def add_station(mac: str, lat: float, lon: float = LON, *, samples: int = 64,
                age_days: int = 20, **values: Any) -> None:
    """A station learnt over ``age_days`` from ``samples`` observations (score 6 by default)."""
    created = now() - timedelta(days=age_days)
    row = {"mac": mac, "lat": lat, "lon": lon, "max_lat": lat, "min_lat": lat,
           "max_lon": lon, "min_lon": lon, "radius": 50, "samples": samples, "weight": 10.0,
           "source": 3, "created": created, "modified": now(), "last_seen": now().date(),
           **values}
    MODEL.insert(**row).execute()


def locate(client: Any, key: str, networks: list[dict[str, Any]]) -> Any:
    return client.post(f"/v1/geolocate?key={key}",
                       json={"considerIp": False, "wifiAccessPoints": networks})


def macs(*names: str, **fields: Any) -> list[dict[str, Any]]:
    return [{"macAddress": name, **fields} for name in names]


def located(response: Any) -> tuple[float, float, float]:
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert "fallback" not in data
    return data["location"]["lat"], data["location"]["lng"], data["accuracy"]


def test_two_nearby_stations_give_their_centre(client, api_key):
    add_station(MACS[0], LAT)
    add_station(MACS[1], LAT + 100 * M_LAT)
    lat, lon, accuracy = located(locate(client, api_key, macs(*MACS[:2])))
    assert lat == pytest.approx(LAT + 50 * M_LAT, abs=1e-7)
    assert lon == pytest.approx(LON, abs=1e-7)
    assert 10.0 <= accuracy <= 500.0
    assert accuracy >= distance(lat, lon, LAT, LON)  # the circle holds both networks


def test_stronger_signal_pulls_the_answer(client, api_key):
    add_station(MACS[0], LAT)
    add_station(MACS[1], LAT + 100 * M_LAT)
    networks = [{"macAddress": MACS[0], "signalStrength": -50},
                {"macAddress": MACS[1], "signalStrength": -90}]
    lat, _, _ = located(locate(client, api_key, networks))
    # each network counts by its signal's amplitude: 40 dB weaker is a hundredth
    w0, w1 = 1.0, 10 ** (-40 / 20)
    assert lat == pytest.approx((LAT * w0 + (LAT + 100 * M_LAT) * w1) / (w0 + w1), abs=1e-7)


def test_better_scored_station_pulls_the_answer(client, api_key):
    add_station(MACS[0], LAT, samples=1024)   # score 10
    add_station(MACS[1], LAT + 100 * M_LAT, samples=2, age_days=0)  # young: score 0.1
    lat, _, _ = located(locate(client, api_key, macs(*MACS[:2])))
    assert lat < LAT + 5 * M_LAT


def test_same_place_gives_the_range_of_the_networks(client, api_key):
    # both were heard up to about 50 m away (radius 50 from 64 samples): the
    # device is somewhere around them, not within the smallest accuracy
    add_station(MACS[0], LAT)
    add_station(MACS[1], LAT)
    lat, lon, accuracy = located(locate(client, api_key, macs(*MACS[:2])))
    assert (lat, lon) == (LAT, LON)
    assert accuracy == pytest.approx(math.sqrt(50**2 + 100**2 / 64) / math.sqrt(2), abs=1e-6)


@pytest.mark.parametrize(("metres", "found"), [(490, True), (510, False), (5000, False)])
def test_stations_farther_than_500_m_apart_give_no_answer(client, api_key, metres, found):
    add_station(MACS[0], LAT)
    add_station(MACS[1], LAT + metres * M_LAT)
    response = locate(client, api_key, macs(*MACS[:2]))
    assert response.status_code == (200 if found else 404)
    if found:
        assert 10.0 <= response.get_json()["accuracy"] <= 500.0


def test_a_lone_far_station_is_left_out_of_the_cluster(client, api_key):
    add_station(MACS[0], LAT)
    add_station(MACS[1], LAT + 60 * M_LAT)
    add_station(MACS[2], LAT + 0.2, samples=1024)
    lat, lon, accuracy = located(locate(client, api_key, macs(*MACS[:3])))
    assert lat == pytest.approx(LAT + 30 * M_LAT, abs=1e-7)
    assert accuracy < 50


def test_the_better_of_two_clusters_wins(client, api_key):
    add_station(MACS[0], LAT, samples=2, age_days=0)
    add_station(MACS[1], LAT + 50 * M_LAT, samples=2, age_days=0)
    add_station(MACS[2], LAT + 0.1, samples=1024)
    add_station(MACS[3], LAT + 0.1 + 50 * M_LAT, samples=1024)
    lat, _, _ = located(locate(client, api_key, macs(*MACS[:4])))
    assert lat == pytest.approx(LAT + 0.1 + 25 * M_LAT, abs=1e-7)


def test_one_known_and_one_unknown_network_reveal_nothing(client, api_key):
    add_station(MACS[0], LAT)
    response = locate(client, api_key, macs(MACS[0], MACS[1]))
    assert response.status_code == 404


def test_blocked_stations_are_not_used(client, api_key):
    add_station(MACS[0], LAT)
    add_station(MACS[1], LAT + 10 * M_LAT, block_last=now().date(), block_count=1,
                block_first=now().date())
    add_station(MACS[2], LAT + 20 * M_LAT, age_days=30, block_count=1,
                block_first=(now() - timedelta(days=30)).date(),
                block_last=(now() - timedelta(days=30)).date())
    assert locate(client, api_key, macs(*MACS[:3])).status_code == 404
    # a station whose block has expired counts again
    add_station(MACS[3], LAT + 30 * M_LAT, age_days=100, block_count=1,
                block_first=(now() - timedelta(days=60)).date(),
                block_last=(now() - timedelta(days=60)).date())
    lat, _, _ = located(locate(client, api_key, macs(*MACS[:4])))
    assert LAT < lat < LAT + 30 * M_LAT


def test_stations_without_position_are_not_used(client, api_key):
    add_station(MACS[0], LAT)
    MODEL.insert(mac=MACS[1], created=now(), modified=now(),
                 block_count=1).execute()
    assert locate(client, api_key, macs(*MACS[:2])).status_code == 404


def test_learnt_then_located_with_any_mac_spelling(client, api_key, internal_export, drain):
    reports = [{"position": {"latitude": LAT + i * 20 * M_LAT, "longitude": LON,
                             "accuracy": 10.0},
                "wifiAccessPoints": macs(*MACS[:3], signalStrength=-70)} for i in range(2)]
    assert client.post(f"/v2/geosubmit?key={api_key}",
                       json={"items": reports}).status_code == 200
    drain()
    spelled = [MACS[0].upper(), "-".join(MACS[1][i:i + 2] for i in range(0, 12, 2)),
               ":".join(MACS[2][i:i + 2] for i in range(0, 12, 2))]
    lat, lon, accuracy = located(locate(client, api_key, macs(*spelled)))
    assert lat == pytest.approx(LAT + 10 * M_LAT, abs=1e-6)
    # three networks seen twice, 10 m either side of their centre
    assert accuracy == pytest.approx(math.sqrt(10**2 + 100**2 / 2) / math.sqrt(3), rel=0.01)


# ---------------------------------------------------------------------------
# clustering


def naive_complete_linkage(dist: np.ndarray, limit: float) -> set[frozenset[int]]:
    """The textbook algorithm: merge the closest pair of groups, measured by
    their farthest members, until that distance exceeds the limit."""
    groups = [[i] for i in range(len(dist))]
    while len(groups) > 1:
        pairs = [(max(dist[i, j] for i in g for j in h), a, b)
                 for a, g in enumerate(groups) for b, h in enumerate(groups) if a < b]
        best, a, b = min(pairs)
        if best > limit:
            break
        groups[a] += groups.pop(b)
    return {frozenset(g) for g in groups if len(g) >= 2}


@pytest.mark.parametrize("seed", range(6))
def test_clusters_match_the_textbook_complete_linkage(seed):
    rng = np.random.default_rng(seed)
    size = 12 + 4 * seed
    lats = LAT + rng.random(size) * 0.012
    lons = LON + rng.random(size) * 0.02
    dist = pairwise_distances(lats, lons)
    groups = complete_linkage(dist, 500.0)
    assert {frozenset(g) for g in groups} == naive_complete_linkage(dist, 500.0)
    for group in groups:
        assert dist[np.ix_(group, group)].max() <= 500.0
    assert len({i for g in groups for i in g}) == sum(len(g) for g in groups)


def test_clusters_of_nothing_or_one_network():
    assert complete_linkage(np.zeros((0, 0)), 500.0) == []
    assert complete_linkage(np.zeros((1, 1)), 500.0) == []
    assert complete_linkage(np.array([[0.0, 500.0], [500.0, 0.0]]), 500.0) == [[0, 1]]


# ---------------------------------------------------------------------------
# settings


def client_with(make_runtime: Any, monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    for name, value in env.items():
        monkeypatch.setenv(f"ICHNAEA_WIFI__{name.upper()}", value)
    app = create_app(runtime=make_runtime())
    app.testing = True
    return app.test_client()


def test_cluster_distance_and_accuracy_limits_are_settings(make_runtime, api_key, monkeypatch):
    client = client_with(make_runtime, monkeypatch, cluster_meters="5000",
                         max_accuracy="1000", min_accuracy="50")
    add_station(MACS[0], LAT)
    add_station(MACS[1], LAT + 3000 * M_LAT)
    _, _, accuracy = located(locate(client, api_key, macs(*MACS[:2])))
    assert accuracy == 1000.0
    add_station(MACS[2], LAT + 0.1)
    add_station(MACS[3], LAT + 0.1)
    assert located(locate(client, api_key, macs(*MACS[2:4]))) == (LAT + 0.1, LON, 50.0)


def test_default_accuracy_is_at_most_500(make_runtime, api_key, monkeypatch):
    client = client_with(make_runtime, monkeypatch, cluster_meters="5000")
    add_station(MACS[0], LAT)
    add_station(MACS[1], LAT + 3000 * M_LAT)
    assert located(locate(client, api_key, macs(*MACS[:2])))[2] == 500.0


def test_max_networks_uses_the_best_scored(make_runtime, api_key, monkeypatch):
    client = client_with(make_runtime, monkeypatch, max_networks="2")
    add_station(MACS[0], LAT, samples=1024)
    add_station(MACS[1], LAT + 100 * M_LAT, samples=1024)
    add_station(MACS[2], LAT + 400 * M_LAT, samples=2, age_days=0)
    lat, _, _ = located(locate(client, api_key, macs(*MACS[:3])))
    assert lat == pytest.approx(LAT + 50 * M_LAT, abs=1e-7)


@pytest.mark.parametrize(("env", "variable"), [
    ({"ICHNAEA_WIFI__CLUSTER_METERS": "0"}, "ICHNAEA_WIFI__CLUSTER_METERS"),
    ({"ICHNAEA_WIFI__CLUSTER_METERS": "far"}, "ICHNAEA_WIFI__CLUSTER_METERS"),
    ({"ICHNAEA_WIFI__MAX_NETWORKS": "1"}, "ICHNAEA_WIFI__MAX_NETWORKS"),
    ({"ICHNAEA_WIFI__MAX_NETWORKS": "2.5"}, "ICHNAEA_WIFI__MAX_NETWORKS"),
    ({"ICHNAEA_WIFI__MIN_ACCURACY": "-1"}, "ICHNAEA_WIFI__MIN_ACCURACY"),
    ({"ICHNAEA_WIFI__MIN_ACCURACY": "600"}, "ICHNAEA_WIFI__MIN_ACCURACY"),
    ({"ICHNAEA_WIFI__MAX_ACCURACY": "0"}, "ICHNAEA_WIFI__MAX_ACCURACY"),
    ({"ICHNAEA_WIFI__CLUSTER_METERS": "nan"}, "ICHNAEA_WIFI__CLUSTER_METERS"),
    ({"ICHNAEA_WIFI__MAX_ACCURACY": "inf"}, "ICHNAEA_WIFI__MAX_ACCURACY"),
])
def test_bad_settings_name_the_variable(env, variable):
    with pytest.raises(ConfigError) as info:
        load_plugin_settings(WifiSettings, "wifi", env)
    assert info.value.name == variable
    assert str(info.value).startswith(f"{variable}: ")


def test_accuracy_limits_that_cross_name_both_variables():
    with pytest.raises(ConfigError) as info:
        load_plugin_settings(WifiSettings, "wifi", {"ICHNAEA_WIFI__MAX_ACCURACY": "5"})
    assert "ICHNAEA_WIFI__MIN_ACCURACY" in str(info.value)
    assert "ICHNAEA_WIFI__MAX_ACCURACY (5.0)" in str(info.value)


def test_good_settings_are_read():
    env = {"ICHNAEA_WIFI__CLUSTER_METERS": "250", "ICHNAEA_WIFI__MAX_NETWORKS": "5",
           "ICHNAEA_WIFI__MIN_ACCURACY": "20", "ICHNAEA_WIFI__MAX_ACCURACY": "300"}
    settings = load_plugin_settings(WifiSettings, "wifi", env)
    assert (settings.cluster_meters, settings.max_networks, settings.min_accuracy,
            settings.max_accuracy) == (250.0, 5, 20.0, 300.0)


def test_bad_setting_stops_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("ICHNAEA_WIFI__CLUSTER_METERS", "-5")
    settings = Settings.from_env({}, var_dir=str(tmp_path), strict_plugins=False)
    with pytest.raises(ConfigError, match="ICHNAEA_WIFI__CLUSTER_METERS"):
        build_plugin_host(settings)
