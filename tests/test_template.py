"""The plugin template works: copied to a new place, built, installed,
discovered, used (its exporter and its radio)."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).parents[1] / "plugins" / "_template"


@pytest.mark.slow
def test_plugin_from_the_template(tmp_path, monkeypatch, make_runtime, backend, api_key_factory):
    if backend != "sqlite":
        pytest.skip("building and installing the template once is enough")
    source = tmp_path / "ichnaea-example"
    shutil.copytree(TEMPLATE, source)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(source)],
                   check=True, capture_output=True)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setenv("ICHNAEA_EXAMPLE__FOLDER", str(tmp_path / "out"))
    monkeypatch.setenv("ICHNAEA_EXAMPLE__LANDMARKS", "hall=1.5,2.5")

    rt = make_runtime()
    info = {i.name: i for i in rt.plugins.plugin_list()}["example"]
    assert (info.distribution, info.enabled) == ("ichnaea-example", True)
    assert info.registers == {"exporters": ["example"], "radios": ["example"]}

    from ichnaea_host.app import create_app
    from ichnaea_host.core.models import ExportConfig
    from ichnaea_host.pipeline.tasks import drain

    ExportConfig.create(name="files", schema="example", batch=0)
    client = create_app(runtime=rt).test_client()
    report = {"position": {"latitude": 1.5, "longitude": 2.5},
              "wifiAccessPoints": [{"macAddress": "a1b2c3d4e5f6"}]}
    assert client.post("/v2/geosubmit", json={"items": [report]}).status_code == 200
    drain(rt)
    assert len(list((tmp_path / "out" / "files").glob("*.jsonl"))) == 1

    # its radio answers a query naming its landmark
    key = api_key_factory()
    answer = client.post(f"/v1/geolocate?key={key}",
                         json={"considerIp": False, "exampleLandmarks": [{"id": "hall"}]})
    assert answer.get_json() == {"location": {"lat": 1.5, "lng": 2.5}, "accuracy": 25.0}

    # the template's own tests pass against the installed copy
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(source / "tests")],
        env={**_env(site), "ICHNAEA_TEST_BACKENDS": "sqlite"},
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:]


def _env(site: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env
