"""The geosubmit exporter end to end: submit through the API, drain the
pipeline, and look at what a real HTTP server on 127.0.0.1 received."""

from __future__ import annotations

import gzip
import json
import socket

import pytest
from structlog.testing import capture_logs

from ichnaea_host.core.models import ApiKeyRow, ExportConfig
from ichnaea_host.pipeline.tasks import failed_queue_name

UPSTREAM_KEY = "upstream-secret-key"


def report(lat: float, lon: float, source: str = "gnss", n: int = 0) -> dict:
    return {
        "timestamp": 1_700_000_000_000 + n,
        "position": {"latitude": lat, "longitude": lon, "accuracy": 10.0, "source": source},
        "wifiAccessPoints": [
            {"macAddress": f"02:00:00:00:{n:02x}:{i:02x}", "signalStrength": -60 - i,
             "ssid": f"net-{i}"}
            for i in range(2)
        ],
    }


def submit(client, key: str | None, reports: list[dict]) -> None:
    url = "/v2/geosubmit" + (f"?key={key}" if key else "")
    response = client.post(url, json={"items": reports})
    assert response.status_code == 200, response.get_data(as_text=True)


def incoming(runtime) -> list[dict]:
    """The reports as the API queued them (validated and normalised)."""
    raw = runtime.redis.lrange("update_incoming", 0, -1)
    return [json.loads(gzip.decompress(data))["report"] for data in raw]


def export(server, name: str = "upstream", batch: int = 0, **extra) -> ExportConfig:
    url = f"{server.url}/v2/geosubmit?key={UPSTREAM_KEY}"
    return ExportConfig.create(name=name, batch=batch, schema="geosubmit", url=url, **extra)


def received(server) -> list[dict]:
    return [r for req in server.requests for r in json.loads(gzip.decompress(req.body))["items"]]


def parked(runtime, name: str) -> list[dict]:
    key = failed_queue_name(f"queue_export_{name}")
    return [json.loads(item) for item in runtime.redis.lrange(key, 0, -1)]


def test_batches_arrive_gzipped_with_headers(client, api_key, drain, runtime,
                                             local_http_server):
    export(local_http_server)
    reports = [report(51.5, -0.1, n=0), report(51.6, -0.2, n=1), report(51.7, -0.3, n=2)]
    submit(client, api_key, reports)
    queued = incoming(runtime)
    assert len(queued) == 3

    runs = drain()
    assert runs["export_reports"] == 1
    [req] = local_http_server.requests
    assert req.method == "POST"
    assert req.path == f"/v2/geosubmit?key={UPSTREAM_KEY}"
    assert req.headers["Content-Encoding"] == "gzip"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"] == "ichnaea"
    assert json.loads(gzip.decompress(req.body)) == {"items": queued}
    # forwarded unchanged: position and wifi names as submitted
    got = received(local_http_server)
    assert [r["position"]["latitude"] for r in got] == [51.5, 51.6, 51.7]
    assert got[0]["wifiAccessPoints"][1]["ssid"] == "net-1"
    assert runtime.redis.llen("queue_export_upstream") == 0
    assert parked(runtime, "upstream") == []


def test_cell_extras_are_forwarded(client, api_key, drain, local_http_server):
    """NeoStumbler's cell extras reach the target as sent: the channel, the
    codes as strings (an MNC's leading zero), and a neighbour named only by
    its PCI and channel, beside another with the same PCI on another one."""
    export(local_http_server)
    codes = {"mobileCountryCode": 234, "mobileCountryCodeStr": "234",
             "mobileNetworkCode": 5, "mobileNetworkCodeStr": "05"}
    towers = [
        {"radioType": "lte", **codes, "locationAreaCode": 5001, "cellId": 1001,
         "primaryScramblingCode": 10, "arfcn": 1300, "signalStrength": -85, "serving": 1},
        {"radioType": "lte", **codes, "primaryScramblingCode": 20, "arfcn": 6300,
         "signalStrength": -101, "serving": 0},
        {"radioType": "lte", **codes, "primaryScramblingCode": 20, "arfcn": 1850,
         "signalStrength": -104, "serving": 0},
    ]
    item = report(51.5, -0.1)
    item["cellTowers"] = towers
    submit(client, api_key, [item])
    drain()
    [got] = received(local_http_server)
    assert got["cellTowers"] == towers


