"""A web worker answering WiFi and IP locates never loads numpy (it is
imported on first use, for the region shapes and the rare distance matrix):
about 11 MiB less memory in every web process."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

SCRIPT = """
import sys
from ichnaea_host.app import create_app
from ichnaea_host.core import migrate
from ichnaea_host.core.models import ApiKeyRow
from ichnaea_host.plugins.runtime import Runtime

rt = Runtime()
migrate.upgrade(rt.db.rw, rt.plugins.migration_dirs)
ApiKeyRow.create(valid_key="test", maxreq=0, allow_fallback=False, allow_locate=True,
                 allow_region=True, store_sample_locate=100, store_sample_submit=100)
client = create_app(runtime=rt).test_client()
wifi = {"wifiAccessPoints": [{"macAddress": "a0b1c2d3e401"}, {"macAddress": "a0b1c2d3e502"}]}
statuses = [client.post("/v1/geolocate?key=test", json=wifi).status_code,
            client.get("/v1/geolocate?key=test",
                       headers={"X-Forwarded-For": "81.2.69.160"}).status_code,
            client.get("/__lbheartbeat__").status_code]
loaded = "numpy" in sys.modules and type(sys.modules["numpy"]).__name__ != "_LazyModule"
rt.close()  # stops the embedded Redis it started
print(statuses, loaded)
"""


def test_answering_wifi_and_ip_locates_leaves_numpy_unloaded(tmp_path: Any) -> None:
    env = {"ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "WARNING",
           "DB_READWRITE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    statuses, loaded = done.stdout.strip().splitlines()[-1].rsplit("] ", 1)
    assert statuses == "[404, 200, 200" and loaded == "False", done.stdout
