"""The ``wifiAccessPoints`` part of queries: MAC rules, channel and frequency,
de-duplication and the two-network minimum."""

from __future__ import annotations

from typing import Any

import pytest

from ichnaea_host.testing import radio_part
from ichnaea_wifi.mac import channel_frequency, normalize_entry, normalize_mac
from ichnaea_wifi.radio import WifiRadio

FRAGMENT = radio_part(WifiRadio, "report_fragments")


def parse(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries as the web tier hands them over: validated by the query schema first."""
    loaded = FRAGMENT.query_entry_schema().load(entries, many=True)
    return FRAGMENT.parse_query(loaded, {})


@pytest.mark.parametrize("raw", [
    "01:23:45:67:89:ab", "01-23-45-67-89-AB", "0123456789ab", "0123456789AB",
    "01:23:45:67:89:Ab", "0123.4567.89ab", " 01:23:45:67:89:ab ",
])
def test_mac_formats_are_normalised(raw):
    assert normalize_mac(raw) == "0123456789ab"


@pytest.mark.parametrize("raw", [
    "", "01:23:45:67:89", "01:23:45:67:89:ab:cd", "01:23:45:67:89:zz",
    "000000000000", "ff:ff:ff:ff:ff:ff", "01:00:5e:90:10:00", None, 123456789012,
])
def test_invalid_macs_are_dropped(raw):
    assert normalize_mac(raw) is None
    assert normalize_entry({"macAddress": raw}) is None


def test_locally_administered_macs_are_accepted():
    assert normalize_mac("02:00:00:00:00:01") == "020000000001"


def test_query_keeps_valid_networks_normalised():
    lookups = parse([
        {"macAddress": "A0:B1:C2:D3:E4:F5", "signalStrength": -70},
        {"macAddress": "a0-b1-c2-d3-e4-f6", "signalStrength": -75},
        {"macAddress": "not a mac"},
        {"macAddress": "ff:ff:ff:ff:ff:ff"},
    ])
    assert [n["mac"] for n in lookups] == ["a0b1c2d3e4f5", "a0b1c2d3e4f6"]
    assert FRAGMENT.query_json(lookups) == [
        {"macAddress": "a0b1c2d3e4f5", "signalStrength": -70},
        {"macAddress": "a0b1c2d3e4f6", "signalStrength": -75},
    ]


@pytest.mark.parametrize("entries", [
    [],
    [{"macAddress": "a0b1c2d3e4f5"}],
    # one valid and one malformed network
    [{"macAddress": "a0b1c2d3e4f5"}, {"macAddress": "a0b1c2d3e4"}],
    # one network, named twice
    [{"macAddress": "a0b1c2d3e4f5"}, {"macAddress": "A0-B1-C2-D3-E4-F5"}],
    [{"macAddress": "000000000000"}, {"macAddress": "ffffffffffff"}],
])
def test_fewer_than_two_unique_networks_give_nothing(entries):
    assert parse(entries) == []


def test_dedupe_keeps_the_strongest_signal():
    lookups = parse([
        {"macAddress": "a0b1c2d3e4f5", "signalStrength": -90},
        {"macAddress": "A0:B1:C2:D3:E4:F5", "signalStrength": -82},
        {"macAddress": "a0-b1-c2-d3-e4-f5", "signalStrength": -85},
        {"macAddress": "a0b1c2d3e4f6"},
    ])
    signals = {n["mac"]: n["signal"] for n in lookups}
    assert signals == {"a0b1c2d3e4f5": -82, "a0b1c2d3e4f6": None}


def test_dedupe_then_snr_then_age():
    lookups = parse([
        {"macAddress": "a0b1c2d3e4f5", "signalStrength": -70, "signalToNoiseRatio": 40},
        {"macAddress": "a0b1c2d3e4f5", "signalStrength": -70, "signalToNoiseRatio": 20},
        {"macAddress": "a0b1c2d3e4f6", "age": 3000},
        {"macAddress": "a0b1c2d3e4f6", "age": 500},
        {"macAddress": "a0b1c2d3e4f6", "age": 1000},
    ])
    by_mac = {n["mac"]: n for n in lookups}
    assert by_mac["a0b1c2d3e4f5"]["snr"] == 40
    assert by_mac["a0b1c2d3e4f6"]["age"] == 500


def test_equal_duplicates_keep_the_later_entry():
    lookups = parse([
        {"macAddress": "a0b1c2d3e4f5", "signalStrength": -70, "channel": 1},
        {"macAddress": "a0b1c2d3e4f5", "signalStrength": -70, "channel": 6},
        {"macAddress": "a0b1c2d3e4f6"},
    ])
    assert lookups[0]["channel"] == 6


@pytest.mark.parametrize(("channel", "frequency"), [
    (1, 2412), (13, 2472), (14, 2484), (36, 5180), (186, 4930), (165, 5825),
])
def test_frequency_from_channel(channel, frequency):
    assert channel_frequency(channel, None) == (channel, frequency)
    assert normalize_entry({"macAddress": "a0b1c2d3e4f5",
                            "channel": channel})["frequency"] == frequency


@pytest.mark.parametrize(("frequency", "channel"), [
    (2412, 1), (2472, 13), (2484, 14), (4915, 183), (5180, 36), (5925, 185),
])
def test_channel_from_frequency(frequency, channel):
    assert channel_frequency(None, frequency) == (channel, frequency)
    assert normalize_entry({"macAddress": "a0b1c2d3e4f5",
                            "frequency": frequency})["channel"] == channel


@pytest.mark.parametrize(("entry", "expected"), [
    ({"channel": 0}, (None, None)),
    ({"channel": 200}, (None, None)),
    ({"frequency": 2399}, (None, None)),
    ({"frequency": 7200}, (None, None)),
    ({"channel": 3, "frequency": 2412}, (3, 2412)),  # both given: kept as they are
])
def test_out_of_range_channel_and_frequency(entry, expected):
    out = normalize_entry({"macAddress": "a0b1c2d3e4f5", **entry})
    assert (out["channel"], out["frequency"]) == expected


@pytest.mark.parametrize("frequency", [5955, 6000, 6415, 7115])
def test_six_ghz_frequencies_are_kept(frequency):
    out = normalize_entry({"macAddress": "a0b1c2d3e4f5", "frequency": frequency})
    assert out["frequency"] == frequency
    assert out["channel"] is None  # 6 GHz channel numbers overlap the 2.4/5 GHz ones


@pytest.mark.parametrize(("field", "value"), [
    ("signalStrength", -101), ("signalStrength", -9), ("signalToNoiseRatio", 0),
    ("signalToNoiseRatio", 101), ("age", 3_600_001), ("age", -3_600_001),
])
def test_out_of_range_fields_become_none(field, value):
    names = {"signalStrength": "signal", "signalToNoiseRatio": "snr", "age": "age"}
    out = normalize_entry({"macAddress": "a0b1c2d3e4f5", field: value})
    assert out is not None and out[names[field]] is None


def test_malformed_networks_are_dropped_silently_not_rejected(client, api_key):
    body = {"considerIp": False,
            "wifiAccessPoints": [{"macAddress": "a0b1c2d3e4f5"}, {"macAddress": "zz"}]}
    response = client.post(f"/v1/geolocate?key={api_key}", json=body)
    assert response.status_code == 404
