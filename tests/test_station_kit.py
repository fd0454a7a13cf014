"""The station kit is enough for a new radio type: a fake radio plugin, defined
here and registered like any plugin, learns its stations from submitted
reports through the pipeline and answers geolocate and country queries from
them, with nothing of the host changed. And the rule that picks one of a
network's duplicate entries."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from marshmallow import EXCLUDE, Schema, fields

from ichnaea_host import hookimpl
from ichnaea_host.core.db import MacField
from ichnaea_host.core.lenient import LenientInteger
from ichnaea_host.core.plugin_classes import StationLimits
from ichnaea_host.core.settings import setting
from ichnaea_host.stations import (
    MAC_RANKING,
    MacRadio,
    MacSettings,
    Radio,
    better,
    bounded,
    dedupe,
    normalize_mac,
    station_model,
)

# ---------------------------------------------------------------------------
# the fake radio: "fakeBeacons" in reports and queries, one station table

FIELD = "fakeBeacons"
MODEL = station_model("fake_station", "mac", MacField(primary_key=True))



def normalize_entry(entry: dict[str, Any]) -> dict[str, Any] | None:
    mac = normalize_mac(entry.get("macAddress"))
    if mac is None:
        return None
    return {"mac": mac, "age": bounded(entry.get("age"), -3_600_000, 3_600_000),
            "signal": bounded(entry.get("signalStrength"), -127, 0),
            "label": entry.get("label")}


class FakeEntry(Schema):
    class Meta:
        unknown = EXCLUDE

    macAddress = fields.String(allow_none=True)
    age = LenientInteger()
    signalStrength = LenientInteger()
    label = fields.String(allow_none=True)


@dataclasses.dataclass(frozen=True)
class FakeSettings(MacSettings):
    cluster_meters: float = setting(200.0, help="beacons farther apart never form one answer")
    max_networks: int = setting(10, help="beacons used for one position")
    station_range: float = setting(30.0, help="range of a beacon seen once, in metres")
    min_accuracy: float = setting(10.0, help="smallest accuracy answered, in metres")
    max_accuracy: float = setting(80.0, help="largest accuracy answered, in metres")


class FakeRadio(MacRadio):
    """The whole radio: its list of reports, its table, its limits and answers."""

    PLUGIN_NAME = "fake"
    FIELD = FIELD
    ENTRY_SCHEMA = FakeEntry
    MODEL = MODEL
    SHARDS = ("0",)  # one work partition
    SETTINGS = FakeSettings
    LIMITS = StationLimits(max_dist=200.0, max_accuracy=100.0)
    UNSTORED = frozenset({"label"})
    POSITION_ORDER = 5
    REGION_ORDER = 5

    def normalize_entry(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        return normalize_entry(entry)

    def shard_of(self, key: str) -> str:
        return "0"

    def query_json(self, lookups: list[Any]) -> list[dict[str, Any]]:
        return [dict(x) for x in lookups]

    #: the moving rule from ``LIMITS`` (the radio's class), not from settings
    moving_limits = Radio.moving_limits


class FakePlugin:
    @hookimpl
    def ichnaea_register_settings(self) -> Any:
        return FakeSettings

    @hookimpl
    def ichnaea_register_radios(self) -> list[Any]:
        return [FakeRadio]


MACS = ["0a:00:00:00:00:01", "0a:00:00:00:00:02", "0a:00:00:00:00:03"]


def report(lat: float, lon: float, beacons: list[dict[str, Any]] | None = None) -> dict:
    return {"position": {"latitude": lat, "longitude": lon, "accuracy": 10.0,
                         "source": "gnss"},
            FIELD: beacons if beacons is not None else
            [{"macAddress": m, "signalStrength": -70, "label": "shelf"} for m in MACS]}


@pytest.fixture
def fake_radio(make_runtime, api_key_factory):
    """(runtime, test client, API key) with the fake radio plugged in and its table made."""
    from ichnaea_host.app import create_app
    from ichnaea_host.core.models import ExportConfig

    rt = make_runtime(extra=(("fake", FakePlugin()),))
    MODEL.create_table(safe=True)
    ExportConfig.create(name="internal", batch=0, schema="internal")
    client = create_app(runtime=rt).test_client()
    yield rt, client, api_key_factory()
    MODEL.drop_table(safe=True)


def test_a_fake_radio_learns_stations_and_locates_with_them(fake_radio):
    from ichnaea_host.pipeline.tasks import drain

    rt, client, key = fake_radio
    assert {i.name: i for i in rt.plugins.plugin_list()}["fake"].enabled
    body = {"items": [report(51.5, -0.1), report(51.5002, -0.1002)]}
    assert client.post(f"/v2/geosubmit?key={key}", json=body).status_code == 200
    runs = drain(rt)
    assert runs["update_fake"] >= 1

    rows = {r.mac: r for r in MODEL.select()}
    assert sorted(rows) == sorted(normalize_mac(m) for m in MACS)
    for row in rows.values():
        assert (row.samples, row.region) == (2, "GB")
        assert abs(row.lat - 51.5001) < 1e-6 and abs(row.lon + 0.1001) < 1e-6

    query = {FIELD: [{"macAddress": m.upper(), "signalStrength": -70} for m in MACS]}
    response = client.post(f"/v1/geolocate?key={key}", json=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert abs(data["location"]["lat"] - 51.5001) < 1e-4
    assert abs(data["location"]["lng"] + 0.1001) < 1e-4
    assert 10.0 <= data["accuracy"] <= 80.0  # the fake radio's own limits

    response = client.post(f"/v1/country?key={key}", json=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["country_code"] == "GB"

    # one known beacon alone never reveals where it is
    alone = {FIELD: [{"macAddress": MACS[0]}, {"macAddress": "0a:00:00:00:00:99"}]}
    assert client.post(f"/v1/geolocate?key={key}", json=alone).status_code == 404


def test_a_fake_radio_keeps_the_entry_seen_nearest_the_position(fake_radio):
    """Of two entries of one beacon in a report, the one seen nearest the
    position's time is kept: an entry 30 s *after* the fix (age -30000) weighs
    nothing (ages beyond 20 s do), so keeping it would learn nothing."""
    from ichnaea_host.pipeline.tasks import drain

    rt, client, key = fake_radio
    beacons = [{"macAddress": m, "age": 0} for m in MACS[:2]]
    beacons += [{"macAddress": m, "age": -30000} for m in MACS[:2]]
    body = {"items": [report(51.5, -0.1, beacons)]}
    assert client.post(f"/v2/geosubmit?key={key}", json=body).status_code == 200
    drain(rt)
    assert sorted(r.mac for r in MODEL.select()) == sorted(normalize_mac(m) for m in MACS[:2])


# ---------------------------------------------------------------------------
# the rule for duplicates


def entry(**values: Any) -> dict[str, Any]:
    return {"mac": "0a0000000001", **values}


@pytest.mark.parametrize("kept, new, expected", [
    # the stronger signal decides first, whatever the ages
    (entry(signal=-60, age=9000), entry(signal=-70, age=0), True),
    (entry(signal=-70, age=0), entry(signal=-60, age=9000), False),
    # equal signals: the age nearer zero, on either side, wins
    (entry(signal=-60, age=-500), entry(signal=-60, age=1000), True),
    (entry(signal=-60, age=-5000), entry(signal=-60, age=1000), False),
    (entry(age=1000), entry(age=-5000), True),
    # a field one of them lacks decides nothing; nothing decides: not better
    (entry(signal=-60), entry(age=10), False),
    (entry(age=-700), entry(age=700), False),
])
def test_better_compares_signal_then_the_size_of_the_age(kept, new, expected):
    assert better(kept, new, MAC_RANKING) is expected


def test_dedupe_keeps_the_first_position_and_the_better_entry():
    entries = [entry(signal=-80, age=-4000), {"mac": "0a0000000002"},
               entry(signal=-80, age=2000), entry(signal=-80, age=3000)]
    assert dedupe(entries) == [entry(signal=-80, age=2000), {"mac": "0a0000000002"}]


@pytest.mark.parametrize("raw, expected", [
    ("AB:CD:EF:01:23:45", "abcdef012345"), ("ab-cd-ef-01-23-45", "abcdef012345"),
    ("abcd.ef01.2345", "abcdef012345"), (" abcdef012345 ", "abcdef012345"),
    ("abcdef01234", None), ("abcdef0123456", None), ("gbcdef012345", None),
    ("00:00:00:00:00:00", None), ("ff:ff:ff:ff:ff:ff", None), ("01:00:5e:90:10:00", None),
    (None, None), (0xABCDEF012345, None),
])
def test_normalize_mac(raw, expected):
    assert normalize_mac(raw) == expected


@pytest.mark.parametrize("value, expected", [
    (-100, -100), (-10, -10), (-55.5, -55.5), (-101, None), (-9, None),
    (True, None), ("-50", None), (float("nan"), None), (None, None),
])
def test_bounded(value, expected):
    assert bounded(value, -100, -10) == expected


def test_a_radio_sets_the_moving_rule_by_its_class(fake_radio, monkeypatch):
    """The rule is the kit's: a radio without settings for it names its
    limits in its class (``LIMITS.moving_meters``, ``LIMITS.moving_hours``)."""
    from ichnaea_host.pipeline.tasks import drain

    rt, client, key = fake_radio
    monkeypatch.setattr(FakeRadio, "LIMITS", StationLimits(max_dist=200.0, max_accuracy=100.0,
                                                           moving_meters=100.0))
    assert client.post(f"/v2/geosubmit?key={key}",
                       json={"items": [report(51.5, -0.1)]}).status_code == 200
    drain(rt)
    # 150 m north, within MAX_DIST (200 m) but beyond MOVING_DIST, the same day
    assert client.post(f"/v2/geosubmit?key={key}",
                       json={"items": [report(51.50135, -0.1)]}).status_code == 200
    drain(rt)
    rows = list(MODEL.select())
    assert rows and all(r.lat is None and r.block_count == 1 for r in rows)
    monkeypatch.setattr(FakeRadio, "LIMITS", StationLimits(  # nothing is recent any more
        max_dist=200.0, max_accuracy=100.0, moving_meters=100.0, moving_hours=0.0))
    MODEL.delete().execute()
    for lat in (51.5, 51.50135):
        assert client.post(f"/v2/geosubmit?key={key}",
                           json={"items": [report(lat, -0.1)]}).status_code == 200
        drain(rt)
    rows = list(MODEL.select())
    assert rows and all(r.lat is not None and not r.block_count for r in rows), \
        [(r.lat, r.block_count, r.block_last) for r in rows]
