"""The privacy-safe WiFi dump, on both backends, seen from outside: networks
submitted through the API with their names (SSIDs), the pipeline run, the
dump written by its command or its daily job, and the file read as a user
would, with the README's own reader: a network is found by its address and
name, and by nothing else; no address is in the file in clear; the site's
/downloads page lists it."""

from __future__ import annotations

import gzip
import hashlib
import re
from datetime import datetime, timedelta
from pathlib import Path

import peewee
import pytest
from click.testing import CliRunner

from ichnaea_host.app import create_app
from ichnaea_host.cli.commands import cli
from ichnaea_host.core import migrate
from ichnaea_host.core.db import make_database
from ichnaea_host.core.files import exports_dir
from ichnaea_host.pipeline.tasks import drain as run_drain
from ichnaea_host.stations import utcnow
from ichnaea_wifi import dump
from ichnaea_wifi.models import MODEL
from ichnaea_wifi.settings import WifiSettings
from ichnaea_wifi.ssid import dump_key

README = Path(__file__).resolve().parents[3] / "README.md"

A, B, C, D, E = ("02:00:5e:20:00:0a", "02:00:5e:20:00:0b", "02:00:5e:20:00:0c",
                 "02:00:5e:20:00:0d", "02:00:5e:20:00:0e")


def bare(mac: str) -> str:
    return mac.replace(":", "")


def reader():
    """The reader example of the README, run as it is printed there."""
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    code = [b for b in blocks if "def find_network" in b]
    assert len(code) == 1, "the README has one reader example"
    space: dict = {}
    exec(compile(code[0], str(README), "exec"), space)  # noqa: S102 - our own README
    return space["find_network"]


def report(networks: dict[str, str | None], lat: float, lon: float) -> dict:
    entries = []
    for mac, ssid in networks.items():
        entry = {"macAddress": mac, "signalStrength": -60}
        if ssid is not None:
            entry["ssid"] = ssid
        entries.append(entry)
    return {"position": {"latitude": lat, "longitude": lon, "accuracy": 5.0, "source": "gps"},
            "wifiAccessPoints": entries}


@pytest.fixture
def service(make_runtime, api_key_factory, internal_export):
    """A runtime built now (after the test's environment is set), its client
    and a function submitting reports and running the pipeline."""
    def build():
        rt = make_runtime()
        api_key_factory("test")
        client = create_app(runtime=rt).test_client()

        def submit(networks: dict[str, str | None], lat: float = 46.95,
                   lon: float = 7.44) -> None:
            items = [report(networks, lat + i * 1e-4, lon) for i in range(2)]
            response = client.post("/v2/geosubmit?key=test", json={"items": items})
            assert response.status_code == 200, response.get_data(as_text=True)
            run_drain(rt)
        return rt, client, submit
    return build


@pytest.fixture
def invoke(backend_uris, tmp_path):
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
           "ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "WARNING"}
    return lambda *args: CliRunner().invoke(cli, list(args), env=env)


def stored(mac: str):
    return MODEL.get_or_none(MODEL.mac == bare(mac))


