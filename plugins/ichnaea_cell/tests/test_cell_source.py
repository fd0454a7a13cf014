"""Geolocate and region answers from cells and cell areas, on both backends."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta

import pytest

from ichnaea_cell.cells import RADIO_CODES, encode_cellid
from ichnaea_cell.models import CELL_MODELS
from ichnaea_cell.settings import CellSettings
from ichnaea_host.app import create_app
from ichnaea_host.core.settings import ConfigError, load_plugin_settings

LONDON = (51.5, -0.1)
LONDON_EAST = (51.5, 0.0)  # 6.9 km east
JERSEY = (49.21, -2.13)
BERLIN = (52.52, 13.405)
NO_IP = {"considerIp": False}
NO_FALLBACKS = {"fallbacks": {"lacf": False, "ipf": False}}


def tower(cid, lac=5001, radio="gsm", mcc=234, mnc=10, **extra):
    return {"radioType": radio, "mobileCountryCode": mcc, "mobileNetworkCode": mnc,
            "locationAreaCode": lac, "cellId": cid, **extra}


def report(position, *towers):
    return {"position": {"latitude": position[0], "longitude": position[1],
                         "accuracy": 10.0, "source": "gnss"},
            "cellTowers": list(towers)}


def submit(client, api_key, *reports):
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": list(reports)})
    assert response.status_code == 200, response.get_data(as_text=True)


def locate(client, api_key, *towers, **body):
    return client.post(f"/v1/geolocate?key={api_key}",
                       json={**NO_IP, **body, "cellTowers": list(towers)})


def country(client, api_key, *towers, **body):
    return client.post(f"/v1/country?key={api_key}",
                       json={**NO_IP, **body, "cellTowers": list(towers)})


def add_cell(position, cid, *, samples=1, radius=1000, age_days=30, radio="gsm", mcc=234,
             mnc=10, lac=5001, **columns):
    """A cell row as the pipeline leaves it, learnt over ``age_days``."""
    now = datetime.utcnow().replace(microsecond=0)
    lat, lon = position
    CELL_MODELS[radio].insert(
        cellid=encode_cellid(radio, mcc, mnc, lac, cid).hex(), radio=RADIO_CODES[radio],
        mcc=mcc, mnc=mnc, lac=lac, cid=cid, lat=lat, lon=lon, max_lat=lat, min_lat=lat,
        max_lon=lon, min_lon=lon, radius=radius, samples=samples, weight=float(samples),
        source=3, created=now - timedelta(days=age_days), modified=now,
        **{"last_seen": now.date(), **columns}).execute()


def assert_not_found(response):
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.get_json()["error"]["errors"][0]["reason"] == "notFound"


# ---------------------------------------------------------------------------
# positions


def test_one_cell_answers_with_its_range(client, api_key, internal_export, drain):
    submit(client, api_key, report(LONDON, tower(1)), report(LONDON_EAST, tower(1)),
           report(LONDON, tower(2)))
    drain()
    data = locate(client, api_key, tower(1)).get_json()
    assert data["location"]["lat"] == pytest.approx(LONDON[0])
    assert LONDON[1] < data["location"]["lng"] < LONDON_EAST[1]
    assert 3000 < data["accuracy"] < 4000  # the cell's radius
    assert "fallback" not in data
    # a cell seen at one place only: the smallest cell accuracy
    data = locate(client, api_key, tower(2, signalStrength=-80)).get_json()
    assert data == {"location": {"lat": LONDON[0], "lng": LONDON[1]}, "accuracy": 1000.0}


def test_cells_of_one_area_are_weighted(client, api_key, runtime):
    add_cell((51.5, -0.1), 1, samples=100)
    add_cell((52.5, 0.9), 2, samples=10)
    data = locate(client, api_key, tower(1), tower(2)).get_json()
    # station scores 6.64 and 3.32: two thirds of the weight on the first cell
    assert data["location"]["lat"] == pytest.approx(51.5 + 1 / 3, abs=1e-6)
    assert data["location"]["lng"] == pytest.approx(-0.1 + 1 / 3, abs=1e-6)
    assert data["accuracy"] == 50000.0  # 87 km of spread, at most the largest cell accuracy


def test_signals_weigh_cells(client, api_key, runtime):
    add_cell((51.5, -0.1), 1, samples=64)
    add_cell((51.6, -0.1), 2, samples=64)
    data = locate(client, api_key, tower(1, signalStrength=-60),
                  tower(2, signalStrength=-100)).get_json()
    share = (1 / 60**2) / (1 / 60**2 + 1 / 100**2)
    assert data["location"]["lat"] == pytest.approx(51.5 + 0.1 * (1 - share), abs=1e-6)
    assert 1000.0 <= data["accuracy"] < 11200.0


def test_areas_answer_separately(client, api_key, runtime):
    add_cell(LONDON, 1, samples=1024)
    add_cell(BERLIN, 2, lac=7, mcc=262, samples=2)
    data = locate(client, api_key, tower(1), tower(2, lac=7, mcc=262)).get_json()
    assert data["location"] == {"lat": LONDON[0], "lng": LONDON[1]}  # the better scored


def test_unknown_blocked_and_other_radio_cells_are_not_used(client, api_key, runtime):
    today = datetime.utcnow().date()
    add_cell(LONDON, 1, block_last=today, block_count=1)
    add_cell(LONDON, 2, radio="lte")
    assert_not_found(locate(client, api_key, tower(1), tower(2), tower(3), **NO_FALLBACKS))


def test_unknown_cell_of_a_known_area(client, api_key, internal_export, drain):
    submit(client, api_key, report(LONDON, tower(1)), report(LONDON_EAST, tower(2)))
    drain()
    data = locate(client, api_key, tower(99)).get_json()
    assert data["fallback"] == "lacf"
    assert data["location"]["lat"] == pytest.approx(LONDON[0])
    assert data["location"]["lng"] == pytest.approx(-0.05)  # the middle of the area's cells
    assert data["accuracy"] == 50000.0
    # an entry without a cell id asks for its area only
    assert locate(client, api_key, tower(None)).get_json() == data
    # a known cell wins over its area
    assert "fallback" not in locate(client, api_key, tower(1), tower(99)).get_json()


def test_cell_area_answers_can_be_switched_off(client, api_key, internal_export, drain):
    submit(client, api_key, report(LONDON, tower(1)))
    drain()
    assert_not_found(locate(client, api_key, tower(99), **NO_FALLBACKS))
    assert_not_found(locate(client, api_key, tower(None), **NO_FALLBACKS))
    assert locate(client, api_key, tower(1), **NO_FALLBACKS).status_code == 200


def test_nr_cells(client, api_key, internal_export, drain):
    nr = {"lac": 16_000_000, "radio": "nr"}
    submit(client, api_key, report(BERLIN, tower(68_719_476_735, mcc=262, **nr)))
    drain()
    cell = {"radioType": "NR", "mobileCountryCode": "262", "mobileNetworkCode": 10,
            "locationAreaCode": 16_000_000, "newRadioCellId": 68_719_476_735}
    data = locate(client, api_key, cell).get_json()
    assert data == {"location": {"lat": BERLIN[0], "lng": BERLIN[1]}, "accuracy": 1000.0}
    data = locate(client, api_key, dict(cell, newRadioCellId=5)).get_json()
    assert data["fallback"] == "lacf"


def test_clients_top_level_radio_and_strings(client, api_key, runtime):
    add_cell(LONDON, 1, radio="wcdma", mnc=1)
    cell = {"mobileCountryCode": "234", "mobileNetworkCode": "01", "locationAreaCode": "5001",
            "cellId": 1, "psc": None, "radioType": None}
    response = locate(client, api_key, cell, radioType="umts")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["location"] == {"lat": LONDON[0], "lng": LONDON[1]}


def queued_reports(runtime):
    return [json.loads(gzip.decompress(raw))["report"]
            for raw in runtime.redis.lrange("update_incoming", 0, -1)]


def test_located_queries_become_reports(client, api_key, runtime):
    yesterday = datetime.utcnow().date() - timedelta(days=1)
    add_cell(LONDON, 1, last_seen=yesterday)
    add_cell(LONDON_EAST, 2)
    assert locate(client, api_key, tower(1, signalStrength=-70)).status_code == 200
    reports = queued_reports(runtime)
    assert len(reports) == 1
    assert reports[0]["cellTowers"] == [
        {"radioType": "gsm", "mobileCountryCode": 234, "mobileNetworkCode": 10,
         "locationAreaCode": 5001, "cellId": 1, "signalStrength": -70}]
    assert reports[0]["position"]["source"] == "query"
    # a cell already confirmed today teaches nothing new
    assert locate(client, api_key, tower(2)).status_code == 200
    assert len(queued_reports(runtime)) == 1


# ---------------------------------------------------------------------------
# regions


def test_region_from_the_country_code(client, api_key):
    data = country(client, api_key, tower(1, mcc=262)).get_json()
    assert data == {"country_code": "DE", "country_name": "Germany"}
    # a code of one region needs no data at all, not even a valid cell id
    assert country(client, api_key, tower(None, mcc=235)).get_json()["country_code"] == "GB"


def test_shared_country_codes_are_settled_by_areas(client, api_key, internal_export, drain):
    # 234 serves GB, GG, IM and JE: without data the largest region wins
    assert country(client, api_key, tower(1, lac=9)).get_json()["country_code"] == "GB"
    submit(client, api_key, report(JERSEY, tower(1, lac=9)))
    drain()
    data = country(client, api_key, tower(2, lac=9)).get_json()
    assert data == {"country_code": "JE", "country_name": "Jersey"}


def test_cells_of_several_country_codes_of_one_country_beat_the_ip(client, api_key):
    # 310 serves BM, GU, MP, PR, US and VI, 311 AS, GU, US and VI; the IP is London's
    towers = [tower(1, mcc=310, mnc=410, lac=7), tower(2, mcc=311, mnc=480, lac=8)]
    response = client.post(f"/v1/country?key={api_key}", json={"cellTowers": towers},
                           headers={"X-Forwarded-For": "81.2.69.160"})
    assert response.get_json() == {"country_code": "US", "country_name": "United States"}
    # one cell of a shared code beats the IP too
    response = client.post(f"/v1/country?key={api_key}", json={"cellTowers": towers[:1]},
                           headers={"X-Forwarded-For": "81.2.69.160"})
    assert response.get_json()["country_code"] == "US"
    # without cells the IP answers
    response = client.post(f"/v1/country?key={api_key}", json={},
                           headers={"X-Forwarded-For": "81.2.69.160"})
    assert response.get_json()["country_code"] == "GB"


def test_no_region_for_unusable_cells(client, api_key):
    assert_not_found(country(client, api_key, tower(1, mcc=1), tower(1, radio="cdma")))


# ---------------------------------------------------------------------------
# settings


def test_accuracy_limits_are_settings(make_runtime, api_key_factory, monkeypatch):
    monkeypatch.setenv("ICHNAEA_CELL__MIN_ACCURACY", "2500")
    client = create_app(runtime=make_runtime()).test_client()
    key = api_key_factory("test")
    add_cell(LONDON, 1, radius=10)
    assert locate(client, key, tower(1)).get_json()["accuracy"] == 2500.0


@pytest.mark.parametrize(("environ", "variable"), [
    ({"ICHNAEA_CELL__MIN_ACCURACY": "60000"}, "ICHNAEA_CELL__MIN_ACCURACY"),
    ({"ICHNAEA_CELL__AREA_MAX_ACCURACY": "-1"}, "ICHNAEA_CELL__AREA_MAX_ACCURACY"),
    ({"ICHNAEA_CELL__AREA_BATCH": "0"}, "ICHNAEA_CELL__AREA_BATCH"),
])
def test_unusable_settings_name_their_variable(environ, variable):
    with pytest.raises(ConfigError, match=variable):
        load_plugin_settings(CellSettings, "cell", environ)
