"""NeoStumbler's cell extras end to end, on both backends: ``arfcn`` and the
MCC/MNC as strings, submitted through /v2/geosubmit as NeoStumbler sends them,
kept in the queued report, learnt by the cell tables (the channel), and used
to tell apart two neighbours a query names by the same PCI."""

from __future__ import annotations

import gzip
import json

from ichnaea_cell.cells import encode_cellid
from ichnaea_cell.models import CELL_MODELS

LONDON = (51.5, -0.1)
EAST = (51.5, 0.0)  # 6.9 km east
WEST = (51.5, -0.2)  # 6.9 km west
NO_IP = {"considerIp": False}


def neo_tower(cid, *, pci, arfcn, mcc="234", mnc="05", tac=5001, signal=-90, **extra):
    """A cellTowers entry as NeoStumbler writes it (CellTowerDto): the codes
    as numbers and as the network spells them, the EARFCN, serving 0/1."""
    entry = {"radioType": "lte", "mobileCountryCode": int(mcc), "mobileCountryCodeStr": mcc,
             "mobileNetworkCode": int(mnc), "mobileNetworkCodeStr": mnc,
             "locationAreaCode": tac, "cellId": cid, "primaryScramblingCode": pci,
             "arfcn": arfcn, "signalStrength": signal, "asu": signal + 140, "age": 1200,
             "serving": 1 if cid else 0, **extra}
    return {k: v for k, v in entry.items() if v is not None}


def neighbour(pci, arfcn=None, signal=-100):
    """A neighbour as Android lists it: no cell id, no TAC, codes filled in
    from the serving cell, its PCI and EARFCN."""
    return neo_tower(None, pci=pci, arfcn=arfcn, tac=None, signal=signal)


def report(position, *towers, n=0):
    return {"timestamp": 1_765_000_000_000 + n,
            "position": {"latitude": position[0], "longitude": position[1], "accuracy": 8.0,
                         "altitude": 40.0, "source": "gnss",
                         "speed": 1.2, "age": 900},
            "cellTowers": list(towers)}


def submit(client, api_key, *reports):
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": list(reports)})
    assert response.status_code == 200, response.get_data(as_text=True)


def incoming(runtime) -> list[dict]:
    raw = runtime.redis.lrange("update_incoming", 0, -1)
    return [json.loads(gzip.decompress(data))["report"] for data in raw]


def lte_row(cid, mnc=5):
    model = CELL_MODELS["lte"]
    return model.get_or_none(model.cellid == encode_cellid("lte", 234, mnc, 5001, cid).hex())


def locate(client, api_key, *towers):
    response = client.post(f"/v1/geolocate?key={api_key}",
                           json={**NO_IP, "cellTowers": list(towers)})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["location"]


def test_the_extras_stay_in_the_queued_report(client, api_key, runtime):
    submit(client, api_key, report(LONDON, neo_tower(1001, pci=10, arfcn=1300),
                                   neighbour(20, 6300)))
    (queued,) = incoming(runtime)
    serving, near = queued["cellTowers"]
    assert serving["arfcn"] == 1300 and serving["primaryScramblingCode"] == 10
    assert serving["mobileCountryCodeStr"] == "234"
    assert serving["mobileNetworkCodeStr"] == "05" and serving["mobileNetworkCode"] == 5
    assert near == {"radioType": "lte", "mobileCountryCode": 234, "mobileCountryCodeStr": "234",
                    "mobileNetworkCode": 5, "mobileNetworkCodeStr": "05",
                    "primaryScramblingCode": 20, "arfcn": 6300, "signalStrength": -100,
                    "asu": 40, "age": 1200, "serving": 0}


