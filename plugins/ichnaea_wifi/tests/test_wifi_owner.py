"""An owner's requests on the web site (``POST /optout``), seen from outside:
an opted-out access point stops answering and is never learnt again; one
reset because it moved is learnt anew where it is now; a request without a
real scan from beside the access point is refused; too many are refused with
429; the log names the network by its vendor half only."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from ichnaea_host.app import create_app
from ichnaea_host.pipeline.tasks import drain as run_drain
from ichnaea_wifi.models import MODEL

A, B, C = "02:00:5e:30:00:0a", "02:00:5e:30:00:0b", "02:00:5e:30:00:0c"
MINE = "02:00:5e:30:00:99"
FAR_A, FAR_B = "02:00:5e:30:01:0a", "02:00:5e:30:01:0b"
HOME = (46.95, 7.44)
AWAY = (46.95 + 3000 / 111_200, 7.44)
NOWHERE = {"X-Forwarded-For": "192.0.2.1"}


def submit(client, drain, place, macs, times=2):
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
    return response.get_json()["location"] if response.status_code == 200 else None


def ask(client, network, action, *scan, ip="198.51.100.7"):
    body = {"network": network, "action": action,
            "wifiAccessPoints": [{"macAddress": m, "signalStrength": -50} for m in scan]}
    return client.post("/optout", json=body, headers={"X-Forwarded-For": ip})


@pytest.fixture
def service(make_runtime, api_key_factory, internal_export):
    def build(**settings):
        rt = make_runtime(**settings)
        api_key_factory("test")
        client = create_app(runtime=rt).test_client()
        drain = lambda: run_drain(rt)  # noqa: E731
        submit(client, drain, HOME, [A, B, C, MINE])
        submit(client, drain, AWAY, [FAR_A, FAR_B])
        return client, drain
    return build


def test_an_opted_out_access_point_is_never_located_nor_learnt_again(service):
    client, drain = service()
    assert located(client, A, MINE)
    response = ask(client, MINE, "optout", MINE, A, B)
    assert response.status_code == 200 and response.get_json() == {"result": "opted_out"}
    assert located(client, A, MINE) is None
    assert located(client, A, B) is not None
    submit(client, drain, HOME, [A, B, MINE], times=5)  # stumblers keep passing by
    assert located(client, A, MINE) is None
    row = MODEL.get(MODEL.mac == MINE.replace(":", ""))
    assert row.lat is None and row.block_count == 255
    # asking again is no error; asking to reset an opted-out network is refused
    assert ask(client, MINE, "optout", MINE, A, B).get_json() == {"result": "opted_out"}
    refused = ask(client, MINE, "moved", MINE, A, B)
    assert refused.status_code == 400 and "opted out" in refused.get_json()["details"]["optout"]


def test_an_access_point_that_moved_is_forgotten_and_learnt_where_it_is(service):
    client, drain = service()
    # the owner took it away: the scan there shows it beside the networks of its new place
    response = ask(client, MINE, "moved", MINE, FAR_A, FAR_B)
    assert response.get_json() == {"result": "reset"}
    assert located(client, A, MINE) is None
    submit(client, drain, AWAY, [FAR_A, MINE])
    where = located(client, FAR_A, MINE)
    assert where is not None and abs(where["lat"] - AWAY[0]) < 1e-3


def test_an_unknown_access_point_can_be_opted_out_before_it_is_learnt(service):
    client, drain = service()
    fresh = "02:00:5e:30:00:77"
    assert ask(client, fresh, "optout", fresh, A, B).get_json() == {"result": "opted_out"}
    submit(client, drain, HOME, [A, fresh], times=3)
    assert located(client, A, fresh) is None


@pytest.mark.parametrize("network, scan, reason", [
    (MINE, [A, B], "the network itself"),
    (MINE, [MINE, A], "two other networks"),
    (MINE, [MINE, A, "02:00:5e:30:00:55"], "fewer than two"),
    (MINE, [MINE, A, FAR_A], "not seen together"),
    (MINE, [MINE, FAR_A, FAR_B], "not where the other networks are"),
    ("not-a-mac", ["not-a-mac", A, B], "not a valid address"),
])
def test_requests_without_a_proof_of_presence_are_refused(service, network, scan, reason):
    client, _ = service()
    response = ask(client, network, "optout", *scan)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"]["errors"][0]["reason"] == "parseError"
    assert reason in body["details"]["optout"]
    assert located(client, A, MINE) is not None  # nothing changed


@pytest.mark.parametrize("body", [b"[1]", b'{"action": "optout"}',
                                  b'{"network": "02:00:5e:30:00:99", "action": "delete"}',
                                  b'{"network": "02:00:5e:30:00:99", "action": "optout"}'])
def test_malformed_requests_answer_the_api_error(service, body):
    client, _ = service()
    response = client.post("/optout", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == 400


def test_requests_are_limited_per_address(service):
    client, _ = service(optout_limit=2)
    codes = [ask(client, MINE, "optout", MINE, A).status_code for _ in range(3)]
    assert codes == [400, 400, 429]  # refused proofs count too
    limited = ask(client, MINE, "optout", MINE, A, B)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["error"]["errors"][0]["reason"] == "userRateLimitExceeded"
    # another address is not held back
    assert ask(client, MINE, "optout", MINE, A, B, ip="203.0.113.9").status_code == 200


def test_the_form_on_the_page_carries_out_a_request(service):
    client, _ = service()
    page = client.get("/optout")
    assert page.status_code == 200 and b'id="optout-form"' in page.data
    scan = json.dumps({"wifiAccessPoints": [{"macAddress": m} for m in (MINE, A, B)]})
    done = client.post("/optout", data={"network": MINE, "action": "optout", "scan": scan})
    assert done.status_code == 200 and b'id="optout-result"' in done.data
    assert done.headers["Cache-Control"] == "no-store"
    bad = client.post("/optout", data={"network": MINE, "action": "optout", "scan": "{nope"})
    assert bad.status_code == 400 and b"not JSON" in bad.data


def test_the_log_names_the_network_by_half(service):
    client, _ = service()
    with capture_logs() as logs:
        ask(client, MINE, "optout", MINE, A, B)
        ask(client, MINE, "moved", MINE, A)
    lines = [entry for entry in logs if entry["event"] == "owner_request"]
    assert [line["result"] for line in lines] == ["opted_out", "refused"]
    text = json.dumps(logs)
    assert MINE not in text and MINE.replace(":", "") not in text
    assert "198.51.100.7" not in text
    assert all(line["network"] == MINE[:8] + "..." for line in lines)