def test_dump_finds_a_network_by_bssid_and_ssid_only(service, invoke, tmp_path):
    rt, client, submit = service()
    submit({A: "Café Zentral", B: "cafe-guest", C: None, D: ""}, lat=46.95, lon=7.44)
    submit({E: "bakery"}, lat=47.37, lon=8.54)
    # the stations keep 4 bytes of the name's SHA-256, never the name
    assert stored(A).ssid_hash == hashlib.sha256("Café Zentral".encode()).digest()[:4].hex()
    assert stored(C).ssid_hash is None and stored(D).ssid_hash is None  # no name, hidden
    result = invoke("wifi", "dump", "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "Writing the WiFi dump" in result.output  # the progress bar's label
    assert "wrote 3 networks to" in result.output
    path = tmp_path / "out" / dump.dump_name(utcnow().date())
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode("ascii")
    lines = text.split("\n")
    assert lines[0] == "key,lat,lon,radius" and lines[-1] == ""
    rows = [line.split(",") for line in lines[1:-1]]
    assert len(rows) == 3 and [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert all(re.fullmatch(r"[0-9a-f]{32}", r[0]) for r in rows)

    assert dump_key(A, "Café Zentral") in {r[0] for r in rows}  # the plugin's own key
    find = reader()
    station = stored(A)
    found = find(path, A, "Café Zentral")
    assert found == (round(station.lat, 6), round(station.lon, 6), station.radius)
    assert abs(found[0] - 46.95005) < 1e-4 and abs(found[1] - 7.44) < 1e-4
    assert find(path, "02-00-5E-20-00-0E", "bakery")[:2] == (
        round(stored(E).lat, 6), round(stored(E).lon, 6))
    # a wrong name, a name of another network, the address alone: nothing
    for bssid, ssid in ((A, "Cafe Zentral"), (A, "café zentral"), (A, "cafe-guest"),
                        (A, ""), (B, "Café Zentral"), (C, ""), (D, "")):
        assert find(path, bssid, ssid) is None, (bssid, ssid)
    # no address in clear, in any of its forms, nor a name
    plain = text.lower()
    for mac in (A, B, C, D, E):
        for form in (bare(mac), mac, mac.replace(":", "-")):
            assert form not in plain
        assert bytes.fromhex(bare(mac)) not in gzip.decompress(raw)
    for ssid in ("café", "cafe", "bakery"):
        assert ssid not in plain


def test_the_last_name_counts_and_a_report_without_one_keeps_it(service, tmp_path):
    rt, client, submit = service()
    submit({A: "cafe", B: "cafe-guest"})
    submit({A: "bistro"})  # renamed
    submit({A: None, B: None})  # seen without a name (an older client)
    find = reader()
    path = Path(dump.write_dump(rt, WifiSettings(), output=tmp_path)[0])
    assert find(path, A, "bistro") is not None
    assert find(path, A, "cafe") is None
    assert find(path, B, "cafe-guest") is not None


def test_blocked_opted_out_and_old_networks_are_left_out(service, tmp_path):
    rt, client, submit = service()
    submit({A: "cafe", B: "moved", C: "old"})
    submit({D: "Home_nomap", E: "AndroidAP_1234"})  # opted out, a phone hotspot
    today = utcnow().date()
    # B is blocked (it moved) with its position kept, C was last seen long ago
    MODEL.update(block_last=today, block_count=1).where(MODEL.mac == bare(B)).execute()
    MODEL.update(last_seen=today - timedelta(days=400)).where(
        MODEL.mac == bare(C)).execute()
    path = Path(dump.write_dump(rt, WifiSettings(), output=tmp_path)[0])
    find = reader()
    assert find(path, A, "cafe") is not None
    for bssid, ssid in ((B, "moved"), (C, "old"), (D, "Home_nomap"), (E, "AndroidAP_1234")):
        assert find(path, bssid, ssid) is None, ssid
    assert gzip.decompress(path.read_bytes()).count(b"\n") == 2  # the header and A


def test_daily_job_and_the_downloads_page(service, monkeypatch):
    rt, client, submit = service()
    submit({A: "cafe", B: "cafe-guest"})
    job = rt.plugins.periodic_jobs["wifi_dump"]
    day = utcnow().date()
    late = datetime(day.year, day.month, day.day, 1, 7)
    folder = exports_dir(rt)
    rt.run_job(job)
    dump.run(rt, rt.plugins.settings_for("wifi"), late)
    assert not folder.exists() or not list(folder.iterdir())  # off by default
    page = client.get("/downloads").get_data(as_text=True)
    assert "WiFi Networks" in page and "No WiFi dump published." in page

    monkeypatch.setenv("ICHNAEA_WIFI__DUMP", "true")
    rt, client, submit = service()
    submit({A: "cafe", B: "cafe-guest"})
    dump.run(rt, rt.plugins.settings_for("wifi"), late - timedelta(seconds=1))  # too early
    assert not folder.exists() or not list(folder.iterdir())
    calls = []
    real = dump.write_dump
    monkeypatch.setattr(dump, "write_dump", lambda *a, **k: calls.append(1) or real(*a, **k))
    dump.run(rt, rt.plugins.settings_for("wifi"), late)
    dump.run(rt, rt.plugins.settings_for("wifi"), late + timedelta(hours=5))  # once a day
    name = dump.dump_name(day)
    assert calls == [1] and sorted(p.name for p in folder.iterdir()) == [name]
    assert reader()(folder / name, A, "cafe") is not None
    # listed in its own section, downloadable; not among the cell exports
    rt.redis.delete("cache:downloads:3")
    page = client.get("/downloads").get_data(as_text=True)
    listed = re.search(r'<ul class="files" id="wifi-dump-files">(.*?)</ul>', page, re.DOTALL)
    assert listed is not None and name in listed.group(1)
    assert "No WiFi dump published." not in page
    assert name not in page.split('id="wifi-dump-files"')[0]
    href = re.search(r'href="([^"]*' + re.escape(name) + ')"', listed.group(1)).group(1)
    response = client.get(href)
    assert response.status_code == 200
    assert response.data == (folder / name).read_bytes()


def test_without_the_wifi_plugin_the_page_has_no_wifi_section(make_runtime):
    rt = make_runtime(plugins_disabled=["wifi"])
    page = create_app(runtime=rt).test_client().get("/downloads")
    assert page.status_code == 200 and "WiFi Networks" not in page.get_data(as_text=True)


@pytest.fixture
def own_database(backend, backend_uris, tmp_path):
    """An empty database of its own, to migrate step by step."""
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'wifi.sqlite'}"
    else:
        uri = backend_uris[0].split("?")[0] + "_wifi_004"
    database = make_database(uri, create=True)
    if backend != "sqlite":
        name = database.database
        database.execute_sql(f"DROP DATABASE IF EXISTS `{name}`")
        database.execute_sql(f"CREATE DATABASE `{name}`")
        database.execute_sql(f"USE `{name}`")
    yield database
    if backend != "sqlite":
        database.execute_sql(f"DROP DATABASE `{database.database}`")
    database.close()


def test_migration_004_adds_and_drops_the_column(make_runtime, own_database):
    dirs = {d.namespace: d for d in make_runtime().plugins.migration_dirs}
    database = own_database
    router = migrate.NamespacedRouter(database, "wifi", dirs["wifi"].path)
    router.run("002_one_table")
    mark = "%s" if isinstance(database, peewee.MySQLDatabase) else "?"
    database.execute_sql(f"INSERT INTO wifi (mac, lat, lon) VALUES ({mark}, 1.5, 2.5)",
                         [bytes.fromhex("c0ffee000001")])
    router.run()
    assert "004_ssid_hash" in router.done
    columns = {c.name: c for c in database.get_columns("wifi")}
    assert "ssid_hash" in columns
    row = database.execute_sql("SELECT lat, ssid_hash FROM wifi").fetchone()
    assert row == (1.5, None)
    database.execute_sql(f"UPDATE wifi SET ssid_hash = {mark}", [b"\x01\x02\x03\x04"])
    router.rollback()
    assert "ssid_hash" not in {c.name for c in database.get_columns("wifi")}
    assert database.execute_sql("SELECT lat FROM wifi").fetchone() == (1.5,)
