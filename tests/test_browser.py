"""The site in a real browser: Debian's headless Chromium, driven by Playwright.

The database is seeded through the API and the pipeline (reports -> datamap
-> tiles); the monthly history of the statistics and the regional counts,
which the pipeline can only produce over months, are written directly. Every
page must load with no console error and no request to another host; the
map must draw our tiles and the charts the seeded series. Screenshots go to
docs/screenshots/ for the README.
"""

from __future__ import annotations

import math
import random
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from ichnaea_host.app import create_app
from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.models import RegionStat, Stat
from ichnaea_host.pipeline import datamap
from ichnaea_host.site import tiles
from ichnaea_host.site.data import month_ms

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PAGES = ["/", "/api", "/map", "/stats", "/stats/regions", "/downloads", "/privacy", "/terms",
         "/optout", "/contact", "/nobody-is-home"]
BERLIN = (52.52, 13.40)
WIFI_MONTHS = [1500, 2300, 3900, 6100, 8000]
REGIONS = ["DE", "GB", "FR", "US", "JP", "BR", "IN", "CN", "ES", "IT", "NL", "BE", "AT", "CH",
           "PL", "CZ", "SE", "NO", "DK", "FI", "PT", "IE", "CA", "MX", "AR", "AU", "NZ", "ZA"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def backend() -> str:
    """One backend is enough here: the pages' data are tested on both elsewhere."""
    return "sqlite"


def tile_of(lat: float, lon: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def months_back(n: int) -> Any:
    day = today_utc().replace(day=1)
    for _ in range(n):
        day = (day - timedelta(days=1)).replace(day=1)
    return day


#: the WiFi standards the seeded reports name, in turn
STANDARDS = ("802.11n", "802.11ac", "ax")


@pytest.fixture
def seeded(runtime, client, api_key, internal_export, drain) -> Any:
    rng = random.Random(9)
    reports = []
    for n in range(200):
        lat, lon = BERLIN if n < 150 else (51.5, -0.12) if n < 190 else (40.7, -74.0)
        reports.append({
            "position": {"latitude": lat + rng.uniform(-0.08, 0.08),
                         "longitude": lon + rng.uniform(-0.12, 0.12), "accuracy": 10.0},
            "wifiAccessPoints": [{"macAddress": f"02:10:{n // 256:02x}:{n % 256:02x}:00:{i:02x}",
                                  "signalStrength": -60 - i,
                                  "radioType": STANDARDS[(n + i) % len(STANDARDS)]}
                                 for i in range(2)],
        })
    for i, value in enumerate(WIFI_MONTHS):  # unique_wifi totals at the end of past months
        day = months_back(len(WIFI_MONTHS) - i)
        Stat.insert(key=4, time=day, value=value).execute()
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": reports})
    assert response.status_code == 200
    drain()
    rows = sum(model.select().count() for model in datamap.MODELS.values())
    assert rows > 150
    tiles.render(runtime)
    for i, code in enumerate(REGIONS):
        counts = {"gsm": i, "wcdma": 2 * i, "lte": 3 * i, "blue": i % 5, "wifi": 1000 - 10 * i}
        RegionStat.insert_many([{"region": code, "kind": kind, "count": count}
                                for kind, count in counts.items()]
                               ).on_conflict_replace().execute()
    for key in runtime.redis.scan_iter():  # all but the WiFi standards' counts
        if not key.startswith(b"stats:wifi_standards:"):
            runtime.redis.delete(key)
    exports = runtime.settings.var_path / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "MLS-full-cell-export-2024-01-02T000000.csv.gz").write_bytes(b"x" * 4096)
    (exports / "MLS-diff-cell-export-2024-01-02T010000.csv.gz").write_bytes(b"x" * 2048)
    return runtime


@pytest.fixture
def base_url(seeded) -> Iterator[str]:
    app = create_app(runtime=seeded)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


class Browser:
    """One page of Chromium that records console errors and every request."""

    def __init__(self, page: Any, base: str, runtime: Any) -> None:
        self.page = page
        self.base = base
        self.runtime = runtime
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda msg: self.errors.append(msg.text)
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", lambda req: self.requests.append(req.url))

    def open(self, path: str) -> Any:
        self.errors.clear()
        self.requests.clear()
        response = self.page.goto(self.base + path, wait_until="networkidle")
        return response

    def check(self, path: str, status: int = 200) -> None:
        errors = self.errors
        if status == 404:  # Chromium reports the document's own status as an error
            errors = [e for e in errors if "status of 404" not in e]
        assert errors == [], f"{path}: {errors}"
        foreign = [u for u in self.requests
                   if not u.startswith((self.base + "/", "data:", "blob:"))]
        assert foreign == [], f"{path} asked another host: {foreign}"

    def screenshot(self, name: str, selector: str | None = None) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = self.page.locator(selector) if selector else self.page
        target.screenshot(path=str(SCREENSHOTS / name))


@pytest.fixture
def browser(base_url, seeded) -> Iterator[Browser]:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = chromium.new_page(viewport={"width": 1100, "height": 760})
        page.set_default_timeout(15000)
        yield Browser(page, base_url, seeded)
        chromium.close()


def test_every_page_loads_cleanly(browser):
    for path in PAGES:
        status = 404 if path == "/nobody-is-home" else 200
        assert browser.open(path).status == status, path
        browser.check(path, status)
        assert browser.page.locator("nav[aria-label=Main] a").count() == 6
    assert "404 Not Found" in browser.page.content()
    browser.open("/")
    browser.check("/")
    assert browser.page.locator(".map-callout img").evaluate("img => img.naturalWidth") == 512
    browser.screenshot("home.png")


def test_map_draws_our_tiles(browser):
    browser.open("/map#7/52.5200/13.4000")
    # (no wait_for_function: it evaluates strings, which the site's CSP rightly forbids)
    browser.page.locator(".coverage-tiles img.leaflet-tile-loaded").nth(3).wait_for()
    browser.check("/map")
    tile_requests = [u for u in browser.requests if "/static/datamap/tiles/7/" in u]
    assert tile_requests
    x, y = tile_of(*BERLIN, 7)
    assert any(u.endswith(f"/7/{x}/{y}.png") for u in tile_requests)
    berlin = browser.page.locator(f'.coverage-tiles img[src$="/7/{x}/{y}.png"]')
    assert berlin.evaluate("img => img.complete && img.naturalWidth") == 256
    drawn = (browser.page.context.request.get(f"{browser.base}/static/datamap/tiles/7/{x}/{y}"
                                              ".png").body())
    assert drawn == tiles.tile_path(tiles.tiles_dir(browser.runtime), 7, x, y).read_bytes()
    browser.page.locator(".leaflet-control-zoom-in").click()
    browser.page.wait_for_url(re.compile(r"#8/"))
    browser.page.wait_for_load_state("networkidle")
    browser.check("/map zoomed")
    browser.open("/")
    browser.open("/map#9/52.5200/13.4000")  # the seeded reports around Berlin
    browser.page.locator(".coverage-tiles img.leaflet-tile-loaded").nth(3).wait_for()
    browser.check("/map")
    browser.screenshot("map.png")


def test_stats_chart_shows_the_seeded_series(browser):
    browser.open("/stats")
    browser.page.wait_for_selector("#wifi_data tbody tr", state="attached")
    browser.check("/stats")
    values = browser.page.evaluate("Chart.getChart('wifi_chart').data.datasets[0].data")
    assert values[:len(WIFI_MONTHS)] == WIFI_MONTHS
    labels = browser.page.evaluate("Chart.getChart('wifi_chart').data.labels")
    first = months_back(len(WIFI_MONTHS))
    assert labels[0] == first.strftime("%b %Y")
    cells = browser.page.locator("#wifi_data tbody td.number").all_text_contents()
    assert cells[:len(WIFI_MONTHS)] == [f"{v:,}" for v in WIFI_MONTHS]
    series = browser.page.context.request.get(browser.base + "/stats_wifi.json").json()
    assert series["series"][0]["data"][0] == [month_ms(first), WIFI_MONTHS[0]]
    browser.screenshot("stats.png", "section:has(#wifi_chart)")


def test_stats_page_shows_the_wifi_standards(browser):
    browser.open("/stats")
    browser.check("/stats")
    rows = browser.page.locator("#wifi-standards tbody tr")
    labels = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert labels == ["802.11n (Wi-Fi 4)", "802.11ac (Wi-Fi 5)", "802.11ax (Wi-Fi 6)"]
    counts = browser.page.locator("#wifi-standards tbody td.number").all_inner_texts()
    assert sum(int(c) for c in counts) == 400  # two networks in each of 200 reports
    widths = [m.evaluate("m => m.getBoundingClientRect().width")
              for m in browser.page.locator("#wifi-standards meter").all()]
    assert len(widths) == 3 and all(w > 100 for w in widths)
    values = [float(m.get_attribute("value") or 0)
              for m in browser.page.locator("#wifi-standards meter").all()]
    assert abs(sum(values) - 100) < 0.2
    browser.screenshot("stats-standards.png", "#wifi-standards")


def test_regions_table(browser):
    browser.open("/stats/regions")
    browser.check("/stats/regions")
    rows = browser.page.locator("#region-stats tbody tr")
    assert rows.count() == 25  # a page
    assert rows.first.locator("td").first.inner_text() == "Germany"  # most WiFis first
    headers = browser.page.locator("#region-stats thead th").all_inner_texts()
    assert [re.sub(r"\W+$", "", h) for h in headers] == \
        ["Region", "BLEs", "GSM", "WCDMA", "LTE", "NR", "Cells", "WiFis"]
    browser.screenshot("regions.png")
    browser.page.locator("#region-pager button", has_text="2").click()
    assert rows.count() == len(REGIONS) - 25
    browser.page.fill("#region-search", "united")
    names = browser.page.locator("#region-stats tbody tr td:first-child").all_inner_texts()
    assert sorted(names) == ["United Kingdom", "United States"]
    browser.page.locator("#region-stats thead th", has_text="Region").click()
    names = browser.page.locator("#region-stats tbody tr td:first-child").all_inner_texts()
    assert names == ["United Kingdom", "United States"]


def test_downloads_list(browser):
    browser.open("/downloads")
    browser.check("/downloads")
    links = browser.page.locator("ul.files a").all_inner_texts()
    assert links == ["MLS-full-cell-export-2024-01-02T000000.csv.gz",
                     "MLS-diff-cell-export-2024-01-02T010000.csv.gz"]
    assert "(4kB)" in browser.page.locator("#full-exports").inner_text()


def test_optout_form_answers_in_the_page(browser):
    """An owner fills the form; the scan names one known neighbour only, so
    the page explains what is missing and keeps what was typed."""
    browser.open("/optout")
    browser.check("/optout")
    browser.page.fill("#network", "02:10:00:00:00:00")
    browser.page.locator("input[name=action][value=moved]").check()
    browser.page.fill("#scan", '{"wifiAccessPoints": [{"macAddress": "02:10:00:00:00:00"}, '
                               '{"macAddress": "02:10:00:00:00:01"}, '
                               '{"macAddress": "02:99:00:00:00:01"}]}')
    with browser.page.expect_navigation():
        browser.page.locator("#optout-form button[type=submit]").click()
    problem = browser.page.locator("#optout-problem").inner_text()
    assert "fewer than two of the other networks are known" in problem
    assert browser.page.input_value("#network") == "02:10:00:00:00:00"
    assert browser.page.locator("input[name=action][value=moved]").is_checked()
    assert [e for e in browser.errors if "status of 400" not in e] == []
