"""Logs stay clean: a day of traffic (submissions, keyed locates behind a
proxy, a fallback provider and Redis down, a cell import) writes every log
line at DEBUG level, and not one of them holds an API key in full, a client
address, a full MAC address or a submitted position at full precision."""

from __future__ import annotations

import gzip
import io
import logging
import re
import sys
from collections.abc import Iterator

import pytest
import structlog
from click.testing import CliRunner

from ichnaea_host.app import create_app
from ichnaea_host.cli.commands import cli
from ichnaea_host.core.log import configure_logging

KEY = "privkey-0123456789abcdef"
FALLBACK_KEY = "fallkey-fedcba9876543210"
PROVIDER_TOKEN = "providertoken-5a5a5a5a"
CLIENT_IP = "198.51.100.23"
PROXY_IP = "203.0.113.77"
IPV6 = "2001:db8:85a3::8a2e:370:7334"
MACS = ["3c:71:bf:12:34:56", "3c:71:bf:12:34:57", "3c:71:bf:12:34:58"]
BLUE = "d4:f5:13:ab:cd:ef"
LAT, LON = 48.8583701, 2.2944813
CELL_LAT, CELL_LON = 41.9028513, 12.4963655


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the process logs from now on, as ``ichnaea`` configures it
    (structlog and the standard library), at DEBUG level."""
    buffer = io.StringIO()
    saved = sys.stderr
    sys.stderr = buffer
    try:
        configure_logging("DEBUG")
        yield buffer
    finally:
        sys.stderr = saved
        structlog.reset_defaults()
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING, force=True)


def secrets() -> list[str]:
    """What must never appear, lower-cased, in the spellings a logger could use."""
    found = [KEY, FALLBACK_KEY, PROVIDER_TOKEN, CLIENT_IP, PROXY_IP, IPV6, "8a2e:370:7334"]
    for mac in [*MACS, BLUE]:
        bare = mac.replace(":", "")
        found += [mac, bare, mac.replace(":", "-"), str(int(bare, 16))]
    for value in (LAT, LON, CELL_LAT, CELL_LON):
        found += [repr(value), f"{value:.6f}", f"{value:.5f}"]
    return [s.lower() for s in found]


def report(i: int) -> dict:
    return {"timestamp": 1_700_000_000_000 + i,
            "position": {"latitude": LAT + i * 1e-7, "longitude": LON, "accuracy": 8.0,
                         "source": "gps"},
            "wifiAccessPoints": [{"macAddress": m, "signalStrength": -60, "ssid": "home"}
                                 for m in MACS],
            "bluetoothBeacons": [{"macAddress": BLUE, "signalStrength": -70}]}


def test_no_secret_in_any_log_line(make_runtime, api_key_factory, internal_export, drain,
                                   local_http_server, backend_uris, tmp_path, log_lines):
    rt = make_runtime()
    api_key_factory(KEY)
    local_http_server.respond = lambda req: (500, {}, b"provider trouble")
    api_key_factory(FALLBACK_KEY, allow_fallback=True, fallback_name="acme",
                    fallback_schema="ichnaea/v1",
                    fallback_url=f"{local_http_server.url}/v1/geolocate?key={PROVIDER_TOKEN}",
                    fallback_ratelimit=0, fallback_ratelimit_interval=60,
                    fallback_cache_expire=60)
    client = create_app(runtime=rt).test_client()
    behind_proxy = {"X-Forwarded-For": f"{CLIENT_IP}, {PROXY_IP}", "User-Agent": "test/1.0"}

    # submissions in the three formats, keyed and not
    assert client.post(f"/v2/geosubmit?key={KEY}", json={"items": [report(0), report(1)]},
                       headers=behind_proxy).status_code == 200
    flat = {"lat": LAT, "lon": LON, "accuracy": 8.0,
            "wifiAccessPoints": [{"macAddress": m} for m in MACS]}
    assert client.post("/v1/geosubmit", json={"items": [flat]},
                       headers={"X-Forwarded-For": IPV6}).status_code == 200
    v0 = {"items": [{"lat": LAT, "lon": LON, "wifi": [{"key": m} for m in MACS]}]}
    assert client.post(f"/v1/submit?key={KEY}", json=v0, headers=behind_proxy).status_code == 204
    drain()

    # locates: a hit, a miss, an unknown key, a fallback provider failing
    wifi = {"wifiAccessPoints": [{"macAddress": m, "signalStrength": -61} for m in MACS]}
    assert client.post(f"/v1/geolocate?key={KEY}", json=wifi,
                       headers=behind_proxy).status_code == 200
    unknown = {"wifiAccessPoints": [{"macAddress": "3c:71:bf:12:34:5a"},
                                    {"macAddress": "3c:71:bf:12:34:5b"}],
               "considerIp": False}
    assert client.post(f"/v1/geolocate?key={KEY}", json=unknown,
                       headers=behind_proxy).status_code == 404
    assert client.post(f"/v1/geolocate?key={KEY}x", json=wifi,
                       headers=behind_proxy).status_code == 400
    assert client.post(f"/v1/geolocate?key={FALLBACK_KEY}", json=unknown,
                       headers=behind_proxy).status_code == 404
    assert local_http_server.requests  # the provider was asked
    assert client.post(f"/v1/country?key={KEY}", json=wifi,
                       headers=behind_proxy).status_code in (200, 404)
    drain()

    # raw answers and the rate limits (429)
    api_key_factory(KEY, allow_raw=True)
    limited = create_app(runtime=make_runtime(locate_limit_ip=1, locate_limit_window=10**9,
                                              locate_limit_prefix=0)).test_client()
    first = limited.post(f"/v1/geolocate?key={KEY}", json=wifi, headers=behind_proxy)
    assert first.status_code == 200 and len(first.get_json()["raw"]) == 3
    assert limited.post(f"/v1/geolocate?key={KEY}", json=wifi,
                        headers=behind_proxy).status_code == 429

    # an outage: Redis down; submissions get 503, locates still answer
    down = create_app(runtime=make_runtime(redis_uri="redis://127.0.0.1:1/0")).test_client()
    assert down.post(f"/v2/geosubmit?key={KEY}", json={"items": [report(2)]},
                     headers=behind_proxy).status_code == 503
    assert down.post(f"/v1/geolocate?key={KEY}", json=wifi,
                     headers=behind_proxy).status_code == 200

    # a cell import, as the operator runs it
    db_uri, redis_uri = backend_uris
    export = tmp_path / "cells.csv.gz"
    export.write_bytes(gzip.compress((
        "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,"
        "averageSignal\r\n"
        f"LTE,222,10,5001,123456,250,{CELL_LON},{CELL_LAT},1000,3,1,1700000000,1700000000,\r\n"
        "LTE,222,10,5001,bad,250,x,y,1000,3,1,1700000000,1700000000,\r\n").encode()))
    result = CliRunner().invoke(cli, ["cells", "import", str(export)],
                                env={"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
                                     "ICHNAEA_VAR_DIR": str(tmp_path / "var"),
                                     "LOGGING_LEVEL": "DEBUG"})
    assert result.exit_code == 0, result.output
    assert "1 new" in result.output

    text = (log_lines.getvalue() + result.output + result.stderr).lower()
    lines = text.splitlines()
    assert any('"event": "request"' in line for line in lines)  # the lines were captured
    assert any("stations_updated" in line for line in lines)
    assert any("fallback_lookup" in line for line in lines)
    assert any("submit_queue_unavailable" in line for line in lines)
    assert any('"rate_limited"' in line for line in lines)
    leaks = [(secret, line) for secret in secrets() for line in lines if secret in line]
    assert leaks == []
    # no address of any kind, whatever its value
    assert not re.search(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b",
                         text.replace("127.0.0.1", ""))
