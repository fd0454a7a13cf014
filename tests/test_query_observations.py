"""Locate queries feed the pipeline, but may only confirm a GNSS station's
position, never move or block it (dual-band routers and a few clients must
not be able to drag learnt stations around)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ichnaea_wifi.models import MODEL

MACS = ["c0ffee000001", "c0ffee000002"]
LAT, LON = 48.85, 2.35
KM = 1 / 111.2


def report(lat: float, source: str) -> dict:
    return {"position": {"latitude": lat, "longitude": LON, "accuracy": 10, "source": source},
            "wifiAccessPoints": [{"macAddress": m, "signalStrength": -70} for m in MACS]}


def station(mac: str):
    model = MODEL
    return model.get(model.mac == mac)


def age(mac: str, days: int) -> None:
    model = MODEL
    then = datetime.utcnow().replace(microsecond=0) - timedelta(days=days)  # noqa: DTZ003
    model.update(modified=then, created=then, last_seen=then.date()).where(
        model.mac == mac).execute()


@pytest.fixture
def submit(client, api_key, internal_export, drain):
    def run(*reports):
        assert client.post(f"/v2/geosubmit?key={api_key}",
                           json={"items": list(reports)}).status_code == 200
        drain()
    return run


def test_far_query_neither_moves_nor_blocks_a_gnss_station(submit):
    submit(report(LAT, "gnss"))
    submit(report(LAT + 50 * KM, "query"))
    row = station(MACS[0])
    assert row.lat == pytest.approx(LAT)
    assert row.block_count is None and row.block_last is None


def test_far_query_does_not_replace_an_old_gnss_position(submit):
    submit(report(LAT, "gnss"))
    age(MACS[0], 400)
    submit(report(LAT + 50 * KM, "query"))
    assert station(MACS[0]).lat == pytest.approx(LAT)


def test_near_query_still_confirms(submit):
    submit(report(LAT, "gnss"))
    age(MACS[0], 3)
    submit(report(LAT + 0.5 * KM, "query"))
    row = station(MACS[0])
    assert row.last_seen == datetime.utcnow().date()  # noqa: DTZ003
    assert row.lat == pytest.approx(LAT)


def test_queries_discover_and_gnss_moves(submit):
    submit(report(LAT, "query"))
    assert station(MACS[0]).source == 9  # discovered from a query
    age(MACS[0], 400)
    submit(report(LAT + 50 * KM, "gnss"))  # GNSS evidence may still move an old position
    assert station(MACS[0]).lat == pytest.approx(LAT + 50 * KM)


def test_far_query_still_blocks_a_query_station(submit):
    submit(report(LAT, "query"))
    submit(report(LAT + 50 * KM, "query"))
    assert station(MACS[0]).block_count == 1
