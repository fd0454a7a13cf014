"""Daily statistics on both backends: the stat counters fed by station updates,
the cumulative ``stat`` table, its cleanup, and ``region_stat``."""

from __future__ import annotations

import socket
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import pytest
from marshmallow import Schema, fields

from ichnaea_host import Radio, hookimpl
from ichnaea_host.core.db import MacField
from ichnaea_host.core.models import RegionStat, Stat
from ichnaea_host.core.plugin_classes import StationUpdater
from ichnaea_host.pipeline.stats import (
    REGION_STATS_CACHE_KEY,
    cleanup_stat,
    region_stats,
    stat_keys,
    stat_totals,
    update_statcounter,
    update_statregion,
)
from ichnaea_host.stations import station_model

WIFI, UNIQUE_WIFI, BLUE, UNIQUE_BLUE = 3, 4, 8, 9
MACS = ["a01111111101", "a01112222202", "a01113333303"]


def today() -> date:
    return datetime.utcnow().date()  # noqa: DTZ003


def report(lat: float, lon: float, macs: list[str], beacons: list[str] = ()) -> dict[str, Any]:
    return {"position": {"latitude": lat, "longitude": lon, "accuracy": 10.0},
            "wifiAccessPoints": [{"macAddress": m, "signalStrength": -70} for m in macs],
            "bluetoothBeacons": [{"macAddress": m, "signalStrength": -70} for m in beacons]}


def submit(client: Any, key: str, *reports: dict[str, Any]) -> None:
    response = client.post(f"/v2/geosubmit?key={key}", json={"items": list(reports)})
    assert response.status_code == 200, response.get_data(as_text=True)


def day_values(key: int) -> dict[date, int]:
    return {row.time: row.value for row in Stat.select().where(Stat.key == key)}


