"""The fallback plugin is installed and discovered through its entry point."""

from ichnaea_host.plugins import build_plugin_host
from ichnaea_host.settings import Settings


def test_discovered_and_enabled():
    host = build_plugin_host(Settings.from_env({}), strict=True)
    info = {i.name: i for i in host.plugin_list()}["fallback"]
    assert info.distribution == "ichnaea-fallback"
    assert info.enabled and info.error is None
