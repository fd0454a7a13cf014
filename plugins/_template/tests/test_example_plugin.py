"""The example plugin is discovered, and exports submitted reports to files."""

from __future__ import annotations

import json

from ichnaea_host.core.models import ExportConfig


def test_discovered(runtime):
    info = {i.name: i for i in runtime.plugins.plugin_list()}["example"]
    assert info.distribution == "ichnaea-example"
    assert info.registers == {"exporters": ["example"]}
    assert info.settings[0]["env"] == "ICHNAEA_EXAMPLE__FOLDER"


def test_submitted_reports_arrive_in_files(make_runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("ICHNAEA_EXAMPLE__FOLDER", str(tmp_path / "out"))
    rt = make_runtime()
    from ichnaea_host.app import create_app
    from ichnaea_host.pipeline.tasks import drain

    ExportConfig.create(name="files", schema="example", batch=0)
    client = create_app(runtime=rt).test_client()
    report = {"position": {"latitude": 51.5, "longitude": -0.1},
              "wifiAccessPoints": [{"macAddress": "a1b2c3d4e5f6", "ssid": "cafe"}]}
    assert client.post("/v2/geosubmit", json={"items": [report, report]}).status_code == 200
    drain(rt)
    files = list((tmp_path / "out" / "files").glob("*.jsonl"))
    assert len(files) == 1
    lines = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0]["wifiAccessPoints"][0]["ssid"] == "cafe"