class StatsdServer:
    """A statsd server on 127.0.0.1: collects the UDP lines the service sends."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[str] = []

    def lines(self) -> list[str]:
        """Every line received so far."""
        while True:
            try:
                self.received.append(self.sock.recv(65536).decode())
            except TimeoutError:
                return self.received

    def counters(self, name: str) -> dict[str, float]:
        """Sum of the counter ``location.<name>`` per tag string, so far."""
        totals: dict[str, float] = {}
        for line in self.lines():
            metric, _, rest = line.partition(":")
            if metric != f"location.{name}":
                continue
            value, kind, *tags = rest.split("|")
            assert kind == "c"
            tag = tags[0].lstrip("#") if tags else ""
            totals[tag] = totals.get(tag, 0) + float(value)
        return totals


@pytest.fixture
def statsd() -> Any:
    server = StatsdServer()
    yield server
    server.sock.close()


def test_station_updates_feed_the_daily_stats(make_runtime, api_key_factory, statsd):
    from ichnaea_host.app import create_app
    from ichnaea_host.core.models import ExportConfig
    from ichnaea_host.pipeline.tasks import drain

    rt = make_runtime(statsd_host="127.0.0.1", statsd_port=statsd.port)
    client = create_app(runtime=rt).test_client()
    key = api_key_factory("stats")
    ExportConfig.create(name="internal", batch=0, schema="internal")

    submit(client, key, report(51.5, -0.1, MACS, ["b01111111101"]),
           report(51.5001, -0.1, MACS))
    drain(rt)
    assert day_values(WIFI)[today()] == 6  # three networks seen twice
    assert day_values(UNIQUE_WIFI)[today()] == 3  # three new networks
    assert day_values(BLUE)[today()] == 1
    assert day_values(UNIQUE_BLUE)[today()] == 1
    assert day_values(WIFI)[today() - timedelta(days=1)] == 0  # a row for every day
    assert statsd.counters("data.observation.insert") == {"type:wifi": 6, "type:blue": 1}
    assert statsd.counters("data.station.new") == {"type:wifi": 3, "type:blue": 1}

    submit(client, key, report(51.5, -0.1, MACS))
    drain(rt)
    assert day_values(WIFI)[today()] == 9
    assert day_values(UNIQUE_WIFI)[today()] == 3  # no new network
    assert statsd.counters("data.station.confirm") == {"type:wifi": 3}
    assert statsd.counters("data.observation.insert") == {"type:wifi": 9, "type:blue": 1}
    assert int(rt.redis.get(f"statcounter_wifi_{today():%Y%m%d}")) == 0


def test_internal_export_counts_reports_and_observations_per_key(make_runtime, api_key_factory,
                                                                  statsd):
    from ichnaea_host.core.models import ExportConfig
    from ichnaea_host.pipeline.tasks import drain
    from ichnaea_host.plugins.runtime import INCOMING_QUEUE

    rt = make_runtime(statsd_host="127.0.0.1", statsd_port=statsd.port)
    key = api_key_factory("stats")
    ExportConfig.create(name="internal", batch=0, schema="internal")
    bad_wifi = {"macAddress": "not-a-mac", "signalStrength": -70}
    good = report(51.5, -0.1, MACS[:2])
    good["wifiAccessPoints"].append(bad_wifi)
    items = [
        {"api_key": key, "report": good},  # 2 observations, 1 invalid entry
        {"api_key": key, "report": report(51.5001, -0.1, MACS[1:])},  # 2 observations
        {"api_key": key, "report": report(0.0, 0.0, MACS)},  # no usable position
        {"api_key": "nobody", "report": report(51.5, -0.1, [], ["b01111111101"])},
        {"api_key": None, "report": {"position": {"latitude": 51.5, "longitude": -0.1},
                                     "wifiAccessPoints": [bad_wifi]}},
        {"api_key": key, "report": report(51.5, -0.1, [])},  # names no network: not counted
    ]
    rt.queue(INCOMING_QUEUE).enqueue(items)
    drain(rt)

    # keys not in the api_key table get no key tag, as in the original
    assert statsd.counters("data.report.upload") == {"key:stats": 3, "": 2}
    assert statsd.counters("data.report.drop") == {"key:stats": 1, "": 1}
    assert statsd.counters("data.observation.upload") == {"type:wifi,key:stats": 4,
                                                          "type:blue": 1}
    assert statsd.counters("data.observation.drop") == {"type:wifi,key:stats": 1,
                                                        "type:wifi": 1}


def test_stat_rows_hold_cumulative_totals(runtime):
    day = date(2024, 3, 10)
    Stat.create(key=WIFI, time=day - timedelta(days=3), value=100)
    runtime.redis.set(f"statcounter_wifi_{day - timedelta(days=1):%Y%m%d}", 5)
    runtime.redis.set(f"statcounter_wifi_{day:%Y%m%d}", 7)

    update_statcounter(runtime, today=day)
    assert stat_totals(runtime, WIFI) == [
        (day - timedelta(days=3), 100), (day - timedelta(days=1), 105), (day, 112)]
    assert int(runtime.redis.get(f"statcounter_wifi_{day:%Y%m%d}")) == 0

    runtime.redis.incrby(f"statcounter_wifi_{day:%Y%m%d}", 3)
    update_statcounter(runtime, today=day)
    update_statcounter(runtime, today=day)  # nothing new: nothing added twice
    assert stat_totals(runtime, WIFI)[-1] == (day, 115)
    # the counters of a kind nobody observed still get their daily rows
    assert stat_totals(runtime, UNIQUE_BLUE) == [(day - timedelta(days=1), 0), (day, 0)]


def test_cleanup_stat_keeps_two_years(runtime):
    day = date(2024, 3, 10)
    for age in (0, 730, 731, 2000):
        Stat.create(key=WIFI, time=day - timedelta(days=age), value=age)
    assert cleanup_stat(runtime, today=day) == 2
    assert [v for _, v in stat_totals(runtime, WIFI)] == [730, 0]


ACME_TABLE = station_model("acme_station", "mac", MacField(primary_key=True))


class AcmeRadio(Radio):
    """A third-party station kind: learns its stations with the kit, knows
    regions by heart."""

    PLUGIN_NAME = "acme"
    FIELD = "acmeNetworks"
    ENTRY_SCHEMA = Schema.from_dict({"id": fields.String()})
    MODEL = ACME_TABLE
    POSITION_ORDER = None
    REGION_ORDER = None
    COUNTS: ClassVar[dict[str, dict[str, int]]] = {
        "gsm": {"DE": 4}, "lte": {"DE": 1, "FR": 2}, "nosuch": {"DE": 1}}

    def region_counts(self) -> dict[str, dict[str, int]]:
        return self.COUNTS


class AcmePlugin:
    @hookimpl
    def ichnaea_register_radios(self) -> list[Any]:
        return [AcmeRadio]


def acme_updater() -> type[StationUpdater]:
    """The host's updater class of the acme radio."""
    from ichnaea_host.stations.adapters import derive

    return derive(AcmeRadio)["station_updaters"]  # type: ignore[return-value]


