"""The ichnaea command: database, API keys, exports, plugins, process."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ichnaea_host.cli.commands import cli


@pytest.fixture
def invoke(runtime, backend_uris, tmp_path):
    """Run the CLI against the test databases, as an operator would through env vars."""
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
           "ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "WARNING"}

    def run(*args):
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        return result

    return run


def test_db_upgrade_and_status(invoke):
    result = invoke("db", "upgrade")
    assert result.exit_code == 0
    assert "up to date (0 migration(s) applied)" in result.output
    status = json.loads(invoke("db", "status", "--json").output)
    by_ns = {s["namespace"]: s for s in status}
    assert by_ns["host"]["pending"] == [] and by_ns["wifi"]["pending"] == []
    assert by_ns["wifi"]["done"][:2] == ["001_initial", "002_one_table"]
    assert by_ns["wifi"]["done"][-1] == "004_ssid_hash"


def test_db_upgrade_creates_the_internal_export_when_there_is_none(invoke):
    relay = invoke("db", "upgrade", "--no-internal-export")
    assert relay.exit_code == 0 and "created the export" not in relay.output
    assert json.loads(invoke("export", "list", "--json").output) == []
    first = invoke("db", "upgrade")
    assert first.exit_code == 0
    assert "created the export 'internal': the workers learn stations" in first.output
    exports = json.loads(invoke("export", "list", "--json").output)
    assert [(e["name"], e["schema"]) for e in exports] == [("internal", "internal")]
    assert "created the export" not in invoke("db", "upgrade").output  # once


def test_reports_without_an_export_are_kept(invoke, runtime, client, api_key):
    body = {"items": [{"position": {"latitude": 51.5, "longitude": -0.1},
                       "wifiAccessPoints": [{"macAddress": "02:00:5e:31:00:01"},
                                            {"macAddress": "02:00:5e:31:00:02"}]}]}
    assert client.post(f"/v2/geosubmit?key={api_key}", json=body).status_code == 200
    kept = invoke("process")
    assert kept.exit_code == 0
    assert "1 incoming reports kept: there is no export" in kept.output
    assert runtime.queue("update_incoming").size() == 1
    invoke("export", "add", "internal", "--schema", "internal")
    assert "update_wifi" in invoke("process").output
    assert runtime.queue("update_incoming").size() == 0


def test_apikey_create_list_show(invoke):
    result = invoke("apikey", "create", "my-key", "--maxreq", "0", "--allow-fallback", "true",
                    "--store-sample-locate", "50")
    assert result.exit_code == 0, result.output
    assert "Created API key: 'my-key'" in result.output
    assert invoke("apikey", "create", "my-key").exit_code == 1
    shown = invoke("apikey", "show", "my-key").output
    assert "allow_fallback: True" in shown and "store_sample_locate: 50" in shown
    assert "maxreq: 0" in shown
    listed = json.loads(invoke("apikey", "list", "--json").output)
    assert [k["valid_key"] for k in listed] == ["my-key"]
    assert invoke("apikey", "show", "nope").exit_code == 1


def test_apikey_defaults_and_bad_input(invoke):
    assert invoke("apikey", "create", "plain").exit_code == 0
    shown = invoke("apikey", "show", "plain").output
    assert "maxreq: 100" in shown and "allow_locate: True" in shown
    bad = invoke("apikey", "create", "x!")
    assert bad.exit_code == 2 and "invalid API key" in bad.output
    bad = invoke("apikey", "create", "k2", "--allow-locate", "maybe")
    assert bad.exit_code == 2
    bad = invoke("apikey", "create", "key3", "--fallback-schema", "nonesuch/v9")
    assert bad.exit_code == 2 and "unknown fallback schema" in bad.output


def test_created_key_locates(invoke, client):
    invoke("apikey", "create", "cli-key", "--maxreq", "0")
    response = client.get("/v1/geolocate?key=cli-key", headers={"X-Forwarded-For": "126.0.0.9"})
    assert response.status_code == 200
    assert response.get_json()["location"] == {"lat": 35.6895, "lng": 139.6917}


def test_export_add_and_list(invoke):
    result = invoke("export", "add", "mirror", "--schema", "dummy", "--batch", "10",
                    "--skip-keys", "a,b")
    assert result.exit_code == 0, result.output
    rows = json.loads(invoke("export", "list", "--json").output)
    assert rows == [{"name": "mirror", "schema": "dummy", "batch": 10, "url": None,
                     "skip_keys": "a,b", "skip_sources": None}]
    bad = invoke("export", "add", "x", "--schema", "carrier-pigeon")
    assert bad.exit_code == 2 and "unknown export schema" in bad.output


def test_plugins_list_json(invoke):
    data = json.loads(invoke("plugins", "list", "--json").output)
    by_name = {p["name"]: p for p in data}
    assert by_name["wifi"]["distribution"] == "ichnaea-wifi"
    assert by_name["wifi"]["registers"]["radios"] == ["wifi"]
    assert any(s["env"] == "ICHNAEA_WIFI__CLUSTER_METERS" for s in by_name["wifi"]["settings"])
    assert by_name["geoip"]["settings"][0]["env"] == "GEOIP_PATH"


def test_process_drains_the_queues(invoke, client, api_key, internal_export, runtime):
    body = {"items": [{"position": {"latitude": 40.0, "longitude": -74.0},
                       "wifiAccessPoints": [{"macAddress": "aa0000000001"},
                                            {"macAddress": "aa0000000002"}]}]}
    client.post(f"/v2/geosubmit?key={api_key}", json=body)
    result = invoke("process")
    assert result.exit_code == 0
    assert "update_incoming" in result.output and "update_wifi" in result.output
    assert "nothing waiting" in invoke("process").output
    assert runtime.queue("update_incoming").size() == 0
