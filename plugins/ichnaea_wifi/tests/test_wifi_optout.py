"""Networks kept out of the service's data by their name: the owner's opt-out
(``_nomap``, ``_optout``) and networks that travel (train, coach and phone
hotspot names, ``ICHNAEA_WIFI__MOVING_SSIDS``). Seen from outside: a
submitted network that is excluded never answers a geolocate, and one
learned before stops answering once a report names it excluded."""

from __future__ import annotations

import gzip
import json

import pytest
from click.testing import CliRunner

from ichnaea_host.app import create_app
from ichnaea_host.cli.commands import cli
from ichnaea_host.pipeline.tasks import drain as run_drain

A, B, C, D = "02:00:5e:10:00:0a", "02:00:5e:10:00:0b", "02:00:5e:10:00:0c", "02:00:5e:10:00:0d"
NOWHERE = {"X-Forwarded-For": "192.0.2.1"}


def report(networks: dict[str, str | None], i: int = 0) -> dict:
    entries = []
    for mac, ssid in networks.items():
        entry = {"macAddress": mac, "signalStrength": -60}
        if ssid is not None:
            entry["ssid"] = ssid
        entries.append(entry)
    return {"position": {"latitude": 46.95 + i * 1e-4, "longitude": 7.44, "accuracy": 5.0,
                         "source": "gps"},
            "wifiAccessPoints": entries}


def submit(client, drain, networks: dict[str, str | None]) -> None:
    items = [report(networks, i) for i in range(2)]
    assert client.post("/v2/geosubmit?key=test", json={"items": items}).status_code == 200
    drain()


def located(client, *macs: str) -> bool:
    body = {"wifiAccessPoints": [{"macAddress": m} for m in macs], "considerIp": False}
    response = client.post("/v1/geolocate?key=test", json=body, headers=NOWHERE)
    assert response.status_code in (200, 404)
    return response.status_code == 200


@pytest.fixture
def service(make_runtime, api_key_factory, internal_export):
    """A client and the pipeline of a runtime built now (after the test's
    environment is set)."""
    def build():
        rt = make_runtime()
        api_key_factory("test")
        return create_app(runtime=rt).test_client(), lambda: run_drain(rt)
    return build


@pytest.mark.parametrize("ssid", ["Home_nomap", "Home_nomap_5G", "flat_OptOut", "_optout"])
def test_opted_out_network_is_never_learned(service, ssid):
    client, drain = service()
    submit(client, drain, {A: "cafe", B: "cafe-guest", C: ssid, D: ssid})
    assert located(client, A, B)
    assert not located(client, C, D)
    assert not located(client, A, C)


def test_learned_station_is_removed_when_its_owner_opts_out(service):
    client, drain = service()
    submit(client, drain, {A: "cafe", B: "cafe-guest", C: "Home"})
    assert located(client, A, C)
    # the owner renames the network; the next report removes the station
    submit(client, drain, {C: "Home_nomap"})
    assert not located(client, A, C)
    assert located(client, A, B)
    # and it is not learned again, even when other reports in the batch name it plainly
    items = [report({A: "cafe", C: "Home"}), report({C: "Home_nomap"})]
    assert client.post("/v2/geosubmit?key=test", json={"items": items}).status_code == 200
    drain()
    assert not located(client, A, C)


def test_hidden_and_unnamed_networks_are_learned(service):
    client, drain = service()
    submit(client, drain, {A: "", B: None, C: "nomap"})  # no marker: no opt-out
    assert located(client, A, B)
    assert located(client, B, C)


@pytest.mark.parametrize("ssid", ["WIFIonICE", "wifionice", "OEBB", "SBB-FREE", "Amtrak_WiFi",
                                  "FlixBus Free WiFi", "Anna's iPhone", "iPhone de Marie",
                                  "Galaxy S21 5G", "AndroidAP_5f2a"])
def test_moving_networks_are_never_learned(service, ssid):
    client, drain = service()
    submit(client, drain, {A: "cafe", B: "cafe-guest", C: ssid, D: ssid})
    assert located(client, A, B)
    assert not located(client, C, D)


def test_moving_network_learned_before_is_removed(service):
    client, drain = service()
    submit(client, drain, {A: "cafe", B: "cafe-guest", C: "cafe-staff"})
    assert located(client, A, C)
    submit(client, drain, {C: "AndroidAP3f2a"})  # the address now serves a phone's hotspot
    assert not located(client, A, C)


def test_names_like_moving_ones_are_learned(service):
    client, drain = service()
    # only whole names match: a pattern without * is the whole name
    submit(client, drain, {A: "OEBB Lounge", B: "Milky Galaxy", C: "xAndroidAP"})
    assert located(client, A, B)
    assert located(client, B, C)


def test_operator_replaces_the_moving_list(service, monkeypatch):
    monkeypatch.setenv("ICHNAEA_WIFI__MOVING_SSIDS", "Bus-*,*Tram")
    client, drain = service()
    submit(client, drain, {A: "Bus-42", B: "City Tram", C: "WIFIonICE", D: "cafe"})
    assert not located(client, A, B)
    assert located(client, C, D)  # no longer on the list


def test_moving_list_is_shown_and_checked(runtime, backend_uris, tmp_path):
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
           "ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "INFO"}
    result = CliRunner().invoke(cli, ["plugins", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    wifi = {p["name"]: p for p in json.loads(result.stdout)}["wifi"]
    moving = {s["env"]: s for s in wifi["settings"]}["ICHNAEA_WIFI__MOVING_SSIDS"]
    assert "WIFIonICE" in moving["default"] and "*iPhone*" in moving["default"]
    bad = CliRunner().invoke(cli, ["plugins", "list"],
                             env={**env, "ICHNAEA_WIFI__MOVING_SSIDS": "Bus,**"})
    assert bad.exit_code != 0
    assert "ICHNAEA_WIFI__MOVING_SSIDS" in bad.output


def test_opted_out_networks_are_not_forwarded(service, local_http_server):
    from ichnaea_host.core.models import ExportConfig

    client, drain = service()
    ExportConfig.create(name="upstream", batch=0, schema="geosubmit",
                        url=f"{local_http_server.url}/v2/geosubmit")
    submit(client, drain, {A: "cafe", B: "Home_nomap", C: "WIFIonICE", D: None})
    sent = [e["macAddress"] for r in local_http_server.requests
            for item in json.loads(gzip.decompress(r.body))["items"]
            for e in item["wifiAccessPoints"]]
    assert sent and set(sent) == {A, C, D}  # moving networks are no secret
    assert located(client, A, D)
    assert not located(client, B, C)