def test_string_codes_fill_and_never_contradict_the_numbers(client, api_key, runtime):
    only_strings = neo_tower(1001, pci=10, arfcn=1300)
    del only_strings["mobileCountryCode"], only_strings["mobileNetworkCode"]
    contradicting = neo_tower(1002, pci=11, arfcn=1300, mobileNetworkCodeStr="50")
    malformed = neo_tower(1003, pci=12, arfcn=-1, mobileNetworkCodeStr="5",
                          mobileCountryCodeStr=234)
    submit(client, api_key, report(LONDON, only_strings, contradicting, malformed))
    one, two, three = incoming(runtime)[0]["cellTowers"]
    assert (one["mobileCountryCode"], one["mobileNetworkCode"]) == (234, 5)
    assert one["mobileNetworkCodeStr"] == "05"
    assert two["mobileNetworkCode"] == 5 and "mobileNetworkCodeStr" not in two
    # one digit is no MNC, a number is no string, a negative channel is none
    assert "mobileNetworkCodeStr" not in three and "mobileCountryCodeStr" not in three
    assert "arfcn" not in three


def test_cells_learn_their_channel(client, api_key, internal_export, drain):
    submit(client, api_key, report(LONDON, neo_tower(1001, pci=10, arfcn=1300),
                                   neighbour(20, 6300)))
    drain()
    row = lte_row(1001)
    # the identity keeps the MNC as a number: "05" and "005" are the cell of MNC 5
    assert (row.mcc, row.mnc, row.lac, row.cid, row.psc, row.arfcn) == (234, 5, 5001, 1001,
                                                                        10, 1300)
    assert CELL_MODELS["lte"].select().count() == 1  # the neighbour is not learnt
    submit(client, api_key, report(LONDON, neo_tower(1001, pci=10, arfcn=None)))
    drain()
    assert lte_row(1001).arfcn == 1300  # kept when none is sent
    submit(client, api_key, report(LONDON, neo_tower(1001, pci=10, arfcn=1850)))
    drain()
    assert lte_row(1001).arfcn == 1850 and lte_row(1001).samples == 3


def test_two_neighbours_with_one_pci_on_two_channels(client, api_key, internal_export,
                                                     drain):
    # the serving cell in London; two cells of its area share PCI 20, one
    # on EARFCN 6300 east of it, one on EARFCN 1850 west of it
    submit(client, api_key,
           report(LONDON, neo_tower(1001, pci=10, arfcn=1300), n=1),
           report(EAST, neo_tower(1002, pci=20, arfcn=6300), n=2),
           report(WEST, neo_tower(1003, pci=20, arfcn=1850), n=3))
    drain()
    assert lte_row(1002).arfcn == 6300 and lte_row(1003).arfcn == 1850

    serving = neo_tower(1001, pci=10, arfcn=1300)
    alone = locate(client, api_key, serving)
    assert (alone["lat"], alone["lng"]) == LONDON

    east = locate(client, api_key, serving, neighbour(20, 6300))
    west = locate(client, api_key, serving, neighbour(20, 1850))
    assert LONDON[1] < east["lng"] < EAST[1]
    assert WEST[1] < west["lng"] < LONDON[1]
    # both neighbours at once stay two: the answer is the three cells' mean
    both = locate(client, api_key, serving, neighbour(20, 6300), neighbour(20, 1850))
    assert abs(both["lng"] - LONDON[1]) < abs(east["lng"] - LONDON[1])

    # without a channel, PCI 20 names two cells: neither is used
    unsure = locate(client, api_key, serving, neighbour(20))
    assert (unsure["lat"], unsure["lng"]) == LONDON
    # a channel no cell of PCI 20 is on names none either
    other = locate(client, api_key, serving, neighbour(20, 100))
    assert (other["lat"], other["lng"]) == LONDON


def test_a_neighbour_alone_locates_nothing(client, api_key, internal_export, drain):
    submit(client, api_key, report(EAST, neo_tower(1002, pci=20, arfcn=6300)))
    drain()
    response = client.post(f"/v1/geolocate?key={api_key}",
                           json={**NO_IP, "cellTowers": [neighbour(20, 6300)]})
    assert response.status_code == 404
