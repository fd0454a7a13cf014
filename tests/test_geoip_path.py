"""GEOIP_PATH in a running service: the heartbeat says which database answers
(the demo one or the configured file's type), a file replaced under a running
``ichnaea serve`` answers without a restart, and an unusable file is named
with what is wrong with it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ichnaea_host.app import create_app
from tests.servers import Processes, eventually, free_port, shared_servers, wait_port

LONDON_IP = "81.2.69.160"
HERE = [{"networks": ["81.2.69.0/24"], "country": "GB", "location": [51.5, -0.12, 10]}]
THERE = [{"networks": ["81.2.69.0/24"], "country": "GB", "location": [52.2, 0.12, 10]}]


def write_mmdb(path: Path, database_type: str, records: list[dict[str, Any]]) -> Path:
    """A tiny MaxMind-format database: each record's networks answer its location."""
    from mmdb_writer import MmdbF64, MmdbU16, MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type,
                        languages=["en"], description={"en": "test database"})
    for rec in records:
        lat, lon, radius = rec["location"]
        country = {"iso_code": rec["country"], "names": {"en": rec["country"]}}
        writer.insert_network(IPSet(rec["networks"]), {
            "country": country,
            "location": {"latitude": MmdbF64(lat), "longitude": MmdbF64(lon),
                         "accuracy_radius": MmdbU16(radius)}})
    writer.to_db_file(str(path))
    return path


def client_for(rt: Any) -> Any:
    app = create_app(runtime=rt)
    app.testing = True
    return app.test_client()


def heartbeat_geoip(client: Any) -> dict[str, Any]:
    return client.get("/__heartbeat__").get_json()["geoip"]


def test_heartbeat_says_the_demo_database_answers(client):
    geoip = heartbeat_geoip(client)
    assert geoip["database"] == "demo"
    # the original's four fields are all still there
    assert {"up", "time", "age_in_days", "version"} <= set(geoip)


def test_heartbeat_names_the_configured_database(make_runtime, tmp_path, monkeypatch):
    path = write_mmdb(tmp_path / "city.mmdb", "GeoLite2-City", HERE)
    monkeypatch.setenv("GEOIP_PATH", str(path))
    geoip = heartbeat_geoip(client_for(make_runtime()))
    assert geoip["up"] is True and geoip["database"] == "GeoLite2-City"

    monkeypatch.setenv("GEOIP_PATH", str(tmp_path / "gone.mmdb"))
    geoip = heartbeat_geoip(client_for(make_runtime()))
    assert geoip["up"] is False and geoip["database"] is None


@pytest.mark.parametrize("kind", ["missing", "folder", "not-maxmind", "country"])
def test_an_unusable_file_is_named_with_what_is_wrong(make_runtime, tmp_path, monkeypatch,
                                                      kind):
    from ichnaea_host.cli.doctor import plugin_checks

    path = tmp_path / "city.mmdb"
    if kind == "folder":
        path.mkdir()
    elif kind == "not-maxmind":
        path.write_bytes(b"<html>404 Not Found</html>" * 50)  # a failed download
    elif kind == "country":
        write_mmdb(path, "GeoLite2-Country", HERE)
    monkeypatch.setenv("GEOIP_PATH", str(path))
    result = next(r for r in plugin_checks(make_runtime()) if r.name == "geoip")
    assert result.status == "FAIL"
    expected = {"missing": f"{path} is missing",
                "folder": f"{path} is a folder, not a database file",
                "not-maxmind": f"{path} is not a MaxMind-format database",
                "country": f"{path} is a GeoLite2-Country database, not a City one"}[kind]
    assert result.message.startswith(expected), result.message
    assert "GEOIP_PATH" in result.fix


# ---------------------------------------------------------------------------
# a running ichnaea serve


def _redis_uri() -> str:
    return shared_servers(mysql=False)[1]


def _get(url: str, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_a_file_replaced_under_a_running_server_answers_without_restart(tmp_path: Path):
    path = tmp_path / "GeoLite2-City.mmdb"
    write_mmdb(path, "GeoLite2-City", HERE)
    port = free_port()
    procs = Processes(tmp_path, {"DB_READWRITE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                                 "REDIS_URI": _redis_uri(), "GEOIP_PATH": str(path)})
    try:
        procs.cli("db", "upgrade")
        procs.cli("apikey", "create", "geoip-path-key")
        procs.spawn("web", "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", "2")
        wait_port(port)
        url = f"http://127.0.0.1:{port}/v1/geolocate?key=geoip-path-key"

        def where() -> Any:
            status, body = _get(url, **{"X-Forwarded-For": LONDON_IP})
            return body["location"] if status == 200 else status

        assert where() == {"lat": 51.5, "lng": -0.12}
        status, heartbeat = _get(f"http://127.0.0.1:{port}/__heartbeat__")
        assert heartbeat["geoip"]["database"] == "GeoLite2-City"

        # geoipupdate's way: a new file written beside it and renamed over it
        update = write_mmdb(tmp_path / "GeoLite2-City.mmdb.new", "GeoLite2-City", THERE)
        update.replace(path)
        # both web processes answer from the new file, without a restart
        eventually(lambda: all(where() == {"lat": 52.2, "lng": 0.12} for _ in range(6)),
                   timeout=15, message="the replaced file never answered\n" + procs.logs())

        # a broken update (a failed download moved into place): GeoIP answers
        # stop, the service keeps running, and the error names the file
        broken = tmp_path / "GeoLite2-City.mmdb.new"
        broken.write_bytes(b"<html>502 Bad Gateway</html>" * 50)
        broken.replace(path)
        eventually(lambda: where() == 404, timeout=15,
                   message="the broken file still answered\n" + procs.logs())
        eventually(lambda: f"{path} is not a MaxMind-format database" in procs.log("web"),
                   timeout=5, message=procs.logs())
        assert _get(f"http://127.0.0.1:{port}/__heartbeat__")[0] == 503
        # ... and the next good file is picked up again
        update = write_mmdb(tmp_path / "GeoLite2-City.mmdb.new", "GeoLite2-City", HERE)
        update.replace(path)
        eventually(lambda: where() == {"lat": 51.5, "lng": -0.12}, timeout=15,
                   message="the repaired file never answered\n" + procs.logs())
    finally:
        procs.stop()