def test_stat_keys_name_no_radio():
    class Other(StationUpdater):
        PLUGIN_NAME = "zigbee"

    class Chosen(StationUpdater):
        PLUGIN_NAME = "zigbee"
        STAT_KEYS = (50, 51)

    assert stat_keys(acme_updater()) == stat_keys(acme_updater())
    obs, unique = stat_keys(Other)
    assert 100 <= obs < 32100 and obs % 2 == 0 and unique == obs + 1
    assert stat_keys(acme_updater()) != (obs, unique)
    assert stat_keys(Chosen) == (50, 51)


def test_a_third_party_updater_gets_its_own_stats(make_runtime):
    from ichnaea_host.pipeline.tasks import drain

    rt = make_runtime(extra=(("acme", AcmePlugin()),))
    ACME_TABLE.create_table(safe=True)
    try:
        # five observations of four stations, learnt by the station kit
        rt.queue("update_acme_0").enqueue([
            {"mac": f"a0000000000{i % 4}", "lat": 51.5, "lon": -0.1, "accuracy": 10.0,
             "source": "gnss"} for i in range(5)])
        drain(rt)
    finally:
        ACME_TABLE.drop_table(safe=True)
    obs, unique = stat_keys(acme_updater())
    assert day_values(obs)[today()] == 5
    assert day_values(unique)[today()] == 4
    assert int(rt.redis.get(f"statcounter_unique_acme_{today():%Y%m%d}")) == 0


def _stations(model: Any, prefix: str, regions: list[str | None]) -> None:
    model.insert_many([{"mac": f"{prefix}{i:06x}", "lat": 1.0, "lon": 1.0, "region": region}
                       for i, region in enumerate(regions)]).execute()


def test_region_stats_count_stations_per_region(make_runtime):
    from ichnaea_blue.models import MODEL as BLUE_TABLE
    from ichnaea_wifi.models import MODEL as WIFI_TABLE

    rt = make_runtime(extra=(("acme", AcmePlugin()),))
    assert update_statregion(rt) == 2  # only the plugin's counts so far
    _stations(WIFI_TABLE, "000000", ["DE", "DE", "FR", None])
    _stations(WIFI_TABLE, "0000ff", ["DE"])
    _stations(BLUE_TABLE, "000033", ["GB"])
    RegionStat.create(region="XX", kind="wifi", count=5)
    RegionStat.create(region="DE", kind="gone", count=5)
    rt.redis.set(REGION_STATS_CACHE_KEY, b"old")

    assert update_statregion(rt) == 3
    # every kind counted has its rows, "nosuch" too; what nobody counts any more goes
    assert region_stats(rt) == {"DE": {"gsm": 4, "lte": 1, "nosuch": 1, "wifi": 3},
                                "FR": {"lte": 2, "wifi": 1}, "GB": {"blue": 1}}
    assert rt.redis.get(REGION_STATS_CACHE_KEY) is None

    WIFI_TABLE.delete().where(WIFI_TABLE.region == "FR").execute()
    assert update_statregion(rt) == 3
    assert region_stats(rt)["FR"] == {"lte": 2}


def test_region_stats_untouched_when_nothing_counted(runtime):
    RegionStat.create(region="DE", kind="wifi", count=5)
    assert update_statregion(runtime) == 0
    assert region_stats(runtime) == {"DE": {"wifi": 5}}


def test_region_stats_job_counts_once_a_day(runtime, monkeypatch):
    """The job reads every station table whole: once a day (issue 31), and at
    every look while nothing was found, never again at a scheduler's restart."""
    from ichnaea_host.pipeline import periodic, stats

    calls: list[int] = []
    found = [0]

    def counted(rt: Any) -> int:
        calls.append(1)
        return found[0]

    monkeypatch.setattr(stats, "update_statregion", counted)
    periodic._update_statregion(runtime, now=1000.0)
    periodic._update_statregion(runtime, now=1100.0)
    assert len(calls) == 2  # nothing found yet: counted at every look
    found[0] = 3
    periodic._update_statregion(runtime, now=1200.0)
    periodic._update_statregion(runtime, now=1200.0 + 3600)
    periodic._update_statregion(runtime, now=1200.0 + 86399)
    assert len(calls) == 3  # regions found: not again within the day
    periodic._update_statregion(runtime, now=1200.0 + 86400)
    assert len(calls) == 4
