"""What the operator sees of each API request: one structured log line, and
statsd metrics with the original service's names and tags, received by a
real UDP socket. Neither names a person: no client address, no full key."""

from __future__ import annotations

import json
import socket

import pytest
from structlog.testing import capture_logs

from ichnaea_host.api.openapi import checking_client

LONDON_IP = "81.2.69.160"
KEY = "secret-key-1234"


class StatsdServer:
    """A UDP socket on 127.0.0.1 that collects statsd lines."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]

    def lines(self) -> list[str]:
        found = []
        while True:
            try:
                found.append(self.sock.recv(65536).decode())
            except TimeoutError:
                return found

    def metrics(self) -> list[tuple[str, str, set[str]]]:
        """(name, type, tags) of every line received so far."""
        out = []
        for line in self.lines():
            head, _, tags = line.partition("|#")
            name_value, _, kind = head.partition("|")
            name = name_value.split(":")[0]
            out.append((name, kind, set(tags.split(",")) if tags else set()))
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def statsd():
    server = StatsdServer()
    yield server
    server.close()


@pytest.fixture
def measured(make_runtime, statsd, api_key_factory):
    """A client of an app that sends metrics to ``statsd``, and a known key."""
    from ichnaea_host.app import create_app

    rt = make_runtime(statsd_host="127.0.0.1", statsd_port=statsd.port)
    api_key_factory(KEY)
    return checking_client(create_app(runtime=rt))


def request_lines(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry.get("event") == "request"]


def test_one_log_line_per_request(measured):
    with capture_logs() as logs:
        measured.post(f"/v1/geolocate?key={KEY}", json={
            "wifiAccessPoints": [{"macAddress": "02:00:5e:10:00:01"},
                                 {"macAddress": "02:00:5e:10:00:02"}, {"macAddress": "bad"}]},
            headers={"X-Forwarded-For": LONDON_IP})
    [line] = request_lines(logs)
    assert line["http_method"] == "POST" and line["http_path"] == "/v1/geolocate"
    assert line["http_status"] == 200 and isinstance(line["duration_s"], float)
    assert line["api_type"] == "locate" and line["api_path"] == "v1.geolocate"
    assert line["api_key"] == "secr..."
    assert line["has_ip"] is True
    assert (line["wifi"], line["wifi_valid"]) == (3, 2)
    assert (line["blue"], line["blue_valid"]) == (0, 0)
    # the demo database's London record: a 100 km radius, answered as 164 km
    assert line["accuracy_min"] == "high" and line["accuracy"] == "low"
    assert line["result_status"] == "miss"
    assert line["source_geoip_status"] == "miss"
    assert line["source_geoip_accuracy"] == "low"
    assert line["fallback_allowed"] is False
    assert line["locate_report"] == "no_result"


def test_logs_never_hold_an_address_or_a_full_key(measured, api_key_factory):
    limited = api_key_factory("limited-key-5678", maxreq=1)
    calls = [
        ("get", f"/v1/geolocate?key={KEY}", None),
        ("get", f"/v1/geolocate?key={limited}", None),
        ("get", f"/v1/geolocate?key={limited}", None),
        ("post", "/v1/geolocate?key=not-a-known-key", {}),
        ("get", f"/v1/country?key={KEY}", None),
        ("post", f"/v2/geosubmit?key={KEY}",
         {"items": [{"wifiAccessPoints": [{"macAddress": "02:00:5e:10:00:01"}]}]}),
        ("post", "/v1/submit", {"items": []}),
        ("get", "/__heartbeat__", None),
    ]
    with capture_logs() as logs:
        for method, url, body in calls:
            getattr(measured, method)(url, json=body, headers={
                "X-Forwarded-For": LONDON_IP, "X-Nickname": "Alice"})
    text = json.dumps(logs)
    for secret in (LONDON_IP, KEY, limited, "not-a-known-key", "Alice"):
        assert secret not in text
    lines = request_lines(logs)
    assert len(lines) == len(calls)
    assert [line["http_status"] for line in lines] == [200, 200, 403, 400, 200, 200, 204, 200]
    assert lines[2]["rate_allowed"] is False
    assert (lines[1]["rate_quota"], lines[1]["rate_remaining"]) == (1, 0)
    assert lines[3]["invalid_api_key"] == "not-..." and lines[3]["api_key"] == "none"
    assert lines[5]["reports"] == 1


def test_locate_metrics(measured, statsd):
    statsd.lines()
    measured.get(f"/v1/geolocate?key={KEY}", headers={"X-Forwarded-For": LONDON_IP})
    metrics = statsd.metrics()
    assert ("location.request", "c",
            {"path:v1.geolocate", "method:get", "status:200"}) in metrics
    assert any(name == "location.request.timing" and kind == "ms"
               and tags == {"path:v1.geolocate", "method:get"}
               for name, kind, tags in metrics)
    assert ("location.locate.request", "c", {"path:v1.geolocate", f"key:{KEY}"}) in metrics
    assert ("location.locate.query", "c",
            {f"key:{KEY}", "blue:none", "cell:none", "wifi:none"}) in metrics
    assert ("location.locate.result", "c",
            {f"key:{KEY}", "accuracy:low", "status:hit", "source:geoip"}) in metrics
    assert ("location.locate.source", "c",
            {f"key:{KEY}", "accuracy:low", "status:hit", "source:geoip"}) in metrics


def test_locate_metrics_without_data_or_key(measured, statsd):
    statsd.lines()
    measured.post(f"/v1/geolocate?key={KEY}", json={"considerIp": False},
                  headers={"X-Forwarded-For": LONDON_IP})
    measured.post("/v1/geolocate", json={})
    names = [(name, tags) for name, _, tags in statsd.metrics()]
    assert ("location.locate.request", {"path:v1.geolocate", "key:none"}) in names
    assert not any(name in ("location.locate.result", "location.locate.source")
                   for name, _ in names)
    measured.get("/v1/geolocate?key=unknown-key")
    assert ("location.locate.request", {"path:v1.geolocate", "key:invalid"}) in \
        [(name, tags) for name, _, tags in statsd.metrics()]


def test_region_metrics(measured, statsd):
    statsd.lines()
    measured.get(f"/v1/country?key={KEY}", headers={"X-Forwarded-For": "192.0.2.1"})
    metrics = statsd.metrics()
    assert ("location.request", "c", {"path:v1.country", "method:get", "status:404"}) in metrics
    assert ("location.region.request", "c", {"path:v1.country", f"key:{KEY}"}) in metrics
    assert ("location.region.query", "c",
            {f"key:{KEY}", "blue:none", "cell:none", "wifi:none"}) in metrics
    assert ("location.region.result", "c",
            {f"key:{KEY}", "accuracy:low", "status:miss"}) in metrics


def test_submit_metrics(measured, statsd):
    statsd.lines()
    body = {"items": [{"wifiAccessPoints": [{"macAddress": "02:00:5e:10:00:01"}]}] * 3}
    measured.post(f"/v2/geosubmit?key={KEY}", json=body)
    measured.post("/v1/geosubmit", json=body)
    measured.post("/v1/submit", json={"items": [{"lat": 1, "lon": 2}]})  # nothing to keep
    metrics = statsd.metrics()
    assert ("location.submit.request", "c", {"path:v2.geosubmit", f"key:{KEY}"}) in metrics
    assert ("location.submit.request", "c", {"path:v1.geosubmit", "key:none"}) in metrics
    assert ("location.submit.request", "c", {"path:v1.submit", "key:none"}) in metrics
    uploads = [tags for name, _, tags in metrics if name == "location.data.batch.upload"]
    assert uploads == [{f"key:{KEY}"}, set()]
    assert ("location.request", "c", {"path:v1.submit", "method:post", "status:204"}) in metrics


def test_router_refusals_are_logged_but_not_metered(measured, statsd):
    statsd.lines()
    with capture_logs() as logs:
        assert measured.get("/nobody-is-home").status_code == 404
        assert measured.delete("/v1/geolocate").status_code == 405
        assert measured.get("/static/missing.css").status_code == 404
    assert statsd.metrics() == []
    assert [line["http_status"] for line in request_lines(logs)] == [404, 405]
    measured.get("/__lbheartbeat__")
    assert ("location.request", "c", {"path:__lbheartbeat__", "method:get", "status:200"}) \
        in statsd.metrics()
