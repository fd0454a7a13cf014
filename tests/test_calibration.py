"""The accuracy the service answers follows what submitted reports measure
(issue 28): the pipeline locates positioned reports with what it already
knew, and once enough of them say the answers are worse than claimed, the
circle widens, at every ?confidence=; /stats and /metrics show it."""

from __future__ import annotations

import math
import random

import pytest

from ichnaea_host.core import calibration
from ichnaea_host.core.geo import distance

MACS = ["02:00:5e:28:00:01", "02:00:5e:28:00:02", "02:00:5e:28:00:03"]
HOME = (51.5, -0.1)
SCAN = [{"macAddress": m, "signalStrength": -60 - 3 * i} for i, m in enumerate(MACS)]
QUERY = {"wifiAccessPoints": SCAN}
#: a test's own settings: a small threshold, read on every request
SETTINGS = {"calibration_min_samples": 40, "calibration_refresh": 0,
            "calibration_per_minute": 10_000}


def report(lat: float, lon: float, source: str = "gnss") -> dict:
    return {"position": {"latitude": lat, "longitude": lon, "accuracy": 5.0, "source": source},
            "wifiAccessPoints": SCAN}


def offset(metres: float, bearing: float) -> tuple[float, float]:
    lat = HOME[0] + metres * math.cos(bearing) / 111_195.0
    lon = HOME[1] + metres * math.sin(bearing) / (111_195.0 * math.cos(math.radians(HOME[0])))
    return lat, lon


@pytest.fixture
def calibrated(make_runtime):
    """(web client with calibration, web client without, runtime): the same data."""
    from ichnaea_host.app import create_app
    from ichnaea_host.core.models import ApiKeyRow, ExportConfig

    rt = make_runtime(**SETTINGS, metrics="on")
    plain = make_runtime(calibration=False)
    ApiKeyRow.create(valid_key="test", maxreq=0, allow_fallback=False, allow_locate=True,
                     allow_region=True, store_sample_locate=100, store_sample_submit=100)
    ExportConfig.create(name="internal", batch=0, schema="internal")
    clients = []
    for runtime in (rt, plain):
        app = create_app(runtime=runtime)
        app.testing = True
        clients.append(app.test_client())
    return clients[0], clients[1], rt


def locate(client, confidence: int | None = None) -> dict:
    suffix = f"&confidence={confidence}" if confidence else ""
    response = client.post(f"/v1/geolocate?key=test{suffix}", json=QUERY)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def submit(client, items: list[dict]) -> None:
    response = client.post("/v2/geosubmit?key=test", json={"items": items})
    assert response.status_code == 200


def drain(rt) -> None:
    from ichnaea_host.pipeline.tasks import drain as run_drain

    run_drain(rt)


def quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def test_the_circle_widens_when_reports_say_answers_are_worse(calibrated):
    client, plain, rt = calibrated
    submit(client, [report(*HOME), report(HOME[0] + 0.00002, HOME[1])])
    drain(rt)
    before = locate(client)
    before68 = locate(client, 68)
    assert before == locate(plain)  # nothing measured yet: today's answers
    assert before68 == locate(plain, 68)
    claimed = before["accuracy"]
    answer = (before["location"]["lat"], before["location"]["lng"])

    # 60 people hear the same networks 3 to 30 times the claimed accuracy away
    rng = random.Random(28)
    places = [offset(claimed * rng.uniform(3, 30), rng.uniform(0, 2 * math.pi))
              for _ in range(60)]
    submit(client, [report(lat, lon) for lat, lon in places])
    drain(rt)

    ratios = [distance(answer[0], answer[1], lat, lon) / claimed for lat, lon in places]
    raw = locate(plain)["accuracy"]  # the stations moved a little: their own new claim
    for level in (95, 90, 68, 50):
        widened = locate(client, None if level == 95 else level)
        assert widened["location"] == locate(plain)["location"]
        factor = widened["accuracy"] / raw
        assert factor == pytest.approx(quantile(ratios, level / 100), rel=0.12), level
    assert locate(client)["accuracy"] > 3 * raw
    assert locate(client, 68)["accuracy"] < locate(client)["accuracy"]

    # the statistics page and /metrics show what was measured
    page = client.get("/stats").get_data(as_text=True)
    assert 'id="accuracy"' in page and "<td>wifi</td>" in page
    scrape = client.get("/metrics").get_data(as_text=True)
    assert 'ichnaea_accuracy_samples{kind="wifi"} 60.0' in scrape
    assert 'ichnaea_accuracy_inside_ratio{kind="wifi"} 0.0' in scrape
    assert 'ichnaea_accuracy_error_meters{kind="wifi",quantile="0.9"}' in scrape
    summary = calibration.by_kind(calibration.read(rt))["wifi"]
    assert summary.samples == 60
    assert summary.share_inside == 0  # the circle answered then held none of them
    errors = [r * claimed for r in ratios]
    assert summary.error_quantile(0.5) == pytest.approx(quantile(errors, 0.5), rel=0.12)


