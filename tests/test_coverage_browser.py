"""The coverage TileJSON in a real MapLibre GL JS, in Debian's headless Chromium.

Done as NeoStumbler does with its ``coverageTileJsonUrl``: a vector source
from the TileJSON URL, and one fill layer per id of its ``vector_layers``.
The stations are learnt through the API and the pipeline (WiFi in Berlin,
cells in London, Bluetooth beacons in Paris); each layer must draw its
squares where its stations are, and nowhere else. A screenshot goes to
docs/screenshots/ for the README.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from ichnaea_host.app import create_app
from ichnaea_host.site import coverage

CHROMIUM = "/usr/bin/chromium"
# WebGL without a GPU: ANGLE on SwiftShader (Chromium's software renderer)
ARGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--disable-background-networking", "--disable-component-update", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
MAPLIBRE = Path(__file__).resolve().parent.parent / "ichnaea_host" / "site" / "static" / \
    "vendor" / "maplibre-gl" / "maplibre-gl.mjs"
PLACES = {"wifi": (52.5200, 13.4050), "cell": (51.5072, -0.1276), "blue": (48.8566, 2.3522)}
COLOURS = {"wifi": "#0088ff", "cell": "#f0881e", "blue": "#9b30d9"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not MAPLIBRE.exists(), reason="the site's assets are not built (make)"),
]
sync_api = pytest.importorskip("playwright.sync_api")

#: the test page: what a stumbler app does with the URL, and a way to ask the
#: map what it drew (window.drawn) once it is idle
PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="/static/vendor/maplibre-gl/maplibre-gl.css">
<style>html, body, #map { margin: 0; width: 100%; height: 100%; }</style>
</head><body><div id="map"></div>
<script type="module">
import * as maplibregl from "/static/vendor/maplibre-gl/maplibre-gl.mjs";
const url = new URL("/tiles/coverage.json", location.href).href;
const tilejson = await (await fetch(url)).json();
const colours = __COLOURS__;
const layers = [{id: "background", type: "background", paint: {"background-color": "#fff"}}];
for (const layer of tilejson.vector_layers) {
  layers.push({id: layer.id, type: "fill", source: "coverage", "source-layer": layer.id,
               paint: {"fill-color": colours[layer.id] || "#888",
                       // older coverage fades: the freshness attribute
                       "fill-opacity": ["interpolate", ["linear"], ["get", "age_days"],
                                        0, 0.8, 365, 0.2]}});
}
const map = new maplibregl.Map({
  container: "map", center: [6.6, 50.6], zoom: 5, fadeDuration: 0,
  style: {version: 8, sources: {coverage: {type: "vector", url}}, layers},
});
map.on("error", (e) => console.error("map error: " + (e.error && e.error.message)));
map.once("idle", () => {
  const drawn = {};
  for (const layer of tilejson.vector_layers) {
    drawn[layer.id] = map.queryRenderedFeatures({layers: [layer.id]}).map((f) => ({
      properties: f.properties,
      where: map.project(f.geometry.coordinates[0][0]),
    }));
  }
  drawn.places = {};
  for (const [name, [lat, lon]] of Object.entries(__PLACES__)) {
    drawn.places[name] = map.project([lon, lat]);
  }
  window.drawn = drawn;
});
</script></body></html>
"""


@pytest.fixture
def backend() -> str:
    """One backend is enough here: the tiles' data are tested on both elsewhere."""
    return "sqlite"


def reports() -> list[dict[str, Any]]:
    items = []
    for n in range(3):
        d = n * 3e-4
        lat, lon = PLACES["wifi"]
        items.append({"position": {"latitude": lat + d, "longitude": lon, "accuracy": 5.0},
                      "wifiAccessPoints": [{"macAddress": f"02:aa:00:00:01:{k:02x}"}
                                           for k in range(3)]})
        lat, lon = PLACES["cell"]
        items.append({"position": {"latitude": lat + d, "longitude": lon, "accuracy": 5.0},
                      "cellTowers": [{"radioType": "gsm", "mobileCountryCode": 234,
                                      "mobileNetworkCode": 30, "locationAreaCode": 9,
                                      "cellId": 77 + k} for k in range(2)]})
        lat, lon = PLACES["blue"]
        items.append({"position": {"latitude": lat + d, "longitude": lon, "accuracy": 5.0},
                      "bluetoothBeacons": [{"macAddress": f"02:bb:00:00:01:{k:02x}"}
                                           for k in range(2)]})
    return items


@pytest.fixture
def base_url(runtime, client, api_key, internal_export, drain) -> Iterator[str]:
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": reports()})
    assert response.status_code == 200
    drain()
    coverage.update(runtime)
    app = create_app(runtime=runtime)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_maplibre_draws_each_layer(base_url):
    page_url = base_url + "/coverage-test.html"  # served by the test, not the app
    html = (PAGE.replace("__COLOURS__", json.dumps(COLOURS))
            .replace("__PLACES__", json.dumps({k: list(v) for k, v in PLACES.items()})))
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = chromium.new_page(viewport={"width": 900, "height": 600})
            page.set_default_timeout(30000)
            page.on("console", lambda msg: errors.append(msg.text)
                    if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: requests.append(req.url))
            page.route(page_url, lambda route: route.fulfill(
                status=200, content_type="text/html", body=html))
            page.goto(page_url)
            try:
                page.wait_for_function("() => window.drawn !== undefined")
            except sync_api.TimeoutError:
                raise AssertionError(f"the map never became idle; errors: {errors}") from None
            drawn = page.evaluate("() => window.drawn")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "coverage-maplibre.png"))
        finally:
            chromium.close()
    assert errors == []
    assert any("/tiles/coverage.json" in u for u in requests)
    tile_requests = [u for u in requests if "/tiles/coverage/5/" in u]
    assert tile_requests and all(".pbf?v=" in u for u in tile_requests)
    assert all(u.startswith((base_url + "/", "blob:", "data:")) for u in requests)
    places = drawn.pop("places")
    assert set(drawn) == {"wifi", "cell", "blue"}
    for name, features in drawn.items():
        assert features, f"{name}: nothing drawn"
        for feature in features:
            assert feature["properties"]["age_days"] == 0
            assert feature["properties"]["stations"] >= 2
            # drawn where that radio's stations are (a square of 0.256 degree at zoom 5)
            assert abs(feature["where"]["x"] - places[name]["x"]) < 12, name
            assert abs(feature["where"]["y"] - places[name]["y"]) < 12, name
