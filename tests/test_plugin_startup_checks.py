"""At start-up ``ichnaea serve``, ``worker`` and ``run`` say each plugin check
that is not ok in one log line (the GeoIP demo database, a GEOIP_PATH that is
missing or not a City database) and start anyway; ``ichnaea plugins list``
shows each plugin setting's value in effect beside its default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Processes, eventually, free_port, shared_servers, wait_port


def _redis_uri() -> str:
    return shared_servers(mysql=False)[1]


def _check_lines(log: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "plugin_check"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_says_a_missing_geoip_path_once_and_serves(tmp_path: Path, workers: str):
    missing = tmp_path / "GeoLite2-City.mmdb"
    procs = Processes(tmp_path, {"DB_READWRITE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                                 "REDIS_URI": _redis_uri(), "GEOIP_PATH": str(missing)})
    port = free_port()
    try:
        procs.cli("db", "upgrade")
        procs.spawn("web", "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", workers)
        wait_port(port)  # it starts: GeoIP answers are what is missing
        lines = eventually(lambda: _check_lines(procs.log("web")), timeout=10,
                           message=procs.logs())
        assert len(lines) == 1, lines
        assert lines[0]["check"] == "geoip" and lines[0]["level"] == "warning"
        assert lines[0]["message"].startswith(f"{missing} is missing")
        assert "GEOIP_PATH" in lines[0]["fix"]
    finally:
        procs.stop()


def test_worker_and_run_say_the_demo_database(tmp_path: Path):
    procs = Processes(tmp_path, {"DB_READWRITE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                                 "REDIS_URI": _redis_uri(),
                                 "ICHNAEA_PORT": str(free_port())})
    try:
        procs.cli("db", "upgrade")
        procs.spawn("worker", "worker")
        procs.spawn("run", "run")
        for name in ("worker", "run"):
            lines = eventually(lambda n=name: _check_lines(procs.log(n)), timeout=30,
                               message=procs.logs())
            assert [(line["check"], line["status"]) for line in lines] == [
                ("geoip", "warning")]
            assert lines[0]["message"].startswith("the demo database")
    finally:
        procs.stop()


def test_plugins_list_shows_values_in_effect(tmp_path: Path):
    procs = Processes(tmp_path, {})
    text = procs.cli("plugins", "list").stdout
    assert "setting GEOIP_PATH = ''  (default ''; " in text
    assert "empty: the demo database" in text
    path = str(tmp_path / "GeoLite2-City.mmdb")
    listed = json.loads(procs.cli("plugins", "list", "--json",
                                  env={"GEOIP_PATH": path}).stdout)
    geoip = next(p for p in listed if p["name"] == "geoip")
    setting = next(s for s in geoip["settings"] if s["env"] == "GEOIP_PATH")
    assert (setting["value"], setting["default"]) == (path, "")
