"""The datamap: report positions -> grid queues -> datamap tables."""

from __future__ import annotations

from datetime import timedelta

from ichnaea_host.core.clock import today_utc
from ichnaea_host.pipeline import datamap


def report(lat: float, lon: float, n: int = 0, wifi: bool = True) -> dict:
    networks = [{"macAddress": f"02:00:00:{n // 256:02x}:{n % 256:02x}:{i:02x}",
                 "signalStrength": -60 - i} for i in range(2)] if wifi else []
    return {"position": {"latitude": lat, "longitude": lon, "accuracy": 10.0},
            "wifiAccessPoints": networks}


def submit(client, key: str, reports: list[dict]) -> None:
    response = client.post(f"/v2/geosubmit?key={key}", json={"items": reports})
    assert response.status_code == 200, response.data


def cells(shard: str) -> dict[tuple[int, int], object]:
    model = datamap.MODELS[shard]
    return {datamap.decode(bytes.fromhex(row.grid)): row for row in model.select()}


def test_grid_cells_and_shards():
    assert datamap.scale(51.5004, -0.1244) == (51500, -124)
    assert datamap.scale(0.0005, 0.0015) == (0, 2)  # half to even, as the original
    assert datamap.encode(0, 0) == bytes.fromhex("00015f900002bf20")
    assert datamap.decode(datamap.encode(-12345, 178000)) == (-12345, 178000)
    assert datamap.shard_of(36000, 5000) == "ne"
    assert datamap.shard_of(35999, 5000) == "se"
    assert datamap.shard_of(36000, 4999) == "nw"
    assert datamap.shard_of(35999, 4999) == "sw"


def test_reports_with_observations_reach_the_datamap(client, api_key, internal_export, drain):
    submit(client, api_key, [report(50.0, 10.0, 1), report(20.0, -10.0, 2),
                             report(20.0001, -10.0001, 3),   # the same cell as the one above
                             report(-33.9, 18.4, 4, wifi=False)])  # no observation: no cell
    drain()
    assert list(cells("ne")) == [(50000, 10000)]
    assert list(cells("sw")) == [(20000, -10000)]
    assert cells("nw") == {} and cells("se") == {}
    row = cells("ne")[(50000, 10000)]
    assert row.created == row.modified == today_utc()


def test_update_marks_old_cells_seen_today(runtime):
    today = today_utc()
    model = datamap.MODELS["ne"]
    old, fresh = datamap.encode(50000, 10000), datamap.encode(50001, 10000)
    model.insert_many([
        {"grid": old, "created": today - timedelta(days=40), "modified": today - timedelta(days=9)},
        {"grid": fresh, "created": today - timedelta(days=3), "modified": today},
    ]).execute()
    datamap.queue_positions(runtime, [(50.0, 10.0), (50.001, 10.0), (50.002, 10.0)])
    assert datamap.datamap_queue(runtime, "ne").size() == 3
    assert datamap.update_datamap(runtime) is False
    rows = cells("ne")
    assert rows[(50000, 10000)].modified == today
    assert rows[(50000, 10000)].created == today - timedelta(days=40)
    assert rows[(50001, 10000)].created == today - timedelta(days=3)
    assert rows[(50002, 10000)].created == today
    assert datamap.datamap_queue(runtime, "ne").size() == 0


def test_bad_queue_items_are_dropped(runtime):
    queue = datamap.datamap_queue(runtime, "se")
    queue.enqueue([b"short", datamap.encode(1000, 2000)])
    datamap.update_datamap(runtime)
    assert list(cells("se")) == [(1000, 2000)]


def test_cleanup_deletes_cells_not_seen_for_a_year(runtime):
    today = today_utc()
    model = datamap.MODELS["sw"]
    model.insert_many([
        {"grid": datamap.encode(1, -1), "created": today - timedelta(days=500),
         "modified": today - timedelta(days=366)},
        {"grid": datamap.encode(2, -1), "created": today - timedelta(days=500),
         "modified": today - timedelta(days=365)},
    ]).execute()
    datamap.cleanup_datamap(runtime)
    assert list(cells("sw")) == [(2, -1)]
