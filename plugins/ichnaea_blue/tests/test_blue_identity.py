"""Beacons that announce an identity (NeoStumbler's ``beaconType``, ``id1``,
``id2``, ``id3``) are learnt under it as well as under their MAC, so a beacon
whose MAC is randomised between sightings stays one station."""

from __future__ import annotations

import itertools

import pytest

from ichnaea_blue.mac import identity_key
from ichnaea_blue.models import MODEL

HERE = (48.1371, 11.5754)
UUID = "2f234454-cf6d-4a0f-adf2-f4911ba9ffa6"
#: two iBeacons of one shop (one UUID, major 7, minors 1 and 2)
SHOP = [{"beaconType": 533, "id1": UUID, "id2": "7", "id3": str(minor)} for minor in (1, 2)]
_macs = (f"d{n // 256:x}:00:5e:10:{n // 16 % 16:x}0:{n % 256:02x}" for n in itertools.count(1))


def sighting(identity: dict, signal: int = -70) -> dict:
    """One sighting: the beacon's identity under a MAC it never used before."""
    return {"macAddress": next(_macs), "signalStrength": signal, **identity}


def submit(client, api_key, beacons: list[dict], where=HERE) -> None:
    item = {"position": {"latitude": where[0], "longitude": where[1], "accuracy": 5.0,
                         "source": "gnss"}, "bluetoothBeacons": beacons}
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": [item]})
    assert response.status_code == 200, response.get_data(as_text=True)


def locate(client, api_key, beacons: list[dict]):
    return client.post(f"/v1/geolocate?key={api_key}",
                       json={"considerIp": False, "bluetoothBeacons": beacons})


def test_a_beacon_whose_mac_rotates_is_one_station(client, api_key, internal_export, drain,
                                                   runtime):
    for north in (0.0, 0.00002, 0.00004):  # three visits, new MACs each time
        submit(client, api_key, [sighting(b) for b in SHOP], (HERE[0] + north, HERE[1]))
    drain()
    keys = [identity_key(b) for b in SHOP]
    stations = {row.mac: row for row in MODEL.select().where(MODEL.mac.in_(keys))}
    assert sorted(stations) == sorted(keys)
    assert all(row.samples == 3 for row in stations.values())
    # each MAC was seen once, and learnt under it as before
    assert MODEL.select().count() == 2 + 6

    # a phone hearing the shop's beacons under MACs never seen before finds it
    answer = locate(client, api_key, [sighting(b, -75) for b in SHOP])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    location = answer.get_json()["location"]
    assert location["lat"] == pytest.approx(HERE[0] + 0.00002, abs=0.0001)
    assert location["lng"] == pytest.approx(HERE[1], abs=0.0001)
    # the same MACs without the identity name nothing known
    anonymous = [{"macAddress": b["macAddress"], "signalStrength": -75}
                 for b in (sighting(b) for b in SHOP)]
    assert locate(client, api_key, anonymous).status_code == 404


def test_one_beacon_counts_once(client, api_key, internal_export, drain):
    """Answers need two beacons: one beacon heard under its MAC and its
    identity is still one, not two."""
    first = sighting(SHOP[0])
    submit(client, api_key, [first, sighting(SHOP[1])])
    drain()
    twice = [first, {"macAddress": first["macAddress"], "signalStrength": -70}]
    assert locate(client, api_key, twice).status_code == 404
    assert locate(client, api_key, [sighting(b) for b in SHOP]).status_code == 200


def test_the_identity_reaches_the_exports(client, api_key, runtime):
    """What the service forwards keeps the identity fields as sent."""
    from ichnaea_host.core.queues import INCOMING_QUEUE

    beacon = sighting(SHOP[0])
    submit(client, api_key, [beacon])
    queued = runtime.queue(INCOMING_QUEUE).dequeue(10)
    sent = queued[0]["report"]["bluetoothBeacons"][0]
    assert {k: sent[k] for k in ("beaconType", "id1", "id2", "id3")} == {
        "beaconType": 533, "id1": UUID, "id2": "7", "id3": "1"}


def test_identity_keys():
    ibeacon = {"beaconType": 533, "id1": UUID.upper(), "id2": 7, "id3": 1}
    key = identity_key(ibeacon)
    assert key is not None and len(key) == 12 and key.startswith("06")
    assert identity_key(SHOP[0]) == key  # case and number/text make no difference
    assert identity_key(dict(SHOP[0], id3="2")) != key
    assert identity_key({"beaconType": 533, "id1": " "}) is None
    assert identity_key({"macAddress": "01:23:45:67:89:ab"}) is None
