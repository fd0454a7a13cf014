"""The example plugin is discovered, exports submitted reports to files and
answers geolocate queries naming its landmarks."""

from __future__ import annotations

import json

from ichnaea_host.core.models import ExportConfig


def test_discovered(runtime):
    info = {i.name: i for i in runtime.plugins.plugin_list()}["example"]
    assert info.distribution == "ichnaea-example"
    assert info.registers == {"exporters": ["example"], "radios": ["example"]}
    assert [s["env"] for s in info.settings] == ["ICHNAEA_EXAMPLE__FOLDER",
                                                 "ICHNAEA_EXAMPLE__LANDMARKS"]


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


def test_the_radio_answers_from_its_landmarks(make_runtime, api_key_factory, monkeypatch):
    monkeypatch.setenv("ICHNAEA_EXAMPLE__LANDMARKS", "hall=51.5,-0.1; door=51.502,-0.1")
    rt = make_runtime()
    from ichnaea_host.app import create_app
    from ichnaea_host.pipeline.tasks import drain

    key = api_key_factory()
    ExportConfig.create(name="internal", schema="internal", batch=0)
    client = create_app(runtime=rt).test_client()
    query = {"considerIp": False,
             "exampleLandmarks": [{"id": "hall", "signalStrength": "-70"}, {"id": "door"},
                                  {"id": "hall"}, {"id": "elsewhere"}]}
    answer = client.post(f"/v1/geolocate?key={key}", json=query).get_json()
    assert answer == {"location": {"lat": 51.501, "lng": -0.1}, "accuracy": 25.0}
    # an unknown landmark alone is no answer
    missing = client.post(f"/v1/geolocate?key={key}",
                          json={"considerIp": False, "exampleLandmarks": [{"id": "elsewhere"}]})
    assert missing.status_code == 404
    # reports naming landmarks are taken, and the radio learns nothing from them
    report = {"position": {"latitude": 51.5, "longitude": -0.1},
              "exampleLandmarks": [{"id": "hall"}]}
    assert client.post(f"/v2/geosubmit?key={key}", json={"items": [report]}).status_code == 200
    runs = drain(rt)
    assert runs["export_reports"] >= 1 and "update_example" not in runs


def test_landmarks_are_checked_at_start(make_runtime, monkeypatch):
    import pytest

    from ichnaea_host import ConfigError

    monkeypatch.setenv("ICHNAEA_EXAMPLE__LANDMARKS", "hall=51.5")
    with pytest.raises(ConfigError, match="ICHNAEA_EXAMPLE__LANDMARKS"):
        make_runtime()
