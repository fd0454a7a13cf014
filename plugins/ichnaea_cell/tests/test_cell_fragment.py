"""What the cell fragment accepts in geolocate queries and submitted reports:
the original service's validation rules plus the tolerance real clients need."""

from __future__ import annotations

import pytest

from ichnaea_cell.cells import decode_areaid, decode_cellid, encode_areaid, encode_cellid
from ichnaea_cell.fragment import CellEntry
from ichnaea_cell.radio import CellRadio
from ichnaea_host.testing import radio_part

FRAGMENT = radio_part(CellRadio, "report_fragments")
GSM = {"radioType": "gsm", "mobileCountryCode": 234, "mobileNetworkCode": 10,
       "locationAreaCode": 5001, "cellId": 4001}


def parse(*entries, **body):
    loaded = [CellEntry().load(e) for e in entries]
    return FRAGMENT.parse_query(loaded, body)


def one(entry, **body):
    lookups = parse(entry, **body)
    assert len(lookups) == 1, lookups
    return lookups[0]


def test_a_valid_cell():
    assert one(GSM) == {"radio": "gsm", "mcc": 234, "mnc": 10, "lac": 5001, "cid": 4001,
                        "psc": None, "signal": None, "ta": None, "age": None, "asu": None,
                        "arfcn": None, "mcc_str": None, "mnc_str": None}


@pytest.mark.parametrize("radio", [None, "", "cdma", "foo", "gsm2"])
def test_cells_without_a_usable_radio_are_dropped(radio):
    assert parse(dict(GSM, radioType=radio)) == []


@pytest.mark.parametrize(("sent", "radio"), [
    ("gsm", "gsm"), ("GSM", "gsm"), ("umts", "wcdma"), ("UMTS", "wcdma"), ("wcdma", "wcdma"),
    ("lte", "lte"), ("LTE", "lte"), ("nr", "nr"), ("NR", "nr"),
])
def test_radio_names(sent, radio):
    assert one(dict(GSM, radioType=sent))["radio"] == radio


def test_top_level_radio_fills_cells_without_one():
    cell = {k: v for k, v in GSM.items() if k != "radioType"}
    assert one(cell, radioType="lte")["radio"] == "lte"
    assert one(dict(cell, radioType=None), radioType="umts")["radio"] == "wcdma"
    # a cell's own radio wins; a cdma cell stays dropped
    assert one(dict(cell, radioType="gsm"), radioType="lte")["radio"] == "gsm"
    assert parse(dict(cell, radioType="cdma"), radioType="lte") == []
    # no radio anywhere (a client that sends null for mixed radios)
    assert parse(cell, radioType=None) == []


@pytest.mark.parametrize(("field", "value"), [
    ("mobileCountryCode", None), ("mobileCountryCode", 0), ("mobileCountryCode", 1),
    ("mobileCountryCode", 553), ("mobileCountryCode", 999), ("mobileCountryCode", 1000),
    ("mobileNetworkCode", None), ("mobileNetworkCode", -1), ("mobileNetworkCode", 1000),
    ("locationAreaCode", None), ("locationAreaCode", 0), ("locationAreaCode", 65534),
    ("locationAreaCode", 65535),
])
def test_cells_without_a_valid_area_are_dropped(field, value):
    assert parse(dict(GSM, **{field: value})) == []


@pytest.mark.parametrize("cid", [None, 0, -1, 268_435_456])
def test_an_invalid_cell_id_leaves_an_area_lookup(cid):
    lookup = one(dict(GSM, radioType="lte", cellId=cid))
    assert lookup["cid"] is None and lookup["lac"] == 5001


def test_area_lookups_go_when_cell_area_answers_are_off():
    entries = [dict(GSM, cellId=None), GSM]
    assert len(parse(*entries)) == 2
    lookups = parse(*entries, fallbacks={"lacf": False, "ipf": True})
    assert [c["cid"] for c in lookups] == [4001]


@pytest.mark.parametrize(("mcc", "lac"), [(202, 1), (995, 65533), (262, 65533)])
def test_range_ends_are_valid(mcc, lac):
    assert one(dict(GSM, mobileCountryCode=mcc, locationAreaCode=lac))["mcc"] == mcc


def test_gsm_cell_ids_above_16_bits_are_wcdma():
    assert one(dict(GSM, cellId=65535))["radio"] == "gsm"
    assert one(dict(GSM, cellId=65536))["radio"] == "wcdma"
    assert one(dict(GSM, cellId=268_435_455))["radio"] == "wcdma"


