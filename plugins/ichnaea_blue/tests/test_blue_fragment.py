"""Validation, normalisation and de-duplication of Bluetooth beacons, the
observations the updater makes of them, and the aggregation of a cluster."""

from __future__ import annotations

import math
from datetime import timedelta
from types import SimpleNamespace

import pytest

from ichnaea_blue.mac import normalize_entry, normalize_mac
from ichnaea_blue.radio import BlueRadio
from ichnaea_blue.settings import BlueSettings
from ichnaea_host.core.settings import ConfigError, load_plugin_settings
from ichnaea_host.pipeline.reports import normalize_position
from ichnaea_host.stations import cluster_position, complete_linkage, distance_matrix, utcnow
from ichnaea_host.stations import mac_shard as shard_of
from ichnaea_host.testing import radio_part

A, B, C = "ab:cd:ef:01:23:45", "ab-cd-ef-01-23-46", "abcd.ef01.2347"


def parse(entries):
    return radio_part(BlueRadio, "report_fragments").parse_query(entries, {})


@pytest.mark.parametrize("raw, expected", [
    ("AB:CD:EF:01:23:45", "abcdef012345"),
    ("ab-cd-ef-01-23-45", "abcdef012345"),
    ("abcd.ef01.2345", "abcdef012345"),
    ("ABCDEF012345", "abcdef012345"),
    ("000000000000", None),
    ("ff:ff:ff:ff:ff:ff", None),
    ("01:00:5e:90:10:00", None),
    ("abcdef01234", None),
    ("abcdef01234g", None),
    (12345, None),
    (None, None),
])
def test_normalize_mac(raw, expected):
    assert normalize_mac(raw) == expected


def test_shard_is_fifth_hex_digit():
    assert shard_of("3680873e9b83") == "8"


@pytest.mark.parametrize("signal, expected", [
    (-127, -127), (0, 0), (-60, -60), (-128, None), (1, None), (True, None), (None, None),
])
def test_signal_range(signal, expected):
    entry = normalize_entry({"macAddress": A, "signalStrength": signal})
    assert entry["signal"] == expected


@pytest.mark.parametrize("age, expected", [
    (3_600_000, 3_600_000), (-3_600_000, -3_600_000), (3_600_001, None), (-3_600_001, None),
])
def test_age_range(age, expected):
    assert normalize_entry({"macAddress": A, "age": age})["age"] == expected


def test_invalid_mac_drops_entry():
    assert normalize_entry({"macAddress": "ab"}) is None
    assert normalize_entry({"signalStrength": -60}) is None


def test_parse_query_normalises():
    lookups = parse([{"macAddress": A, "signalStrength": -70, "age": 1500, "name": "x"},
                     {"macAddress": B, "signalStrength": -500}])
    assert lookups == [
        {"mac": "abcdef012345", "age": 1500, "signal": -70, "name": "x"},
        {"mac": "abcdef012346", "age": None, "signal": None, "name": None},
    ]


def test_minimum_two_unique_beacons():
    assert parse([{"macAddress": A}]) == []
    assert parse([{"macAddress": A}, {"macAddress": "not-a-mac"}]) == []
    assert parse([{"macAddress": A}, {"macAddress": A.upper()}]) == []
    assert len(parse([{"macAddress": A}, {"macAddress": B}])) == 2


def test_dedupe_keeps_stronger_signal():
    lookups = parse([{"macAddress": A, "signalStrength": s} for s in (-90, -82, -85)]
                    + [{"macAddress": B}])
    assert [x["signal"] for x in lookups if x["mac"] == "abcdef012345"] == [-82]


def test_dedupe_then_lower_age():
    lookups = parse([{"macAddress": A, "signalStrength": -70, "age": 3000},
                     {"macAddress": A, "signalStrength": -70, "age": 1000},
                     {"macAddress": A, "signalStrength": -70, "age": 2000},
                     {"macAddress": B}])
    assert lookups[0]["age"] == 1000


def test_dedupe_compares_the_size_of_the_age():
    lookups = parse([{"macAddress": A, "age": 1000}, {"macAddress": A, "age": -3000},
                     {"macAddress": B, "age": -3000}, {"macAddress": B, "age": 2000}])
    assert [x["age"] for x in lookups] == [1000, 2000]


def test_dedupe_later_wins_when_nothing_decides():
    lookups = parse([{"macAddress": A, "name": "first"}, {"macAddress": A, "name": "second"},
                     {"macAddress": B}])
    assert lookups[0]["name"] == "second"


def test_query_json_uses_api_names():
    lookups = parse([{"macAddress": A, "signalStrength": -70}, {"macAddress": B, "age": 10}])
    assert radio_part(BlueRadio, "report_fragments").query_json(lookups) == [
        {"macAddress": "abcdef012345", "signalStrength": -70},
        {"macAddress": "abcdef012346", "age": 10},
    ]


def test_clean_submit_drops_entries_without_mac():
    fragment = radio_part(BlueRadio, "report_fragments")
    cleaned = fragment.clean_submit([{"macAddress": "AB", "age": None}, {"age": 5},
                                     {"macAddress": None}])
    assert cleaned == [{"macAddress": "AB"}]


def test_schema_types():
    schema = radio_part(BlueRadio, "report_fragments").query_entry_schema()
    assert schema.load({"macAddress": A, "age": "12", "signalStrength": -3, "name": "n",
                        "other": 1}) == {"macAddress": A, "age": 12, "signalStrength": -3,
                                         "name": "n"}


