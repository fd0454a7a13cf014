"""Coverage vector tiles for apps: the TileJSON and its Mapbox Vector Tiles.

Stations are learnt through the API and the pipeline (WiFi in Berlin, cells in
London, Bluetooth beacons in Paris), the worker's job reads them into the
grid, and the tiles are fetched and decoded as a client would.
"""

from __future__ import annotations

import gzip
import math
from datetime import timedelta

import mapbox_vector_tile
import pytest
from click.testing import CliRunner

from ichnaea_host.cli.commands import cli
from ichnaea_host.core.clock import today_utc
from ichnaea_host.site import coverage

BERLIN = (52.5200, 13.4050)
LONDON = (51.5072, -0.1276)
PARIS = (48.8566, 2.3522)
EXTENT = 4096


def tile_of(lat: float, lon: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def reports() -> list[dict]:
    items = []
    for n in range(4):
        d = n * 2e-4
        items.append({"position": {"latitude": BERLIN[0] + d, "longitude": BERLIN[1],
                                   "accuracy": 5.0, "source": "gps"},
                      "wifiAccessPoints": [{"macAddress": f"02:aa:00:00:00:{k:02x}",
                                            "signalStrength": -60} for k in range(3)]})
        items.append({"position": {"latitude": LONDON[0] + d, "longitude": LONDON[1],
                                   "accuracy": 5.0, "source": "gps"},
                      "cellTowers": [{"radioType": "lte", "mobileCountryCode": 234,
                                      "mobileNetworkCode": 15, "locationAreaCode": 7,
                                      "cellId": 1000 + k, "signalStrength": -80}
                                     for k in range(2)]})
        items.append({"position": {"latitude": PARIS[0] + d, "longitude": PARIS[1],
                                   "accuracy": 5.0, "source": "gps"},
                      "bluetoothBeacons": [{"macAddress": f"02:bb:00:00:00:{k:02x}",
                                            "signalStrength": -70} for k in range(2)]})
    return items


@pytest.fixture
def learnt(runtime, client, api_key, internal_export, drain):
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": reports()})
    assert response.status_code == 200
    drain()
    return runtime


def fetch_tile(client, zoom: int, lat: float, lon: float, **headers) -> dict:
    x, y = tile_of(lat, lon, zoom)
    response = client.get(f"/tiles/coverage/{zoom}/{x}/{y}.pbf",
                          headers={"Accept-Encoding": "gzip", **headers})
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    assert response.headers["Content-Encoding"] == "gzip"
    return mapbox_vector_tile.decode(gzip.decompress(response.data),
                                     default_options={"y_coord_down": True})


def test_before_the_first_grid_the_tiles_are_empty(runtime, client):
    doc = client.get("/tiles/coverage.json").get_json()
    assert [layer["id"] for layer in doc["vector_layers"]] == ["blue", "cell", "wifi"]
    assert doc["tiles"] == ["http://localhost/tiles/coverage/{z}/{x}/{y}.pbf"]
    response = client.get("/tiles/coverage/0/0/0.pbf")
    assert (response.status_code, response.data) == (200, b"")


def test_tilejson_and_tiles_of_each_radio(learnt, client):
    grid = coverage.update(learnt)
    assert {name: len(cells) for name, cells in grid.layers.items()} == {
        "blue": 1, "cell": 1, "wifi": 1}
    response = client.get("/tiles/coverage.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age=600" in response.headers["Cache-Control"]
    doc = response.get_json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["maxzoom"] == 13 and doc["minzoom"] == 0
    template = doc["tiles"][0]
    assert template.startswith("http://localhost/tiles/coverage/{z}/{x}/{y}.pbf?v=")
    layers = {layer["id"]: layer for layer in doc["vector_layers"]}
    assert set(layers) == {"wifi", "cell", "blue"}
    assert layers["wifi"]["fields"] == {"last_seen": "String", "last_seen_day": "Number",
                                        "age_days": "Number", "stations": "Number"}
    west, south, east, north = doc["bounds"]
    assert west <= LONDON[1] < east and south <= PARIS[0] < north
    assert west <= BERLIN[1] < east and south <= BERLIN[0] < north

    today = today_utc()
    for place, name, stations in ((BERLIN, "wifi", 3), (LONDON, "cell", 2), (PARIS, "blue", 2)):
        for zoom in (0, 5, 13):
            tile = fetch_tile(client, zoom, *place)
            assert name in tile, (zoom, place, sorted(tile))
            features = tile[name]["features"]
            assert tile[name]["extent"] == EXTENT
            props = [f["properties"] for f in features]
            assert {p["last_seen"] for p in props} == {today.isoformat()}
            assert {p["age_days"] for p in props} == {0}
            assert {p["last_seen_day"] for p in props} == {(today - today.fromordinal(
                719163)).days}
            assert sum(p["stations"] for p in props) >= stations
            for feature in features:
                assert feature["geometry"]["type"] == "Polygon"
        # the square holds the place: at zoom 13 a square of 0.001 degree
        x, y = tile_of(*place, 13)
        n = 2**13
        px = ((place[1] + 180) / 360 * n - x) * EXTENT
        py = ((1 - math.asinh(math.tan(math.radians(place[0]))) / math.pi) / 2 * n - y) * EXTENT
        ring = fetch_tile(client, 13, *place)[name]["features"][0]["geometry"]["coordinates"][0]
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        assert min(xs) - 6 <= px <= max(xs) + 6 and min(ys) - 6 <= py <= max(ys) + 6
        assert 85 < max(xs) - min(xs) < 100  # 0.001 degree at zoom 13: 93 of 4096 units
    # only the radio seen there
    assert set(fetch_tile(client, 13, *BERLIN)) == {"wifi"}
    # far from everything: an empty tile
    x, y = tile_of(-33.9, 18.4, 8)
    response = client.get(f"/tiles/coverage/8/{x}/{y}.pbf", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and gzip.decompress(response.data) == b""


def test_tile_requests_leave_no_request_line(learnt, client, capsys):
    """A map asks dozens of tiles at a time: like static files, no log line each."""
    coverage.update(learnt)
    capsys.readouterr()
    assert client.get("/tiles/coverage/3/4/2.pbf").status_code == 200
    assert "tiles/coverage/3" not in capsys.readouterr().out
    assert client.get("/tiles/coverage.json").status_code == 200
    assert "/tiles/coverage.json" in capsys.readouterr().out


def test_tiles_are_cached_and_conditional(learnt, client):
    coverage.update(learnt)
    x, y = tile_of(*BERLIN, 10)
    url = f"/tiles/coverage/10/{x}/{y}.pbf"
    first = client.get(url, headers={"Accept-Encoding": "gzip"})
    keys = [k.decode() for k in learnt.redis.scan_iter("coverage:tile:*")]
    assert any(k.endswith(f":10/{x}/{y}") for k in keys)
    assert "public" in first.headers["Cache-Control"]
    assert "max-age=3600" in first.headers["Cache-Control"]
    assert "Accept-Encoding" in first.headers["Vary"]
    again = client.get(url, headers={"Accept-Encoding": "gzip",
                                     "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    plain = client.get(url)  # a client without gzip gets the tile as it is
    assert "Content-Encoding" not in plain.headers
    assert plain.data == gzip.decompress(first.data)
    assert "wifi" in mapbox_vector_tile.decode(plain.data)


def test_new_data_is_a_new_version(learnt, client, api_key, drain):
    old = coverage.update(learnt)
    same = coverage.update(learnt)
    assert same.version == old.version  # same squares: tiles stay cached
    moved = [{"position": {"latitude": 40.4168, "longitude": -3.7038, "accuracy": 5.0},
              "wifiAccessPoints": [{"macAddress": f"02:cc:00:00:00:{k:02x}"}
                                   for k in range(2)]}]
    assert client.post(f"/v2/geosubmit?key={api_key}", json={"items": moved}).status_code == 200
    drain()
    new = coverage.update(learnt)
    assert new.version != old.version
    doc = client.get("/tiles/coverage.json").get_json()
    assert f"?v={new.version}-" in doc["tiles"][0]
    assert "wifi" in fetch_tile(client, 12, 40.4168, -3.7038)


def test_old_coverage_says_how_old(learnt, client):
    """A station last seen 40 days ago: its square says so."""
    from ichnaea_wifi.models import MODEL

    day = today_utc() - timedelta(days=40)
    MODEL.update(last_seen=day).execute()
    coverage.update(learnt)
    props = fetch_tile(client, 13, *BERLIN)["wifi"]["features"][0]["properties"]
    assert props["last_seen"] == day.isoformat()
    assert props["age_days"] == 40


def test_tile_urls_follow_the_proxy(learnt, client):
    coverage.update(learnt)
    doc = client.get("/tiles/coverage.json", headers={
        "Host": "internal:8000", "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "location.example.org"}).get_json()
    assert doc["tiles"][0].startswith(
        "https://location.example.org/tiles/coverage/{z}/{x}/{y}.pbf?v=")
    doc = client.get("/tiles/coverage.json", headers={"Host": "maps.example.net"}).get_json()
    assert doc["tiles"][0].startswith("http://maps.example.net/tiles/coverage/")
    doc = client.get("/tiles/coverage.json", headers={
        "X-Forwarded-Host": "evil\"host/x"}).get_json()
    assert doc["tiles"][0].startswith("http://localhost/tiles/coverage/")


def test_bad_tile_addresses(learnt, client):
    coverage.update(learnt)
    for path in ("/tiles/coverage/3/8/0.pbf", "/tiles/coverage/3/0/8.pbf",
                 "/tiles/coverage/3/0/0.png", "/tiles/coverage/23/0/0.pbf",
                 "/tiles/coverage/3/0/x.pbf"):
        assert client.get(path).status_code == 404, path
    assert client.get("/tiles/coverage/3/4/2.mvt").status_code == 200


def test_the_command_and_the_job(learnt, backend_uris, tmp_path):
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri, "LOGGING_LEVEL": "WARNING",
           "ICHNAEA_VAR_DIR": str(tmp_path / "var")}
    result = CliRunner().invoke(cli, ["map", "coverage"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 wifi" in result.output and "1 cell" in result.output
    learnt.redis.delete(coverage.BUILT_KEY, coverage.VERSION_KEY)
    assert coverage.update_job(learnt) is False
    assert learnt.redis.get(coverage.VERSION_KEY) is not None
    learnt.redis.delete(coverage.VERSION_KEY)
    coverage.update_job(learnt)  # built a moment ago: not due
    assert learnt.redis.get(coverage.VERSION_KEY) is None


def test_a_new_service_shows_its_first_stations_within_a_check(runtime, client, api_key,
                                                                internal_export, drain):
    """The grid is read daily, but while it is empty at every check: the first
    stations a new service learns are on the map minutes later, not a day."""
    assert coverage.update_job(runtime) is False
    empty = runtime.redis.get(coverage.VERSION_KEY)
    assert empty is not None
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": reports()})
    assert response.status_code == 200
    drain()
    coverage.update_job(runtime)  # empty a moment ago: read again
    assert runtime.redis.get(coverage.VERSION_KEY) != empty
    learnt = runtime.redis.get(coverage.VERSION_KEY)
    coverage.update_job(runtime)  # now with squares: not due for a day
    assert runtime.redis.get(coverage.VERSION_KEY) == learnt
    assert runtime.redis.get(coverage.BUILT_KEY).split()[1] != b"0"


def test_the_worker_runs_the_coverage_job(runtime):
    """As the worker does: the registered periodic job, with its settings."""
    job = runtime.plugins.periodic_jobs["update_coverage"]
    assert runtime.run_job(job) is False
    assert runtime.redis.get(coverage.VERSION_KEY) is not None