def test_nr_cells_have_wider_ids():
    nr = dict(GSM, radioType="nr", locationAreaCode=16_000_000, cellId=68_719_476_735)
    assert one(nr)["cid"] == 68_719_476_735 and one(nr)["lac"] == 16_000_000
    assert one(dict(nr, cellId=68_719_476_736))["cid"] is None
    # Google's field for NR cell ids
    alias = dict(nr, cellId=None, newRadioCellId=12_345_678_901)
    assert one(alias)["cid"] == 12_345_678_901
    # 24-bit area codes are for NR only
    assert parse(dict(GSM, radioType="lte", locationAreaCode=70000)) == []


@pytest.mark.parametrize(("radio", "sent", "kept"), [
    ("gsm", 511, 511), ("gsm", 512, None), ("wcdma", 0, 0), ("wcdma", -1, None),
    ("lte", 503, 503), ("lte", 504, None), ("nr", 1007, 1007), ("nr", 1008, None),
])
def test_psc(radio, sent, kept):
    assert one(dict(GSM, radioType=radio, primaryScramblingCode=sent))["psc"] == kept


def test_psc_under_either_name():
    assert one(dict(GSM, psc=12))["psc"] == 12
    assert one(dict(GSM, primaryScramblingCode=13))["psc"] == 13
    assert one(dict(GSM, psc=12, primaryScramblingCode=13))["psc"] == 13


@pytest.mark.parametrize(("radio", "ta", "kept"), [
    ("gsm", 0, 0), ("gsm", 63, 63), ("gsm", 64, None), ("lte", -1, None), ("wcdma", 5, None),
])
def test_timing_advance(radio, ta, kept):
    assert one(dict(GSM, radioType=radio, timingAdvance=ta))["ta"] == kept


@pytest.mark.parametrize(("radio", "signal", "kept"), [
    ("gsm", -113, -113), ("gsm", -114, None), ("gsm", -51, -51), ("gsm", -50, None),
    ("wcdma", -121, -121), ("wcdma", -25, -25), ("wcdma", -122, None),
    ("lte", -140, -140), ("lte", -43, -43), ("lte", -42, None), ("nr", -156, -156),
    ("nr", -157, None),
])
def test_signal_ranges_per_radio(radio, signal, kept):
    assert one(dict(GSM, radioType=radio, signalStrength=signal))["signal"] == kept


@pytest.mark.parametrize(("radio", "signal"), [("gsm", -83), ("wcdma", -101), ("lte", -125)])
def test_signal_from_asu(radio, signal):
    lookup = one(dict(GSM, radioType=radio, asu=15))
    assert lookup["signal"] == signal and lookup["asu"] == 15


def test_asu_and_signal_sent_the_wrong_way_round():
    lookup = one(dict(GSM, asu=-70, signalStrength=5))
    assert lookup["signal"] == -70 and lookup["asu"] is None
    assert one(dict(GSM, asu=32))["asu"] is None  # out of the gsm range


@pytest.mark.parametrize(("age", "kept"), [
    (-3_600_000, -3_600_000), (3_600_000, 3_600_000), (3_600_001, None)])
def test_age(age, kept):
    assert one(dict(GSM, age=age))["age"] == kept


def test_duplicates_keep_the_better_entry():
    entries = [dict(GSM, signalStrength=-90), dict(GSM, signalStrength=-82),
               dict(GSM, signalStrength=-85)]
    assert one(*entries[:1])["signal"] == -90
    assert [c["signal"] for c in parse(*entries)] == [-82]
    # timing advance decides before the signal
    assert parse(dict(GSM, timingAdvance=1, signalStrength=-100),
                 dict(GSM, timingAdvance=2, signalStrength=-60))[0]["ta"] == 1
    # nothing to compare: the later entry wins
    assert parse(dict(GSM, age=10), dict(GSM, signalStrength=-70))[0]["signal"] == -70


def test_strings_and_nulls_as_clients_send_them():
    loaded = CellEntry().load({"radioType": "LTE", "mobileCountryCode": "262",
                               "mobileNetworkCode": "01", "locationAreaCode": " 7 ",
                               "cellId": "12345", "psc": None, "age": "",
                               "signalStrength": None, "serving": 1, "arfcn": 3})
    assert FRAGMENT.parse_query([loaded], {}) == [
        {"radio": "lte", "mcc": 262, "mnc": 1, "lac": 7, "cid": 12345, "psc": None,
         "signal": None, "ta": None, "age": None, "asu": None, "arfcn": 3,
         "mcc_str": None, "mnc_str": None}]