def test_a_place_known_by_few_of_its_networks_gets_a_wider_circle(calibrated):
    """The measurements are kept by the share of the networks heard that the
    answer could use: where reports heard mostly unknown networks, answers
    were further off, and a query like them gets a circle as wide as theirs."""
    client, plain, rt = calibrated
    submit(client, [report(*HOME), report(HOME[0] + 0.00002, HOME[1])])
    drain(rt)
    claimed = locate(client)["accuracy"]
    rng = random.Random(7)
    unknown = iter(f"02:00:5e:29:{n // 256:02x}:{n % 256:02x}" for n in range(10_000))

    def among_strangers(lat: float, lon: float) -> dict:
        # the three known networks among seven heard nowhere else (30 % known)
        strangers = [{"macAddress": next(unknown), "signalStrength": -85} for _ in range(7)]
        return dict(report(lat, lon), wifiAccessPoints=[*SCAN, *strangers])

    # where every network heard is known the answers were 1-2 claims away;
    # where most were unknown, 8-16 claims away
    near = [report(*offset(claimed * rng.uniform(1, 2), rng.uniform(0, 2 * math.pi)))
            for _ in range(40)]
    far = [among_strangers(*offset(claimed * rng.uniform(8, 16), rng.uniform(0, 2 * math.pi)))
           for _ in range(40)]
    submit(client, near + far)
    drain(rt)
    strata = calibration.read(rt)
    assert {g: s.samples for g, s in strata.items()} == {"wifi:k90": 40, "wifi:k0": 40}

    known = locate(client)
    strange_query = {"wifiAccessPoints": [*SCAN, *(
        {"macAddress": next(unknown), "signalStrength": -85} for _ in range(7))]}
    response = client.post("/v1/geolocate?key=test", json=strange_query)
    assert response.status_code == 200
    strange = response.get_json()
    assert strange["location"] == known["location"]  # the same networks answer
    assert plain.post("/v1/geolocate?key=test", json=strange_query).get_json()[
        "accuracy"] == locate(plain)["accuracy"]  # without measurements: one circle
    assert strange["accuracy"] > 4 * known["accuracy"]
    raw = locate(plain)["accuracy"]
    assert known["accuracy"] < 2.5 * raw < strange["accuracy"]


def test_few_samples_change_nothing(calibrated):
    client, plain, rt = calibrated
    submit(client, [report(*HOME), report(HOME[0] + 0.00002, HOME[1])])
    drain(rt)
    claimed = locate(client)["accuracy"]
    far = [offset(claimed * 20, b) for b in (0.1, 1.0, 2.0, 3.0, 4.0)]
    submit(client, [report(lat, lon) for lat, lon in far])
    drain(rt)
    assert calibration.by_kind(calibration.read(rt))["wifi"].samples == 5
    assert locate(client) == locate(plain)
    assert locate(client, 90) == locate(plain, 90)


def test_query_reports_never_calibrate(calibrated):
    client, plain, rt = calibrated
    submit(client, [report(*HOME), report(HOME[0] + 0.00002, HOME[1])])
    drain(rt)
    # located queries are queued as reports whose position is our own answer
    # (with a network not known yet, or they would teach nothing)
    for i in range(50):
        scan = [*SCAN, {"macAddress": f"02:00:5e:28:01:{i:02x}", "signalStrength": -80}]
        assert client.post("/v1/geolocate?key=test",
                           json={"wifiAccessPoints": scan}).status_code == 200
    assert rt.queue("update_incoming").size() > 0
    drain(rt)
    assert calibration.read(rt) == {}
    # and submitted reports naming themselves "query" or "fused" neither
    submit(client, [report(HOME[0] + 0.001 * i, HOME[1], source)
                    for i, source in enumerate(("query", "fused"), 1)])
    drain(rt)
    assert calibration.read(rt) == {}
    # a GNSS report does
    submit(client, [report(HOME[0] + 0.0003, HOME[1])])
    drain(rt)
    assert calibration.by_kind(calibration.read(rt))["wifi"].samples == 1


def test_a_report_submitted_again_measures_nothing(calibrated):
    client, plain, rt = calibrated
    first = report(HOME[0] + 0.0004, HOME[1] + 0.0004)
    submit(client, [first])
    drain(rt)  # its stations are learnt from it: located again it would be perfect
    submit(client, [first])
    drain(rt)
    assert calibration.read(rt) == {}
    assert locate(client) == locate(plain)


def test_the_measurements_add_up_over_days(runtime):
    samples = [calibration.Sample("wifi", networks=3, heard=3, error=e, accuracy=10.0,
                                  answered=10.0) for e in (1.0, 5.0, 9.0, 20.0)]
    from datetime import date, timedelta

    today = date(2026, 12, 7)
    calibration.record(runtime, samples[:2], day=today - timedelta(days=2))
    calibration.record(runtime, samples[2:], day=today)
    calibration.record(runtime, samples, day=today - timedelta(days=30))  # too old
    summary = calibration.by_kind(calibration.read(runtime, today=today))["wifi"]
    assert (summary.samples, summary.inside) == (4, 3)
    assert summary.ratio_quantile(0.5) == pytest.approx(0.5, rel=0.07)
    assert summary.ratio_quantile(1.0) == pytest.approx(2.0, rel=0.07)


def test_a_blurred_truth_measures_nothing(calibrated):
    client, plain, rt = calibrated
    submit(client, [report(*HOME), report(HOME[0] + 0.00002, HOME[1])])
    drain(rt)
    claimed = locate(client)["accuracy"]
    blurred = report(*offset(claimed * 5, 1.0))
    blurred["position"]["accuracy"] = 0.4 * claimed  # its own error: near half the answer's
    submit(client, [blurred])
    drain(rt)
    assert calibration.read(rt) == {}