def test_batch_size_splits_requests(client, api_key, drain, local_http_server):
    export(local_http_server, batch=2)
    reports = [report(50.0 + i / 10, 8.0, n=i) for i in range(5)]
    submit(client, api_key, reports)
    drain()
    sizes = [len(json.loads(gzip.decompress(r.body))["items"]) for r in local_http_server.requests]
    assert sizes == [2, 2, 1]
    assert sorted(r["timestamp"] for r in received(local_http_server)) == [
        r["timestamp"] for r in reports]


def test_server_error_three_times_parks_the_batch(client, api_key, drain, runtime,
                                                   local_http_server):
    local_http_server.respond = lambda req: (500, {}, b"oops")
    export(local_http_server)
    submit(client, api_key, [report(1.0, 2.0, n=1), report(1.1, 2.1, n=2)])
    queued = incoming(runtime)

    with capture_logs() as logs:
        drain()
    assert len(local_http_server.requests) == 3
    assert runtime.redis.llen("queue_export_upstream") == 0
    assert parked(runtime, "upstream") == [{"api_key": api_key, "report": r} for r in queued]
    events = [e["event"] for e in logs]
    assert events.count("export_failed") == 3 and "export_parked" in events
    # the target's own API key (in its URL) is never logged
    assert UPSTREAM_KEY not in repr(logs)
    assert any("HTTP 500" in str(e.get("error")) for e in logs)


def test_retry_succeeds_after_failures(client, api_key, drain, runtime, local_http_server):
    answers = iter([503, 429, 200])
    local_http_server.respond = lambda req: (next(answers), {}, b"{}")
    export(local_http_server)
    submit(client, api_key, [report(1.0, 2.0)])
    drain()
    assert len(local_http_server.requests) == 3
    assert len(received(local_http_server)) == 3  # the same batch, three times
    assert parked(runtime, "upstream") == []


def test_connection_refused_is_retriable(client, api_key, drain, runtime):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ExportConfig.create(name="gone", batch=0, schema="geosubmit",
                        url=f"http://127.0.0.1:{port}/v2/geosubmit?key={UPSTREAM_KEY}")
    submit(client, api_key, [report(1.0, 2.0)])
    with capture_logs() as logs:
        drain()
    assert len(parked(runtime, "gone")) == 1
    assert UPSTREAM_KEY not in repr(logs)


def test_skip_keys_and_sources(client, api_key, drain, local_http_server):
    ApiKeyRow.create(valid_key="skipme", maxreq=0, store_sample_submit=100)
    export(local_http_server, skip_keys="skipme,other", skip_sources="fused")
    submit(client, api_key, [report(10.0, 10.0, "gnss", n=1), report(11.0, 11.0, "fused", n=2)])
    submit(client, "skipme", [report(12.0, 12.0, n=3)])
    submit(client, None, [report(13.0, 13.0, n=4)])
    drain()
    got = received(local_http_server)
    assert sorted(r["position"]["latitude"] for r in got) == [10.0, 13.0]


def test_timeout_setting(monkeypatch, make_runtime):
    monkeypatch.setenv("ICHNAEA_EXPORT_GEOSUBMIT__TIMEOUT", "2.5")
    rt = make_runtime()
    assert rt.plugins.settings_of(rt.plugins.exporters()["geosubmit"]).timeout == 2.5
    monkeypatch.setenv("ICHNAEA_EXPORT_GEOSUBMIT__TIMEOUT", "0")
    with pytest.raises(Exception, match="ICHNAEA_EXPORT_GEOSUBMIT__TIMEOUT"):
        make_runtime()


def test_one_session_per_thread():
    import threading

    from ichnaea_export_geosubmit.exporter import session

    mine = session()
    assert session() is mine
    other = []
    thread = threading.Thread(target=lambda: other.append(session()))
    thread.start()
    thread.join()
    assert other[0] is not mine