def test_query_json_uses_the_long_names():
    lookups = parse(dict(GSM, radioType="umts", psc=5, signalStrength=-80, age=10))
    assert FRAGMENT.query_json(lookups) == [
        {"radioType": "wcdma", "mobileCountryCode": 234, "mobileNetworkCode": 10,
         "locationAreaCode": 5001, "cellId": 4001, "primaryScramblingCode": 5,
         "signalStrength": -80, "age": 10}]


def test_submitted_entries_are_cleaned():
    entries = [CellEntry().load(e) for e in (
        {"radioType": "UMTS", "mobileCountryCode": "234", "psc": 3, "cellId": None},
        {"radioType": "nr", "newRadioCellId": 99},
        {"radioType": "tdscdma", "mobileCountryCode": 234},
        {},
    )]
    assert FRAGMENT.clean_submit(entries) == [
        {"radioType": "wcdma", "mobileCountryCode": 234, "primaryScramblingCode": 3},
        {"radioType": "nr", "cellId": 99},
        {"mobileCountryCode": 234},
    ]


def test_binary_ids():
    cellid = encode_cellid("gsm", 310, 0, 1, 1)
    assert cellid.hex() == "00013600000000010000000001"
    assert decode_cellid(cellid) == {"radio": "gsm", "mcc": 310, "mnc": 0, "lac": 1, "cid": 1}
    nr = encode_cellid("nr", 262, 999, 16_777_213, 68_719_476_735)
    assert len(nr) == 13
    assert decode_cellid(nr.hex())["cid"] == 68_719_476_735
    area = encode_areaid("nr", 262, 999, 16_777_213)
    assert nr.startswith(area) and len(area) == 8
    assert decode_areaid(area) == {"radio": "nr", "mcc": 262, "mnc": 999, "lac": 16_777_213}


# ---------------------------------------------------------------------------
# through the API


def test_unparsable_numbers_are_a_parse_error(client, api_key):
    response = client.post(f"/v1/geolocate?key={api_key}",
                           json={"cellTowers": [dict(GSM, mobileCountryCode="abc")]})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["errors"][0]["reason"] == "parseError"
    fields = response.get_json()["details"]["validation"]
    assert [name for name in fields if name.startswith("cellTowers.0.mobileCountryCode")]


def test_bad_cells_alone_are_no_error(client, api_key):
    body = {"considerIp": False, "radioType": "cdma",
            "cellTowers": [{"radioType": None, "cellId": 5}, dict(GSM, mobileCountryCode=1)]}
    response = client.post(f"/v1/geolocate?key={api_key}", json=body)
    assert response.status_code == 404
    assert response.get_json()["error"]["errors"][0]["reason"] == "notFound"


@pytest.mark.parametrize("path", ["/v1/geolocate", "/v1/country"])
@pytest.mark.parametrize("radio", ["tdscdma", "5g", "gsm2", "iden"])
def test_a_query_with_an_unknown_radio_name_is_a_parse_error(client, api_key, path, radio):
    body = {"cellTowers": [GSM, dict(GSM, radioType=radio)]}
    response = client.post(f"{path}?key={api_key}", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["errors"][0]["reason"] == "parseError"
    assert list(response.get_json()["details"]["validation"]) == ["cellTowers.1.radioType"]

    response = client.post(f"{path}?key={api_key}", json={"radioType": radio,
                                                          "cellTowers": [GSM]})
    assert response.status_code == 400
    assert list(response.get_json()["details"]["validation"]) == ["radioType"]


@pytest.mark.parametrize("radio", ["gsm", "GSM", "Lte", "umts", "UMTS", "nr", "cdma", "",
                                   None, 5])
def test_a_query_with_a_known_radio_name_or_none_is_answered(client, api_key, radio):
    body = {"radioType": radio, "cellTowers": [dict(GSM, radioType=radio)]}
    response = client.post(f"/v1/country?key={api_key}", json=body,
                           headers={"X-Forwarded-For": "81.2.69.160"})
    assert response.status_code == 200


def test_a_report_with_an_unknown_radio_name_keeps_the_tower_without_it(client, runtime):
    towers = [dict(GSM, radioType="tdscdma"), dict(GSM, radioType="UMTS", cellId=4002),
              dict(GSM, radioType=None, cellId=4003)]
    report = {"position": {"latitude": 51.5, "longitude": -0.1}, "radioType": "5g",
              "cellTowers": towers}
    assert client.post("/v2/geosubmit", json={"items": [report]}).status_code == 200
    [item] = runtime.queue("update_incoming").dequeue()
    got = item["report"]["cellTowers"]
    assert [t.get("radioType") for t in got] == [None, "wcdma", None]
    assert [t["cellId"] for t in got] == [4001, 4002, 4003]
    assert "radioType" not in item["report"]
