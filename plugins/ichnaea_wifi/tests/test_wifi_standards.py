"""NeoStumbler's WiFi ``radioType`` (``802.11g|n|ac|ax|be``): accepted in
submissions, kept in the reports the service forwards, counted per standard
in the ``data.observation.wifi_standard`` metric, and the networks learned."""

from __future__ import annotations

import socket

import pytest

from ichnaea_host.app import create_app
from ichnaea_host.pipeline.tasks import drain

MACS = [f"02:00:5e:30:00:{i:02x}" for i in range(1, 7)]
SENT = ["802.11g", "802.11n", "802.11ac", "802.11AX", "be", "wifi7"]


@pytest.fixture
def statsd():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def received(sock) -> list[str]:
    lines = []
    try:
        while True:
            lines += sock.recv(65536).decode().splitlines()
    except TimeoutError:
        return lines


def test_neostumbler_wifi_standards(make_runtime, api_key_factory, internal_export, statsd):
    rt = make_runtime(statsd_host="127.0.0.1", statsd_port=statsd.getsockname()[1])
    api_key_factory("test")
    client = create_app(runtime=rt).test_client()
    items = [{"timestamp": 1_700_000_000_000,
              "position": {"latitude": 60.17 + i * 1e-4, "longitude": 24.94, "accuracy": 5.0,
                           "source": "gps"},
              "wifiAccessPoints": [{"macAddress": m, "radioType": t, "signalStrength": -60,
                                    "ssid": "net"} for m, t in zip(MACS, SENT, strict=True)]}
             for i in range(2)]
    assert client.post("/v2/geosubmit?key=test", json={"items": items}).status_code == 200
    drain(rt)
    lines = [line for line in received(statsd) if "wifi_standard" in line]
    counts = {}
    for line in lines:  # location.data.observation.wifi_standard:2|c|#standard:802.11g,type:wifi
        name_value, tags = line.split("|")[0], line.split("|#")[1]
        standard = [t for t in tags.split(",") if t.startswith("standard:")][0]
        counts[standard] = counts.get(standard, 0) + int(float(name_value.split(":")[1]))
    assert counts == {f"standard:{s}": 2 for s in
                      ("802.11g", "802.11n", "802.11ac", "802.11ax", "802.11be")}
    # every network is learned, the one with an unknown standard as well
    body = {"wifiAccessPoints": [{"macAddress": m} for m in MACS[4:]], "considerIp": False}
    assert client.post("/v1/geolocate?key=test", json=body).status_code == 200


def test_standards_are_forwarded_normalised(client, runtime):
    report = {"position": {"latitude": 60.1, "longitude": 24.9},
              "wifiAccessPoints": [{"macAddress": m, "radioType": t}
                                   for m, t in zip(MACS, SENT, strict=True)]}
    assert client.post("/v2/geosubmit", json={"items": [report]}).status_code == 200
    [item] = runtime.queue("update_incoming").dequeue()
    assert [e.get("radioType") for e in item["report"]["wifiAccessPoints"]] == [
        "802.11g", "802.11n", "802.11ac", "802.11ax", "802.11be", None]
