"""The export_geosubmit plugin is discovered through its entry point and
registers the ``geosubmit`` exporter and its settings."""

import subprocess
import sys

from ichnaea_host.core.settings import Settings
from ichnaea_host.plugins.manager import build_plugin_host


def test_discovered_and_enabled():
    host = build_plugin_host(Settings.from_env({}), strict=True)
    info = {i.name: i for i in host.plugin_list()}["export_geosubmit"]
    assert info.distribution == "ichnaea-export-geosubmit"
    assert info.enabled and info.error is None
    assert info.registers == {"exporters": ["geosubmit"]}
    assert host.exporters()["geosubmit"].PARTITIONED is False
    assert [s["env"] for s in info.settings] == ["ICHNAEA_EXPORT_GEOSUBMIT__TIMEOUT"]


def test_hooks_module_imports_nothing_heavy():
    code = (
        "import sys\n"
        "import ichnaea_export_geosubmit.hooks\n"
        "assert 'requests' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
