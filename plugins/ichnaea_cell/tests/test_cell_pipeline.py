"""Learning cells and cell areas from submitted reports, on both backends:
submit, process the pipeline, then look at the cell and area tables."""

from __future__ import annotations

import pytest

from ichnaea_cell.area import area_region
from ichnaea_cell.cells import encode_areaid, encode_cellid
from ichnaea_cell.models import CELL_MODELS, CellArea
from ichnaea_cell.radio import CellRadio
from ichnaea_cell.updater import AREA_QUEUE
from ichnaea_host.testing import radio_part

LONDON = (51.5, -0.1)
LONDON_EAST = (51.5, 0.0)  # 6.9 km east
MANCHESTER = (53.48, -2.24)  # 260 km away
BERLIN = (52.52, 13.405)


def tower(cid, lac=5001, radio="gsm", mcc=234, mnc=10, **extra):
    return {"radioType": radio, "mobileCountryCode": mcc, "mobileNetworkCode": mnc,
            "locationAreaCode": lac, "cellId": cid, **extra}


def report(position, *towers, accuracy=10.0, **extra):
    return {"position": {"latitude": position[0], "longitude": position[1],
                         "accuracy": accuracy, "source": "gnss"},
            "cellTowers": list(towers), **extra}


def submit(client, api_key, *reports):
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": list(reports)})
    assert response.status_code == 200, response.get_data(as_text=True)


def cell_row(radio, mcc, mnc, lac, cid):
    model = CELL_MODELS[radio]
    return model.get_or_none(model.cellid == encode_cellid(radio, mcc, mnc, lac, cid).hex())


def area_row(radio, mcc, mnc, lac):
    return CellArea.get_or_none(CellArea.areaid == encode_areaid(radio, mcc, mnc, lac).hex())


# ---------------------------------------------------------------------------
# observation weights (reference values of the original service)

UPDATER = radio_part(CellRadio, "station_updaters")


@pytest.mark.parametrize(("radio", "signal", "weight"), [
    ("gsm", -113, 0.516), ("gsm", -95, 1.0), ("gsm", None, 1.0), ("gsm", -51, 10.17),
    ("wcdma", -121, 0.467), ("wcdma", -100, 1.0), ("wcdma", -25, 256.0),
    ("lte", -140, 0.301), ("lte", -105, 1.0), ("lte", -43, 47.96), ("nr", None, 1.0),
])
def test_signal_weights(radio, signal, weight):
    observation = {"radio": radio, "signal": signal}
    assert UPDATER.radio.signal_weight(observation) == pytest.approx(weight, abs=0.005)


@pytest.mark.parametrize(("radio", "signal", "accuracy", "weight"), [
    ("gsm", -51, 160.0, 2.54), ("wcdma", -25, 160.0, 64.0), ("lte", -43, 160.0, 11.99),
    ("gsm", None, 10.0, 1.0), ("gsm", None, 1000.0, 0.1), ("gsm", None, 1000.1, 0.0),
])
def test_observation_weights(radio, signal, accuracy, weight):
    observation = {"radio": radio, "signal": signal, "accuracy": accuracy}
    assert UPDATER.weight(observation) == pytest.approx(weight, abs=0.005)


@pytest.mark.parametrize(("regions", "lat_lon", "mcc", "region"), [
    (["GB", "GB", "GG"], LONDON, 234, "GB"),
    ([None, None], LONDON, 234, None),
    (["GG", "GB"], LONDON, 234, "GB"),  # a tie: the centre decides
    (["GG", None], (45.0, -30.0), 234, None),  # a tie at sea: no region first
])
def test_area_region(regions, lat_lon, mcc, region):
    assert area_region(regions, *lat_lon, mcc) == region


# ---------------------------------------------------------------------------
# the pipeline


def test_migration_creates_the_tables(runtime):
    tables = set(runtime.db.rw.get_tables())
    assert {"cell_gsm", "cell_wcdma", "cell_lte", "cell_nr", "cell_area"} <= tables


def test_cells_and_their_area(client, api_key, internal_export, drain, runtime):
    submit(client, api_key,
           report(LONDON, tower(1, psc=7, signalStrength=-70), tower(2)),
           report(LONDON_EAST, tower(2, signalStrength=-90)))
    runs = drain()
    assert runs["update_cell"] >= 1

    one = cell_row("gsm", 234, 10, 5001, 1)
    assert (one.radio, one.mcc, one.mnc, one.lac, one.cid, one.psc) == (0, 234, 10, 5001, 1, 7)
    assert (one.lat, one.lon, one.samples, one.radius) == (LONDON[0], LONDON[1], 1, 0)
    assert one.region == "GB" and one.source == 3 and one.block_count is None
    two = cell_row("gsm", 234, 10, 5001, 2)
    assert two.samples == 2 and two.psc is None
    assert LONDON[1] < two.lon < LONDON_EAST[1] and 3000 < two.radius < 4000

    area = area_row("gsm", 234, 10, 5001)
    assert (area.radio, area.mcc, area.mnc, area.lac, area.num_cells) == (0, 234, 10, 5001, 2)
    assert area.lat == pytest.approx(LONDON[0])
    assert area.lon == pytest.approx((one.lon + two.lon) / 2)  # the plain mean
    assert area.region == "GB" and area.avg_cell_radius == round(two.radius / 2)
    assert area.radius > 3000 and area.last_seen == one.last_seen
    assert area.created == area.modified
    assert runtime.redis.llen(AREA_QUEUE) == 0


