"""Stations seen far apart within a short time travel and are blocked
(``ICHNAEA_WIFI__MOVING_METERS``, ``ICHNAEA_WIFI__MOVING_HOURS``), seen from
outside: a hotspot stumbled at one place and, the same day, 3 km away no
longer helps to answer a geolocate there; a network that moved after a quiet
spell is learnt at its new place as before."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ichnaea_host.app import create_app
from ichnaea_host.pipeline.tasks import drain as run_drain
from ichnaea_wifi.models import MODEL

A, B, C, D = "02:00:5e:20:00:0a", "02:00:5e:20:00:0b", "02:00:5e:20:00:0c", "02:00:5e:20:00:0d"
HOTSPOT = "02:00:5e:20:00:99"
HOME = (46.95, 7.44)
AWAY = (46.95 + 3000 / 111_200, 7.44)  # 3 km north
NOWHERE = {"X-Forwarded-For": "192.0.2.1"}


def submit(client, drain, place, macs, times=1):
    items = [{"position": {"latitude": place[0] + i * 1e-5, "longitude": place[1],
                           "accuracy": 5.0, "source": "gps"},
              "wifiAccessPoints": [{"macAddress": m, "signalStrength": -60} for m in macs]}
             for i in range(times)]
    assert client.post("/v2/geosubmit?key=test", json={"items": items}).status_code == 200
    drain()


def located(client, *macs):
    body = {"wifiAccessPoints": [{"macAddress": m} for m in macs], "considerIp": False}
    response = client.post("/v1/geolocate?key=test", json=body, headers=NOWHERE)
    assert response.status_code in (200, 404)
    return response.status_code == 200


@pytest.fixture
def service(make_runtime, api_key_factory, internal_export):
    def build():
        rt = make_runtime()
        api_key_factory("test")
        return create_app(runtime=rt).test_client(), lambda: run_drain(rt)
    return build


def test_hotspot_seen_far_apart_the_same_day_is_blocked(service):
    client, drain = service()
    submit(client, drain, HOME, [A, B, HOTSPOT])
    assert located(client, A, HOTSPOT)
    submit(client, drain, AWAY, [C, D, HOTSPOT], times=3)
    assert located(client, C, D)
    # blocked: it answers neither here nor there
    assert not located(client, C, HOTSPOT)
    assert not located(client, A, HOTSPOT)
    row = MODEL.get(MODEL.mac == HOTSPOT.replace(":", ""))
    assert row.lat is None and row.block_count == 1


def test_network_that_moved_after_a_quiet_spell_is_learnt_where_it_is(service):
    client, drain = service()
    submit(client, drain, HOME, [A, B, HOTSPOT])
    three_days_ago = datetime.utcnow() - timedelta(days=3)  # noqa: DTZ003 - naive UTC column
    MODEL.update(modified=three_days_ago).where(
        MODEL.mac == HOTSPOT.replace(":", "")).execute()
    submit(client, drain, AWAY, [C, D, HOTSPOT], times=8)
    # blended towards its new place, as before: it answers there with a neighbour
    assert located(client, C, HOTSPOT)
    assert MODEL.get(MODEL.mac == HOTSPOT.replace(":", "")).block_count is None


def test_small_moves_stay_ordinary_changes(service):
    client, drain = service()
    submit(client, drain, HOME, [A, B, HOTSPOT])
    near = (HOME[0] + 300 / 111_200, HOME[1])  # 300 m: another side of its range
    submit(client, drain, near, [C, D, HOTSPOT], times=3)
    assert located(client, C, HOTSPOT)


def test_the_rule_can_be_switched_off(service, monkeypatch):
    monkeypatch.setenv("ICHNAEA_WIFI__MOVING_METERS", "0")
    client, drain = service()
    submit(client, drain, HOME, [A, B, HOTSPOT])
    submit(client, drain, AWAY, [C, D, HOTSPOT], times=8)
    assert located(client, C, HOTSPOT)
