"""NeoStumbler's WiFi ``radioType`` (``802.11g|n|ac|ax|be``): accepted in
submissions, kept in the reports the service forwards, counted per standard
in the ``data.observation.wifi_standard`` metric and on the statistics page,
and the networks learned."""

from __future__ import annotations

import re
import socket
from datetime import timedelta

import pytest

from ichnaea_host.app import create_app
from ichnaea_host.core.clock import today_utc
from ichnaea_host.pipeline.tasks import drain
from ichnaea_wifi import standards

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


def page_rows(client) -> list[tuple[str, str, str]]:
    body = client.get("/stats").get_data(as_text=True)
    section = re.search(r'<section class="stats-section" id="wifi-standards">(.*?)</section>',
                        body, re.DOTALL)
    assert section is not None
    assert "<h2>WiFi standards</h2>" in section.group(1)
    return re.findall(r'<tr><td>([^<]+)</td><td class="number">([\d,]+)</td>\s*'
                      r'<td class="share"><meter min="0" max="100" value="([\d.]+)">',
                      section.group(1))


def test_the_stats_page_shows_the_standards_learnt_from(make_runtime, api_key_factory,
                                                      internal_export):
    rt = make_runtime()
    api_key_factory("test")
    client = create_app(runtime=rt).test_client()
    assert page_rows(client) == []
    assert "No report named a WiFi standard" in client.get("/stats").get_data(as_text=True)
    sent = ["802.11ax", "ax", "802.11be", "802.11n", "802.11AX", None, "wifi7"]
    macs = [f"02:00:5e:31:00:{i:02x}" for i in range(1, len(sent) + 1)]
    items = []
    for i in range(3):
        networks = [{"macAddress": m, "signalStrength": -60} for m in macs]
        for network, standard in zip(networks, sent, strict=True):
            if standard is not None:
                network["radioType"] = standard
        items.append({"position": {"latitude": 48.85 + i * 1e-4, "longitude": 2.35,
                                   "accuracy": 10.0}, "wifiAccessPoints": networks})
    # one more report naming a standard, without a position: nothing learnt from it
    items.append({"wifiAccessPoints": [{"macAddress": macs[0], "radioType": "802.11g"}]})
    assert client.post("/v2/geosubmit?key=test", json={"items": items}).status_code == 200
    drain(rt)
    rt.redis.delete(*rt.redis.keys("cache:stats_section_*"))  # the page keeps them an hour
    # three reports: 802.11ax three times in each, be and n once
    assert page_rows(client) == [("802.11n (Wi-Fi 4)", "3", "20.0"),
                                 ("802.11ax (Wi-Fi 6)", "9", "60.0"),
                                 ("802.11be (Wi-Fi 7)", "3", "20.0")]
    # the page sums the last 30 days
    later = today_utc() + timedelta(days=standards.KEEP_DAYS - 1)
    assert dict(standards.recent(rt, today=later))["802.11ax (Wi-Fi 6)"] == 9
    assert standards.recent(rt, today=later + timedelta(days=1)) == []
