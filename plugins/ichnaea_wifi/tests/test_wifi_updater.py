"""Learning access points from submitted reports, through the real queues:
observation weights, the transition table (new, change, confirm, replace,
block) and the blocking rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ichnaea_host.core.geo import distance
from ichnaea_host.pipeline.reports import normalize_position
from ichnaea_host.pipeline.tasks import update_stations
from ichnaea_host.stations import MAX_OLD_WEIGHT, is_blocked
from ichnaea_host.testing import radio_part
from ichnaea_wifi.models import MODEL
from ichnaea_wifi.radio import WifiRadio

MACS = ["a0b1c2d3e4f5", "3680873e9b83"]
LAT, LON = 51.5, -0.1
KM_LAT = 1 / 111.2  # about one kilometre of latitude, in degrees

UPDATER = radio_part(WifiRadio, "station_updaters")  # weights need no context


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def today() -> date:
    return now().date()


def report(lat: float, lon: float, macs: list[str] = MACS, *, accuracy: float | None = 10.0,
           source: str = "gnss", signal: int | None = -80, **position: Any) -> dict[str, Any]:
    pos = {"latitude": lat, "longitude": lon, "source": source, **position}
    if accuracy is not None:
        pos["accuracy"] = accuracy
    entries = [{"macAddress": m} if signal is None else {"macAddress": m, "signalStrength": signal}
               for m in macs]
    return {"position": pos, "wifiAccessPoints": entries}


def submit(client: Any, key: str, drain: Any, *reports: dict[str, Any]) -> None:
    response = client.post(f"/v2/geosubmit?key={key}", json={"items": list(reports)})
    assert response.status_code == 200
    drain()


def station(mac: str) -> Any:
    model = MODEL
    return model.get_or_none(model.mac == mac)


def set_station(mac: str, **values: Any) -> None:
    model = MODEL
    assert model.update(**values).where(model.mac == mac).execute() == 1


# ---------------------------------------------------------------------------
# weights


@pytest.mark.parametrize(("observation", "weight"), [
    ({"accuracy": 10}, 1.0),
    ({"accuracy": 0}, 1.0),
    ({"accuracy": 5}, 1.0),
    ({"accuracy": 20}, 0.7071),
    ({"accuracy": 40}, 0.5),
    ({"accuracy": 100}, 0.3162),
    ({"accuracy": 160}, 0.25),
    ({"accuracy": 200}, 0.2236),
    ({"accuracy": 200.1}, 0.0),
    ({"accuracy": 10, "signal": -10}, 123.46),
    ({"accuracy": 100, "signal": -30}, 5.06),
])
def test_accuracy_weight_reference_values(observation, weight):
    assert UPDATER.weight(observation) == pytest.approx(weight, abs=0.005)


@pytest.mark.parametrize(("signal", "weight"), [
    (-100, 0.4823), (-98.9, 0.5), (-80, 1.0), (None, 1.0), (-64.1, 2.0), (-60, 2.4414),
    (-50.7, 4.0), (-30, 16.0), (-10, 123.46),
])
def test_signal_weight_reference_values(signal, weight):
    assert UPDATER.weight({"signal": signal}) == pytest.approx(weight, abs=0.005)


@pytest.mark.parametrize(("age", "weight"), [
    (1000, 1.0), (2000, 1.0), (5000, 0.6325), (8000, 0.5), (20000, 0.3162), (20001, 0.0),
    (-5000, 0.6325), (-20001, 0.0),
])
def test_age_weight_reference_values(age, weight):
    assert UPDATER.weight({"age": age}) == pytest.approx(weight, abs=0.0005)


@pytest.mark.parametrize(("speed", "weight"), [
    (0, 1.0), (5, 1.0), (10, 0.7071), (20, 0.5), (50, 0.3162), (50.1, 0.0),
])
def test_speed_weight_reference_values(speed, weight):
    assert UPDATER.weight({"speed": speed}) == pytest.approx(weight, abs=0.0005)


def test_weights_multiply():
    observation = {"accuracy": 40, "signal": -30, "age": 8000, "speed": 20}
    assert UPDATER.weight(observation) == pytest.approx(0.5 * 16.0 * 0.5 * 0.5, rel=1e-3)


# ---------------------------------------------------------------------------
# splitting reports into observations


def test_split_shards_by_fifth_hex_digit_and_cleans_entries():
    raw = {
        "timestamp": 1_700_000_000_000,
        "position": {"latitude": LAT, "longitude": LON, "accuracy": 12.0, "age": 6001,
                     "source": "gnss"},
        "wifiAccessPoints": [
            {"macAddress": "36:80:87:3e:9b:83", "signalStrength": -90, "ssid": "home"},
            {"macAddress": "3680873E9B83", "signalStrength": -70, "age": 1000},
            {"macAddress": "a0-b1-c2-d3-e4-f5", "frequency": 5180},
            {"macAddress": "invalid"},
        ],
    }
    position = normalize_position(raw)
    assert position is not None
    split = UPDATER.split(dict(raw, position=position))
    assert sorted(split) == ["8", "c"]
    (strong,) = split["8"]
    assert strong["mac"] == "3680873e9b83"
    assert strong["signal"] == -70
    assert strong["age"] == 1000 - 6001  # moved back by the position's age
    assert "ssid" not in strong
    assert (strong["lat"], strong["lon"], strong["accuracy"]) == (LAT, LON, 12.0)
    assert strong["timestamp"] == 1_700_000_000_000 - 6001
    (other,) = split["c"]
    assert (other["channel"], other["frequency"], other["age"]) == (36, 5180, -6001)


# ---------------------------------------------------------------------------
# the transitions, through submit and the pipeline


def test_new_station_from_gnss_reports(client, api_key, internal_export, drain):
    start = now()
    submit(client, api_key, drain,
           report(LAT, LON, accuracy=10.0),              # weight 1
           report(LAT + KM_LAT, LON, accuracy=40.0),     # weight 0.5
           report(LAT + 0.5, LON, accuracy=250.0))       # too imprecise: weight 0, dropped
    for mac in MACS:
        row = station(mac)
        assert row is not None
        assert row.lat == pytest.approx((LAT + 0.5 * (LAT + KM_LAT)) / 1.5)
        assert row.lon == pytest.approx(LON)
        assert (row.samples, row.source) == (2, 3)
        assert row.weight == pytest.approx(1.5)
        assert (row.max_lat, row.min_lat) == (pytest.approx(LAT + KM_LAT), pytest.approx(LAT))
        assert 400 < row.radius < 700
        assert row.created >= start and row.modified >= start
        assert row.last_seen == today()
        assert row.block_count is None and row.block_last is None


def test_station_from_query_reports_has_query_source(client, api_key, internal_export,
                                                     drain):
    submit(client, api_key, drain, report(LAT, LON, source="query"))
    assert station(MACS[0]).source == 9
    # a gnss report nearby replaces what queries taught us
    submit(client, api_key, drain, report(LAT + KM_LAT, LON, accuracy=40.0))
    row = station(MACS[0])
    assert (row.source, row.samples) == (3, 1)
    assert row.lat == pytest.approx(LAT + KM_LAT)
    assert row.weight == pytest.approx(0.5)


def test_confirm_by_query_updates_last_seen_only(client, api_key, internal_export, drain):
    submit(client, api_key, drain, report(LAT, LON))
    earlier = now() - timedelta(days=3)
    set_station(MACS[0], last_seen=earlier.date(), modified=earlier)
    before = station(MACS[0])

    submit(client, api_key, drain, report(LAT + KM_LAT, LON, source="query"))
    after = station(MACS[0])
    assert after.last_seen == today()
    assert after.modified == before.modified
    for name in ("lat", "lon", "samples", "weight", "radius", "source", "max_lat"):
        assert getattr(after, name) == getattr(before, name), name
    # the other station was confirmed on the day it was made: nothing to write
    assert station(MACS[1]).samples == 1


def test_change_combines_old_and_new_positions(client, api_key, internal_export, drain):
    submit(client, api_key, drain, report(LAT, LON, accuracy=10.0))
    # two days later (the same day, a 2 km jump would be a moving station:
    # test_wifi_moving.py)
    set_station(MACS[0], modified=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2))
    submit(client, api_key, drain, report(LAT + 2 * KM_LAT, LON + 0.01, accuracy=40.0))
    row = station(MACS[0])
    assert row.lat == pytest.approx((LAT * 1.0 + (LAT + 2 * KM_LAT) * 0.5) / 1.5)
    assert row.lon == pytest.approx((LON * 1.0 + (LON + 0.01) * 0.5) / 1.5)
    assert (row.samples, row.source) == (2, 3)
    assert row.weight == pytest.approx(1.5)
    assert row.max_lat == pytest.approx(LAT + 2 * KM_LAT)
    assert row.min_lat == pytest.approx(LAT)
    assert row.max_lon == pytest.approx(LON + 0.01)
    # the radius covers the whole box, measured from the new centre
    assert row.radius >= distance(row.lat, row.lon, LAT, LON) - 1


def test_change_caps_the_old_weight(client, api_key, internal_export, drain):
    submit(client, api_key, drain, report(LAT, LON))
    set_station(MACS[0], weight=50000.0)
    submit(client, api_key, drain, report(LAT + KM_LAT, LON, signal=-10))
    new_weight = UPDATER.weight({"accuracy": 10.0, "signal": -10})
    row = station(MACS[0])
    expected = (LAT * MAX_OLD_WEIGHT + (LAT + KM_LAT) * new_weight) / (MAX_OLD_WEIGHT +
                                                                     new_weight)
    assert row.lat == pytest.approx(expected, abs=1e-9)
    assert row.weight == pytest.approx(50000.0 + new_weight)


def test_inconsistent_reports_create_a_blocked_station(runtime, internal_export, drain):
    far = report(LAT + 10 * KM_LAT, LON, macs=MACS[:1])
    near = report(LAT, LON, macs=MACS[:1])
    observations = UPDATER.split(dict(near, position=normalize_position(near)))["c"] + \
        UPDATER.split(dict(far, position=normalize_position(far)))["c"]
    runtime.queue("update_wifi_c").enqueue(observations)
    assert update_stations(runtime, "wifi", "c") is False
    row = station(MACS[0])
    assert row is not None
    assert row.lat is None and row.lon is None and row.radius is None
    assert row.samples is None and row.weight is None and row.last_seen is None
    assert (row.block_count, row.block_first, row.block_last) == (1, today(), today())
    assert row.created is not None


def test_disagreeing_gnss_report_blocks_the_station(client, api_key, internal_export,
                                                    drain):
    submit(client, api_key, drain, report(LAT, LON))
    submit(client, api_key, drain, report(LAT + 10 * KM_LAT, LON))
    row = station(MACS[0])
    assert row.lat is None and row.samples is None and row.source is None
    assert (row.block_count, row.block_first, row.block_last) == (1, today(), today())

    # blocked stations learn nothing, whatever comes
    submit(client, api_key, drain, report(LAT, LON), report(LAT, LON, source="query"))
    again = station(MACS[0])
    assert again.lat is None and again.block_count == 1
    assert again.modified == row.modified


def test_disagreeing_report_replaces_a_position_older_than_a_year(client, api_key,
                                                                  internal_export, drain):
    submit(client, api_key, drain, report(LAT, LON))
    long_ago = now() - timedelta(days=400)
    set_station(MACS[0], modified=long_ago, created=long_ago, last_seen=long_ago.date())
    submit(client, api_key, drain, report(LAT + 10 * KM_LAT, LON, accuracy=40.0))
    row = station(MACS[0])
    assert row.lat == pytest.approx(LAT + 10 * KM_LAT)
    assert (row.samples, row.block_count) == (1, None)
    assert row.weight == pytest.approx(0.5)


def test_block_count_grows_and_keeps_the_first_block_day(client, api_key, internal_export,
                                                         drain):
    submit(client, api_key, drain, report(LAT, LON))
    first = today() - timedelta(days=100)
    long_ago = now() - timedelta(days=200)
    set_station(MACS[0], block_first=first, block_last=first, block_count=2,
                created=long_ago)
    submit(client, api_key, drain, report(LAT + 10 * KM_LAT, LON))
    row = station(MACS[0])
    assert (row.block_count, row.block_first, row.block_last) == (3, first, today())


# ---------------------------------------------------------------------------
# the blocking rule


def blocked(created_days: int | None, count: int | None, last_days: int | None = None,
            on: date | None = None) -> bool:
    day = today()
    row = MODEL(
        mac="000000000001",
        created=None if created_days is None else now() - timedelta(days=created_days),
        block_count=count,
        block_last=None if last_days is None else day - timedelta(days=last_days),
    )
    return is_blocked(row, on or day)


@pytest.mark.parametrize(("created_days", "count", "expected"), [
    (14, 1, True), (30, 1, True), (44, 1, True), (45, 1, False), (45, 2, True),
    (75, 2, True), (76, 2, False), (105, 3, False), (105, 4, True), (400, 0, False),
    (400, None, False), (None, 5, False),
])
def test_blocked_by_count_and_age(created_days, count, expected):
    assert blocked(created_days, count) is expected


def test_blocked_for_two_days_after_the_last_block():
    assert blocked(None, None, last_days=0) is True
    assert blocked(None, None, last_days=1) is True
    assert blocked(None, None, last_days=2) is False
    assert blocked(400, 1, last_days=14) is False
    # on the day of the block, the same station was blocked
    assert blocked(400, 1, last_days=14, on=today() - timedelta(days=14)) is True


@pytest.mark.parametrize(("created_days", "expected_samples"), [(30, 1), (45, 2)])
def test_station_blocked_by_count_is_skipped(client, api_key, internal_export, drain,
                                             created_days, expected_samples):
    submit(client, api_key, drain, report(LAT, LON))
    created = now() - timedelta(days=created_days)
    set_station(MACS[0], created=created, block_count=1,
                block_first=created.date(), block_last=created.date())
    submit(client, api_key, drain, report(LAT, LON))
    assert station(MACS[0]).samples == expected_samples
    assert station(MACS[1]).samples == 2


def test_station_without_position_learns_again_once_its_block_expires(
        client, api_key, internal_export, drain):
    submit(client, api_key, drain, report(LAT, LON))
    submit(client, api_key, drain, report(LAT + 10 * KM_LAT, LON))  # blocked today
    assert station(MACS[0]).lat is None
    block_day = today() - timedelta(days=60)
    set_station(MACS[0], created=now() - timedelta(days=400), block_first=block_day,
                block_last=block_day)
    # observations that disagree among themselves teach nothing
    submit(client, api_key, drain, report(LAT, LON), report(LAT + 10 * KM_LAT, LON))
    assert station(MACS[0]).lat is None
    submit(client, api_key, drain, report(LAT + KM_LAT, LON, accuracy=40.0))
    row = station(MACS[0])
    assert row.lat == pytest.approx(LAT + KM_LAT)
    assert (row.samples, row.source, row.last_seen) == (1, 3, today())
    assert row.weight == pytest.approx(0.5)
    assert (row.block_count, row.block_first, row.block_last) == (1, block_day, block_day)


def test_two_work_partitions_write_new_stations_into_the_table_at_once(backend, runtime,
                                                                        monkeypatch):
    """Two workers' batches of new networks, read and locked at the same time,
    both go in without a deadlock and a retry, though they share one table."""
    if backend != "mysql":
        pytest.skip("SQLite has one writer at a time")
    import threading

    from ichnaea_host.stations import updater as updater_module

    updater = runtime.updater("wifi")
    both_read = threading.Barrier(2, timeout=10)
    writes: list[str] = []
    original = updater_module.write_rows

    def write_rows(model: Any, key_field: Any, rows: list[dict[str, Any]]) -> None:
        writes.append(rows[0]["mac"][4])
        if writes.count(rows[0]["mac"][4]) == 1:
            both_read.wait()  # the other batch holds its locks now too
        original(model, key_field, rows)

    monkeypatch.setattr(updater_module, "write_rows", write_rows)
    batches = {shard: [{"mac": f"a0b1{shard}{i:07x}", "lat": LAT, "lon": LON,
                        "accuracy": 10.0, "source": "gnss"} for i in range(20)]
               for shard in "37"}
    errors: list[BaseException] = []

    def run(shard: str) -> None:
        try:
            assert updater.update(shard, batches[shard]).new == 20
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            MODEL._meta.database.close()

    threads = [threading.Thread(target=run, args=(shard,)) for shard in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(writes) == ["3", "7"]  # one write each: no batch was rolled back and retried
    assert MODEL.select().count() == 40
