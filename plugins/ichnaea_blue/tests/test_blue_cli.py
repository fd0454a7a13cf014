"""``ichnaea plugins list --json`` shows the blue plugin and what it registers."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ichnaea_host.cli.commands import cli


def test_plugins_list_shows_blue(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    blue = {p["name"]: p for p in json.loads(result.output)}["blue"]
    assert blue["distribution"] == "ichnaea-blue"
    assert blue["enabled"] and blue["error"] is None
    assert blue["registers"] == {"radios": ["blue"]}
    defaults = {s["env"]: s["default"] for s in blue["settings"]}
    assert defaults == {
        "ICHNAEA_BLUE__CLUSTER_METERS": 100.0,
        "ICHNAEA_BLUE__MAX_NETWORKS": 10,
        "ICHNAEA_BLUE__STATION_RANGE": 25.0,
        "ICHNAEA_BLUE__MIN_ACCURACY": 10.0,
        "ICHNAEA_BLUE__MAX_ACCURACY": 50.0,
        "ICHNAEA_BLUE__MOVING_METERS": 75.0,
        "ICHNAEA_BLUE__MOVING_HOURS": 24.0,
    }