def test_psc_follows_the_latest_observation(client, api_key, internal_export, drain):
    submit(client, api_key, report(LONDON, tower(1, radio="wcdma", psc=20)))
    drain()
    submit(client, api_key, report(LONDON, tower(1, radio="wcdma")))
    drain()
    assert cell_row("wcdma", 234, 10, 5001, 1).psc == 20  # kept when none is sent
    submit(client, api_key, report(LONDON, tower(1, radio="umts", primaryScramblingCode=21)))
    drain()
    row = cell_row("wcdma", 234, 10, 5001, 1)
    assert row.psc == 21 and row.samples == 3


def test_radio_tables(client, api_key, internal_export, drain):
    nr_cid, nr_tac = 68_719_476_735, 16_777_213
    submit(client, api_key,
           report(LONDON, tower(70000), tower(3, radio="lte"),
                  tower(None, radio="nr", lac=nr_tac, newRadioCellId=nr_cid)),
           report(LONDON, tower(4, radio=None, mcc="235", mnc="01"), radioType="lte"))
    drain()
    assert cell_row("wcdma", 234, 10, 5001, 70000) is not None  # gsm above 16 bits
    assert cell_row("gsm", 234, 10, 5001, 70000) is None
    assert cell_row("lte", 234, 10, 5001, 3) is not None
    assert cell_row("lte", 235, 1, 5001, 4) is not None  # the report's radio
    nr = cell_row("nr", 234, 10, nr_tac, nr_cid)
    assert (nr.radio, nr.lac, nr.cid, nr.region) == (4, nr_tac, nr_cid, "GB")
    assert area_row("nr", 234, 10, nr_tac).num_cells == 1


def test_what_is_never_learnt(client, api_key, internal_export, drain):
    submit(client, api_key,
           report(LONDON, tower(1, radio="cdma"), tower(2, mcc=262), tower(None),
                  tower(3, lac=0)),
           report(LONDON, tower(4), accuracy=1500.0),
           report(BERLIN, tower(5, mcc=262)))
    drain()
    for radio in ("gsm", "wcdma", "lte", "nr"):
        rows = [(r.mcc, r.cid) for r in CELL_MODELS[radio].select()]
        assert rows == ([(262, 5)] if radio == "gsm" else []), radio
    # a German cell seen in Berlin has a German area
    assert area_row("gsm", 262, 10, 5001).region == "DE"


def test_a_moved_cell_is_blocked_and_its_area_goes(client, api_key, internal_export, drain):
    submit(client, api_key, report(LONDON, tower(1)))
    drain()
    assert area_row("gsm", 234, 10, 5001).num_cells == 1
    submit(client, api_key, report(MANCHESTER, tower(1)))
    drain()
    row = cell_row("gsm", 234, 10, 5001, 1)
    assert row.lat is None and row.block_count == 1 and row.region == "GB"
    assert area_row("gsm", 234, 10, 5001) is None


def test_many_areas_take_several_runs(client, api_key, internal_export, drain, runtime):
    submit(client, api_key, report(LONDON, *[tower(1, lac=lac) for lac in range(1, 131)]))
    runs = drain()
    assert runs["update_cellarea"] >= 1
    assert CellArea.select().count() == 130
    assert runtime.redis.llen(AREA_QUEUE) == 0


def test_region_stats_count_cells_per_radio(client, api_key, internal_export, drain, runtime):
    from ichnaea_host.pipeline.stats import region_stats, update_statregion

    submit(client, api_key,
           report(LONDON, tower(1), tower(2), tower(3, radio="lte"), tower(4, radio="nr")),
           report(BERLIN, tower(5, mcc=262)))
    drain()
    assert update_statregion(runtime) == 2
    # NR cells are a kind of their own; a radio without cells in a region has no row
    assert region_stats(runtime) == {"GB": {"gsm": 2, "lte": 1, "nr": 1}, "DE": {"gsm": 1}}


def test_older_submit_formats(client, api_key, internal_export, drain):
    v0 = {"items": [{"lat": LONDON[0], "lon": LONDON[1], "accuracy": 10, "radio": "umts",
                     "cell": [{"cid": 1, "mcc": 234, "mnc": 10, "lac": 5001, "psc": 3,
                               "signal": -70}]}]}
    response = client.post(f"/v1/submit?key={api_key}", json=v0)
    assert response.status_code == 204, response.get_data(as_text=True)
    v1 = {"items": [{"latitude": LONDON[0], "longitude": LONDON[1], "accuracy": 10,
                     "cellTowers": [tower(2, radio="lte", psc=4)]}]}
    response = client.post(f"/v1/geosubmit?key={api_key}", json=v1)
    assert response.status_code == 200, response.get_data(as_text=True)
    drain()
    assert cell_row("wcdma", 234, 10, 5001, 1).psc == 3
    assert cell_row("lte", 234, 10, 5001, 2).psc == 4