# -- the updater's side


def positioned(report):
    return dict(report, position=normalize_position(report))


def test_split_observations_per_shard():
    report = positioned({
        "timestamp": 1_700_000_000_000,
        "position": {"latitude": 51.5, "longitude": -0.1, "accuracy": 12.0, "age": 2000,
                     "source": "gnss"},
        "bluetoothBeacons": [{"macAddress": A, "signalStrength": -80, "age": 500, "name": "n"},
                             {"macAddress": A, "signalStrength": -60},
                             {"macAddress": "3680873e9b83"}, {"macAddress": "bad"}],
    })
    out = radio_part(BlueRadio, "station_updaters").split(report)
    assert sorted(out) == ["8", "e"]
    assert out["e"] == [{"lat": 51.5, "lon": -0.1, "accuracy": 12.0, "source": "gnss",
                         "timestamp": 1_700_000_000_000 - 2000, "mac": "abcdef012345",
                         "signal": -60, "age": -2000}]
    assert out["8"][0]["mac"] == "3680873e9b83" and "name" not in out["8"][0]


def test_weight_ignores_signal_and_drops_imprecise():
    updater = radio_part(BlueRadio, "station_updaters")
    assert updater.weight({"signal": -120, "accuracy": 10.0}) == 1.0
    assert updater.weight({"signal": -10, "accuracy": 10.0}) == 1.0
    assert updater.weight({"accuracy": 100.0}) == pytest.approx(0.3162, abs=1e-4)
    assert updater.weight({"accuracy": 100.1}) == 0.0
    assert BlueRadio.LIMITS.max_dist == 100.0


# -- the source's side


def station(mac, lat, lon, *, strong=True, now=None):
    now = now or utcnow()
    if strong:  # station score 10
        return SimpleNamespace(mac=mac, lat=lat, lon=lon, created=now - timedelta(days=10),
                               modified=now, last_seen=now.date(), block_last=None,
                               samples=1024, radius=10)
    return SimpleNamespace(mac=mac, lat=lat, lon=lon, created=now, modified=now,
                           last_seen=None, block_last=None, samples=1, radius=0)  # score 0.05


def test_aggregate_uses_best_scored_beacons():
    now = utcnow()
    strong = [station(f"aa00000000{i:02x}", 51.5, -0.1, now=now) for i in range(10)]
    weak = [station(f"bb00000000{i:02x}", 51.5003, -0.1, strong=False, now=now)
            for i in range(2)]
    lookups = {s.mac: {"mac": s.mac} for s in strong + weak}
    result = cluster_position(weak + strong, lookups, now, BlueSettings(), "blue")
    assert result.lat == pytest.approx(51.5) and result.lon == pytest.approx(-0.1)
    assert {mac for _, mac, _ in result.used_networks} == {s.mac for s in strong}
    assert all(seen for _, _, seen in result.used_networks)
    assert result.score == pytest.approx(10 * 10.0 + 2 * 0.05)
    assert result.accuracy == 10.0
    assert result.source == "blue"


def test_aggregate_accuracy_clamped():
    now = utcnow()
    members = [station("aa0000000001", 51.5, -0.1, now=now),
               station("aa0000000002", 51.5018, -0.1, now=now)]  # 200 m apart
    lookups = {s.mac: {"mac": s.mac, "signal": -70} for s in members}
    assert cluster_position(members, lookups, now, BlueSettings(), "blue").accuracy == 50.0
    members[1].lat = 51.50027  # 30 m apart: about 15 m from the middle
    result = cluster_position(members, lookups, now, BlueSettings(), "blue")
    # the error of a mean of two: spread 15 m, each beacon heard over about 10 m
    own_range = math.sqrt(10**2 + 25**2 / 1024)
    assert result.accuracy == pytest.approx(math.sqrt(15**2 / 2 + own_range**2 / 2), rel=0.01)
    assert result.lat == pytest.approx(51.500135)


def test_clustering_limit():
    points = [(51.5, -0.1), (51.5008, -0.1), (51.5018, -0.1), (51.5019, -0.1)]
    dist = distance_matrix(points)
    assert 88 < dist[0, 1] < 90 and dist[1, 0] == dist[0, 1]
    assert complete_linkage(dist, 100.0) == [[0, 1], [2, 3]]
    assert complete_linkage(distance_matrix(points[1:3]), 100.0) == []


def test_settings():
    settings = load_plugin_settings(BlueSettings, "blue", {})
    assert (settings.cluster_meters, settings.max_networks, settings.min_accuracy,
            settings.max_accuracy) == (100.0, 10, 10.0, 50.0)
    changed = load_plugin_settings(BlueSettings, "blue", {"ICHNAEA_BLUE__MAX_NETWORKS": "5"})
    assert changed.max_networks == 5
    with pytest.raises(ConfigError, match="ICHNAEA_BLUE__MAX_NETWORKS"):
        load_plugin_settings(BlueSettings, "blue", {"ICHNAEA_BLUE__MAX_NETWORKS": "1"})
    with pytest.raises(ConfigError, match="ICHNAEA_BLUE__MIN_ACCURACY"):
        load_plugin_settings(BlueSettings, "blue", {"ICHNAEA_BLUE__MIN_ACCURACY": "60"})
