"""The cell plugin is installed and discovered through its entry point."""

from ichnaea_host.core.settings import Settings
from ichnaea_host.plugins.manager import build_plugin_host


def test_discovered_and_enabled():
    host = build_plugin_host(Settings.from_env({}), strict=True)
    info = {i.name: i for i in host.plugin_list()}["cell"]
    assert info.distribution == "ichnaea-cell"
    assert info.enabled and info.error is None
