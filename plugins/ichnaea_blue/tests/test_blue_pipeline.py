"""The whole path for Bluetooth beacons, on both backends: submit beacons with
a GPS position, process the pipeline, then locate with the same beacons."""

from __future__ import annotations

import math

import pytest

from ichnaea_blue.models import MODEL
from ichnaea_host.stations import MAC_SHARDS as SHARDS

P1 = (51.5, -0.1)
P2 = (51.50027, -0.1)  # 30 m north of P1
P3 = (51.5018, -0.1)  # 200 m north of P1
BEACONS = {name: f"{i:02x}:23:45:67:89:{i:02x}" for i, name in enumerate("ABCDEFG", 1)}


def report(position, names, accuracy=10.0):
    return {
        "position": {"latitude": position[0], "longitude": position[1],
                     "accuracy": accuracy, "source": "gnss"},
        "bluetoothBeacons": [{"macAddress": BEACONS[n], "signalStrength": -70 - i, "age": 100}
                             for i, n in enumerate(names)],
    }


def submit(client, api_key, *reports):
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": list(reports)})
    assert response.status_code == 200, response.get_data(as_text=True)


def locate(client, api_key, names):
    query = {"considerIp": False,
             "bluetoothBeacons": [{"macAddress": BEACONS[n].upper().replace(":", "-"),
                                   "signalStrength": -80} for n in names]}
    return client.post(f"/v1/geolocate?key={api_key}", json=query)


def row(mac):
    plain = mac.replace(":", "")
    model = MODEL
    return model.get_or_none(model.mac == plain)


def test_migrations_leave_one_table_and_sixteen_work_partitions(runtime):
    tables = set(runtime.db.rw.get_tables())
    assert "blue" in tables
    assert not {f"blue_shard_{s}" for s in SHARDS} & tables
    assert len(SHARDS) == 16


def test_submit_then_locate(client, api_key, internal_export, drain, runtime):
    submit(client, api_key, report(P1, "AB"), report(P2, "CD"))
    runs = drain()
    assert runs["update_blue"] >= 1
    stored = row(BEACONS["C"])
    assert stored.lat == pytest.approx(P2[0]) and stored.samples == 1

    response = locate(client, api_key, "ABCD")
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert abs(data["location"]["lat"] - 51.500135) < 0.00005
    assert abs(data["location"]["lng"] + 0.1) < 0.00005
    # four beacons seen once (25 m range each), two 15 m either side of the answer
    assert data["accuracy"] == pytest.approx(math.sqrt(15**2 / 4 + 25**2 / 4), rel=0.01)
    assert "fallback" not in data

    data = locate(client, api_key, "AB").get_json()  # co-located: their range, not less
    assert data["location"] == {"lat": P1[0], "lng": P1[1]}
    assert data["accuracy"] == pytest.approx(25 / math.sqrt(2), rel=1e-6)


def test_one_known_beacon_reveals_nothing(client, api_key, internal_export, drain):
    submit(client, api_key, report(P1, "AB"))
    drain()
    assert locate(client, api_key, "AE").status_code == 404  # E is unknown


def test_beacons_far_apart_give_no_answer(client, api_key, internal_export, drain):
    submit(client, api_key, report(P1, "AB"), report(P3, "EF"))
    drain()
    response = locate(client, api_key, "AE")
    assert response.status_code == 404
    assert response.get_json()["error"]["errors"][0]["reason"] == "notFound"
    # a close pair among them still answers, from the pair only
    data = locate(client, api_key, "AEF").get_json()
    assert abs(data["location"]["lat"] - P3[0]) < 0.00001


def test_inconsistent_observations_block(client, api_key, internal_export, drain):
    # 200 m apart is fine for a WiFi network, too far for a beacon
    submit(client, api_key, report(P1, "AG"), report(P3, "G"))
    drain()
    blocked = row(BEACONS["G"])
    assert blocked.lat is None and blocked.block_count == 1
    assert row(BEACONS["A"]).lat == pytest.approx(P1[0])


def test_imprecise_positions_are_ignored(client, api_key, internal_export, drain):
    submit(client, api_key, report(P1, "AB", accuracy=150.0))
    drain()
    assert row(BEACONS["A"]) is None
