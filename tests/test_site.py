"""The public web site: pages, JSON endpoints, caching, tiles and downloads,
including Redis or the database being down."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import boto3
import pytest
from marshmallow import Schema, fields
from moto.server import ThreadedMotoServer

from ichnaea_host import DownloadSection, Radio, SiteLabels, StatsSection, hookimpl
from ichnaea_host.app import create_app
from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.models import RegionStat, Stat
from ichnaea_host.pipeline import datamap
from ichnaea_host.pipeline.stats import REGION_STATS_CACHE_KEY
from ichnaea_host.site import tiles
from ichnaea_host.site.data import month_ms

PAGES = {
    "/": "Overview", "/api": "API", "/contact": "Contact Us", "/downloads": "Downloads",
    "/map": "Map", "/optout": "Opt-Out", "/privacy": "Privacy Notice",
    "/terms": "Terms of Service", "/stats": "Statistics", "/stats/regions": "Regions",
}
DOWN = "redis://127.0.0.1:1/0"  # nothing listens there
DB_DOWN = "mysql+pymysql://root@127.0.0.1:1/ichnaea"


def html(response) -> str:
    return response.get_data(as_text=True)


def app_for(rt):
    app = create_app(runtime=rt)
    app.testing = True
    return app.test_client()


@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    body = html(response)
    assert f"<title>Ichnaea - {PAGES[path]}</title>" in body
    assert f"<h1>{PAGES[path]}</h1>" in body
    for link in ('href="/api"', 'href="/downloads"', 'href="/map"', 'href="/stats/regions"'):
        assert link in body
    assert response.headers["Cache-Control"] == "max-age=3600"
    assert "Expires" in response.headers
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "includeSubDomains" in response.headers["Strict-Transport-Security"]
    assert not re.search(r'(src="|<link[^>]*href=")(https?:)?//', body)  # all from us
    assert client.get(path + "/").status_code == 200


def test_robots_and_icons(client):
    robots = client.get("/robots.txt")
    assert robots.mimetype == "text/plain"
    assert robots.headers["Cache-Control"] in ("max-age=86400, public", "public, max-age=86400")
    assert html(robots).splitlines() == [
        "User-agent: *", "Disallow: /downloads", "Disallow: /static/", "Disallow: /v1/",
        "Disallow: /v2/", "Disallow: /__heartbeat__", "Disallow: /__lbheartbeat__",
        "Disallow: /__version__"]
    favicon = client.get("/favicon.ico")
    assert favicon.mimetype == "image/vnd.microsoft.icon"
    assert favicon.data[:4] == b"\x00\x00\x01\x00"
    assert "max-age=86400" in favicon.headers["Cache-Control"]
    touch = client.get("/apple-touch-icon-precomposed.png")
    assert touch.mimetype == "image/png" and touch.data[:4] == b"\x89PNG"
    css = client.get("/static/css/site.css")
    assert css.status_code == 200 and "max-age=86400" in css.headers["Cache-Control"]


def test_unknown_paths(client):
    for path in ("/nobody-is-home", "/stats/x", "/index.html", "/MAP", "/static/nope.css",
                 "/static/../pyproject.toml", "/stats_nothing.json"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
        body = html(response)
        assert "404 Not Found" in body and 'href="/stats/regions"' in body  # the site's layout
    api = client.get("/v1/nothing-here")
    assert api.status_code == 404 and "Ichnaea - " not in html(api)
    error = client.post("/v1/geolocate", json={})  # no key: the API's JSON error
    assert error.status_code == 400 and error.json["error"]["errors"][0]["reason"] == "keyInvalid"


def test_map_json_and_page(client, make_runtime):
    assert client.get("/map.json").data == b'{"tiles_url":"/static/datamap/tiles/"}'
    body = html(client.get("/map"))
    assert 'data-tiles-url="/static/datamap/tiles/{z}/{x}/{y}.png"' in body
    assert 'src="/static/vendor/leaflet/leaflet.js"' in body
    other = app_for(make_runtime(asset_url="https://cdn.example.com/assets",
                                 plugins_disabled=[]))
    assert other.get("/map.json").json == {"tiles_url": "https://cdn.example.com/assets/tiles/"}
    csp = other.get("/map").headers["Content-Security-Policy"]
    assert "img-src 'self' https://cdn.example.com data: blob:" in csp
    home = html(other.get("/"))
    assert 'src="https://cdn.example.com/assets/tiles/0/0/0@2x.png"' in home


def test_base_map_setting(make_runtime, monkeypatch):
    monkeypatch.setenv("ICHNAEA_CONTENT__BASEMAP_URL", "https://tiles.example.org/{z}/{x}/{y}.png")
    monkeypatch.setenv("ICHNAEA_CONTENT__BASEMAP_ATTRIBUTION", "Example maps")
    client = app_for(make_runtime())
    response = client.get("/map")
    assert 'data-basemap-url="https://tiles.example.org/{z}/{x}/{y}.png"' in html(response)
    assert 'data-basemap-attribution="Example maps"' in html(response)
    assert "https://tiles.example.org" in response.headers["Content-Security-Policy"]


def test_tiles_are_served(client, runtime):
    lat_s, lon_s = datamap.scale(51.5, -0.12)
    datamap.MODELS["nw"].insert(grid=datamap.encode(lat_s, lon_s), created=date.today(),
                                modified=today_utc()).execute()
    tiles.render(runtime)
    folder = runtime.settings.var_path / "tiles"
    tile = client.get("/static/datamap/tiles/0/0/0.png")
    assert tile.status_code == 200 and tile.mimetype == "image/png"
    assert tile.data == (folder / "0/0/0.png").read_bytes()
    assert "max-age=3600" in tile.headers["Cache-Control"]
    assert client.get("/static/datamap/tiles/0/0/0@2x.png").data == \
        (folder / "0/0/0@2x.png").read_bytes()
    blank = client.get("/static/datamap/tiles/11/0/0.png")  # no coverage there
    assert blank.status_code == 200 and blank.data[:4] == b"\x89PNG"
    assert client.get("/static/datamap/tiles/1/0/x.png").status_code == 404
    assert client.get("/static/datamap/tiles/data.json").json["tile_count"] == 13


def add_stat(key: int, day: date, value: int) -> None:
    Stat.insert(key=key, time=day, value=value).execute()


def test_stats_json(client):
    today = today_utc()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    add_stat(4, last_month, 5)                          # unique_wifi
    add_stat(4, last_month + timedelta(days=3), 7)
    add_stat(4, today, 9)
    add_stat(4, today - timedelta(days=400), 1)         # more than a year ago
    add_stat(3, today, 100)                             # wifi observations: not charted
    response = client.get("/stats_wifi.json")
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "max-age=3600"
    expected = {"series": [{"title": "MLS WiFi",
                            "data": [[month_ms(last_month), 7], [month_ms(this_month), 9]]}]}
    assert json.loads(response.data) == expected
    assert response.data.startswith(b'{"series":[{"title":"MLS WiFi","data":')
    Stat.delete().execute()
    assert json.loads(client.get("/stats_wifi.json").data) == expected  # from Redis
    assert client.get("/stats_cell.json").json == {"series": [{"title": "MLS Cells", "data": []}]}
    assert client.get("/stats_blue.json").json["series"][0]["title"] == "MLS Bluetooth"


def test_stats_page(client):
    today = today_utc()
    add_stat(4, today - timedelta(days=2), 1_000_000)
    add_stat(4, today - timedelta(days=1), 1_500_000)  # the latest total counts
    add_stat(3, today, 2_009_000)
    body = html(client.get("/stats"))
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"number\">([^<]+)</td></tr>", body)
    assert ("WiFi networks", "1,500,000") in rows
    assert ("WiFi observations", "2,009,000") in rows
    assert ("Bluetooth networks", "0") in rows and ("Cell observations", "0") in rows
    for name in ("blue", "cell", "wifi"):
        assert f'id="{name}_chart"' in body and f'data-src="/stats_{name}.json"' in body
    assert 'class="notice"' not in body


def put_region_stats(**regions: dict[str, int]) -> None:
    """``region_stat`` rows: ``DE={"gsm": 2, "wifi": 4}`` ..."""
    RegionStat.insert_many([{"region": region, "kind": kind, "count": count}
                            for region, kinds in regions.items()
                            for kind, count in kinds.items()]).execute()


def test_regions_page(client):
    put_region_stats(DE={"gsm": 2, "wcdma": 1, "wifi": 4}, GB={"blue": 1, "wifi": 1},
                     TW={"wcdma": 1}, US={"gsm": 3, "blue": 2}, QQ={"lte": 5},
                     KR={"lte": 1, "nr": 2})
    body = html(client.get("/stats/regions"))
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', body)
    assert headers == ["Region", "BLEs", "GSM", "WCDMA", "LTE", "NR", "Cells", "WiFis"]
    rows = re.findall(r'<tr>\s*<td data-order="([^"]*)">([^<]+)</td>\s*((?:<td class="number">'
                      r'\d+</td>)+)', body)
    table = {name: (order, re.findall(r"\d+", cells)) for order, name, cells in rows}
    assert table["Germany"] == ("germany", ["0", "2", "1", "0", "0", "3", "4"])
    assert table["United Kingdom"] == ("united kin", ["1", "0", "0", "0", "0", "0", "1"])
    assert table["Taiwan"][1] == ["0", "0", "1", "0", "0", "1", "0"]
    assert table["QQ"][1] == ["0", "0", "0", "5", "0", "5", "0"]  # a code without a name
    assert table["Korea, South"][1] == ["0", "0", "0", "1", "2", "3", "0"]
    assert "shown by their code" in body
    assert list(table)[0] == "Germany"  # the most networks first


def region_figures(response) -> dict[str, list[str]]:
    """The regions table: each region's figures, by name."""
    rows = re.findall(r'<tr>\s*<td data-order="[^"]*">([^<]+)</td>\s*((?:<td class="number">'
                      r'\d+</td>)+)', html(response))
    return {name: re.findall(r"\d+", cells) for name, cells in rows}


def test_regions_page_shows_new_figures(client, runtime, make_runtime):
    put_region_stats(DE={"gsm": 1, "wcdma": 0, "lte": 0, "blue": 0, "wifi": 2})
    assert region_figures(client.get("/stats/regions"))["Germany"] == ["0", "1", "0", "0",
                                                                       "0", "1", "2"]
    assert region_figures(client.get("/stats/regions"))["Germany"][-1] == "2"
    RegionStat.update(count=7).where((RegionStat.region == "DE")
                                     & (RegionStat.kind == "wifi")).execute()
    runtime.redis.delete(REGION_STATS_CACHE_KEY)  # as the regional statistics job does
    assert region_figures(client.get("/stats/regions"))["Germany"][-1] == "7"

    down = app_for(make_runtime(redis_uri=DOWN))  # every request asks the database
    assert region_figures(down.get("/stats/regions"))["Germany"][-1] == "7"
    put_region_stats(FR={"gsm": 5})
    figures = region_figures(down.get("/stats/regions"))
    assert list(figures) == ["Germany", "France"] and figures["France"][1] == "5"


class ZigbeeRadio(Radio):
    """A new kind of station, with its own column on the regions page."""

    PLUGIN_NAME = "zigbee"
    FIELD = "zigbeeDevices"
    ENTRY_SCHEMA = Schema.from_dict({"id": fields.String()})
    LABELS = SiteLabels(region_columns=(("zigbee", "Zigbees"),))
    POSITION_ORDER = None
    REGION_ORDER = None

    def region_counts(self) -> dict[str, dict[str, int]]:
        return {"zigbee": {"DE": 7, "FR": 1}}


class ZigbeePlugin:
    @hookimpl
    def ichnaea_register_radios(self) -> list[Any]:
        return [ZigbeeRadio]


def test_a_new_kind_of_station_shows_on_the_regions_page_with_no_migration(make_runtime):
    from ichnaea_host.core import migrate
    from ichnaea_host.pipeline.stats import update_statregion

    rt = make_runtime(extra=(("zigbee", ZigbeePlugin()),))
    assert migrate.pending(rt.db.rw, rt.plugins.migration_dirs) == []
    assert update_statregion(rt) == 2
    body = html(app_for(rt).get("/stats/regions"))
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', body)
    assert headers == ["Region", "BLEs", "GSM", "WCDMA", "LTE", "NR", "Cells", "WiFis",
                       "Zigbees"]
    figures = region_figures(app_for(rt).get("/stats/regions"))
    assert figures == {"Germany": ["0", "0", "0", "0", "0", "0", "0", "7"],
                       "France": ["0", "0", "0", "0", "0", "0", "0", "1"]}


def test_pages_without_redis(make_runtime, client):
    add_stat(4, today_utc(), 42)
    down = app_for(make_runtime(redis_uri=DOWN))
    for path in PAGES:
        response = down.get(path)
        assert response.status_code == 200, path
        assert 'class="notice" role="status"' not in html(response), path  # fresh from the database
    # the WiFi standards' counts live in Redis alone: that section says so
    stats = down.get("/stats")
    assert "These counts cannot be read right now." in stats_section(html(stats), "wifi-standards")
    assert stats.headers["Cache-Control"] == "max-age=60"
    assert down.get("/stats_wifi.json").json["series"][0]["data"][0][1] == 42


def test_pages_without_database(make_runtime):
    down = app_for(make_runtime(db_readonly_uri=DB_DOWN))
    for path in PAGES:
        response = down.get(path)
        assert response.status_code == 200, path
    stats = down.get("/stats")
    assert "could not be read just now" in html(stats)
    assert stats.headers["Cache-Control"] == "max-age=60"
    assert "could not be read just now" in html(down.get("/stats/regions"))
    series = down.get("/stats_wifi.json")
    assert series.status_code == 200 and series.json["series"][0]["data"] == []
    assert series.headers["Cache-Control"] == "max-age=60"


def test_pages_without_database_or_redis(make_runtime, client):
    broken = app_for(make_runtime(db_readonly_uri=DB_DOWN, redis_uri=DOWN))
    for path in [*PAGES, "/stats_wifi.json", "/map.json", "/robots.txt"]:
        assert broken.get(path).status_code == 200, path


def test_stale_figures_when_the_database_goes_away(runtime):
    """The cache keeps the last figures this process read, and says they are old."""
    from ichnaea_host.site.data import FRESH, MISSING, STALE, SiteCache

    cache = SiteCache()
    assert cache.get(runtime, "test:site", 60, lambda: {"n": 1}, {}) == ({"n": 1}, FRESH)
    runtime.redis.delete("test:site")

    def database_down() -> dict:
        raise ConnectionError("database down")

    assert cache.get(runtime, "test:site", 60, database_down, {}) == ({"n": 1}, STALE)
    assert cache.get(runtime, "test:other", 60, database_down, {}) == ({}, MISSING)


def test_downloads_from_the_exports_folder(client, runtime):
    folder = runtime.settings.var_path / "exports"
    folder.mkdir(parents=True)
    sizes = {"MLS-full-cell-export-2024-01-02T000000.csv.gz": 1024,
             "MLS-full-cell-export-2024-01-01T000000.csv.gz": 1000,
             "MLS-diff-cell-export-2024-01-02T020000.csv.gz": 8192,
             "MLS-diff-cell-export-2024-01-02T010000.csv.gz": 1536,
             "MLS-diff-cell-export-2024-01-02T000000.csv.gz": 512,
             "notes.txt": 10}
    for name, size in sizes.items():
        (folder / name).write_bytes(b"x" * size)
    body = html(client.get("/downloads"))
    full = re.findall(r'<a href="([^"]+)">(MLS-full[^<]+)</a> \((\d+)kB\)', body)
    assert full == [("/downloads/MLS-full-cell-export-2024-01-02T000000.csv.gz",
                     "MLS-full-cell-export-2024-01-02T000000.csv.gz", "1"),
                    ("/downloads/MLS-full-cell-export-2024-01-01T000000.csv.gz",
                     "MLS-full-cell-export-2024-01-01T000000.csv.gz", "1")]
    diffs = re.findall(r">(MLS-diff[^<]+)</a> \((\d+)kB\)", body)
    assert [size for _, size in diffs] == ["8", "2", "0"]  # newest first; half to even
    assert body.count('<ul class="files half">') == 2 and "notes.txt" not in body
    served = client.get("/downloads/MLS-full-cell-export-2024-01-01T000000.csv.gz")
    assert served.status_code == 200 and len(served.data) == 1000
    (folder / "MLS-full-cell-export-2024-01-03T000000.csv.gz").write_bytes(b"new")
    assert "2024-01-03" not in html(client.get("/downloads"))  # cached for half an hour
    assert client.get("/downloads/nothing.csv.gz").status_code == 404


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class DumpSectionPlugin:
    """A plugin that publishes files of its own on /downloads."""

    @hookimpl
    def ichnaea_register_download_sections(self):
        return [DownloadSection(name="acme-dump", title="Acme Dumps",
                                pattern="acme-*-full-*.csv.gz", text="Acme's <own> files.",
                                empty="No Acme dump yet.")]


class NotASectionPlugin:
    @hookimpl
    def ichnaea_register_download_sections(self):
        return [{"name": "acme"}]


def test_a_plugin_lists_its_files_in_a_section_of_its_own(make_runtime):
    rt = make_runtime(extra=(("acme", DumpSectionPlugin()),))
    assert rt.plugins.infos["acme"].registers["download_sections"] == ["acme-dump"]
    client = app_for(rt)
    body = html(client.get("/downloads"))
    assert "<h2>Acme Dumps</h2>" in body and "Acme&#39;s &lt;own&gt; files." in body
    assert "No Acme dump yet." in body
    folder = rt.settings.var_path / "exports"
    folder.mkdir(parents=True)
    for name in ("acme-x-full-2024-01-01.csv.gz", "acme-x-full-2024-01-02.csv.gz",
                 "MLS-full-cell-export-2024-01-02T000000.csv.gz"):
        (folder / name).write_bytes(b"x" * 2048)
    rt.redis.delete("cache:downloads:3")
    body = html(client.get("/downloads"))
    mine = re.search(r'<ul class="files" id="acme-dump-files">(.*?)</ul>', body, re.DOTALL)
    assert mine is not None
    assert re.findall(r">(acme[^<]+)</a> \((\d+)kB\)", mine.group(1)) == [
        ("acme-x-full-2024-01-02.csv.gz", "2"), ("acme-x-full-2024-01-01.csv.gz", "2")]
    cells = re.search(r'<ul class="files" id="full-exports">(.*?)</ul>', body, re.DOTALL)
    assert cells is not None and "acme" not in cells.group(1)  # claimed by the section
    assert "MLS-full-cell-export-2024-01-02T000000.csv.gz" in cells.group(1)
    assert "No Acme dump yet." not in body
    assert client.get("/downloads/acme-x-full-2024-01-01.csv.gz").status_code == 200


def test_a_download_section_must_be_one(make_runtime):
    from ichnaea_host.plugins.manager import PluginLoadError

    with pytest.raises(PluginLoadError, match="DownloadSection"):
        make_runtime(extra=(("acme", NotASectionPlugin()),))


class CountsSectionPlugin:
    """A plugin that shows counts of its own on /stats."""

    @hookimpl
    def ichnaea_register_stats_sections(self):
        return [StatsSection(name="acme-kinds", title="Acme kinds", column="Things",
                             text="What Acme <counted>.",
                             rows=lambda context: [("red", 3_000), ("blue", 1_000)]),
                StatsSection(name="acme-none", title="Acme nothing", rows=lambda context: [],
                             empty="Acme counted nothing.")]


class BrokenSectionPlugin:
    @hookimpl
    def ichnaea_register_stats_sections(self):
        def rows(context):
            raise RuntimeError("the counts are gone")
        return [StatsSection(name="acme-broken", title="Acme broken", rows=rows)]


class NotAStatsSectionPlugin:
    @hookimpl
    def ichnaea_register_stats_sections(self):
        return [("acme", [("red", 1)])]


def stats_section(body: str, name: str) -> str:
    found = re.search(rf'<section class="stats-section" id="{name}">(.*?)</section>', body,
                      re.DOTALL)
    assert found is not None, name
    return found.group(1)


def share_rows(section: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<tr><td>([^<]+)</td><td class="number">([\d,]+)</td>\s*'
                      r'<td class="share"><meter min="0" max="100" value="([\d.]+)">', section)


def test_a_plugin_shows_its_counts_on_the_stats_page(make_runtime):
    rt = make_runtime(extra=(("acme", CountsSectionPlugin()),))
    assert rt.plugins.infos["acme"].registers["stats_sections"] == ["acme-kinds", "acme-none"]
    body = html(app_for(rt).get("/stats"))
    kinds = stats_section(body, "acme-kinds")
    assert "<h2>Acme kinds</h2>" in kinds and "What Acme &lt;counted&gt;." in kinds
    assert '<th scope="col" class="number">Things</th>' in kinds
    assert share_rows(kinds) == [("red", "3,000", "75.0"), ("blue", "1,000", "25.0")]
    assert "75.0 %" in kinds
    assert "Acme counted nothing." in stats_section(body, "acme-none")
    assert body.index('id="acme-kinds"') < body.index('id="acme-none"')


def test_a_stats_section_that_fails_leaves_the_page_standing(make_runtime):
    rt = make_runtime(extra=(("acme", BrokenSectionPlugin()), ("acme2", CountsSectionPlugin())))
    response = app_for(rt).get("/stats")
    assert response.status_code == 200
    body = html(response)
    assert "These counts cannot be read right now." in stats_section(body, "acme-broken")
    assert share_rows(stats_section(body, "acme-kinds"))


def test_a_stats_section_must_be_one(make_runtime):
    from ichnaea_host.plugins.manager import PluginLoadError

    with pytest.raises(PluginLoadError, match="StatsSection"):
        make_runtime(extra=(("acme", NotAStatsSectionPlugin()),))


@pytest.mark.slow
def test_downloads_from_the_asset_bucket(make_runtime, s3_url, monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1"),
                        ("ICHNAEA_CONTENT__S3_ENDPOINT_URL", s3_url)):
        monkeypatch.setenv(name, value)
    bucket = f"assets-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_url)
    s3.create_bucket(Bucket=bucket)
    for name, size in (("export/MLS-full-cell-export-2024-01-02T000000.csv.gz", 8192),
                       ("export/old/MLS-diff-cell-export-2024-01-02T010000.csv.gz", 1024),
                       ("tiles/0/0/0.png", 10)):
        s3.put_object(Bucket=bucket, Key=name, Body=b"x" * size)
    client = app_for(make_runtime(asset_bucket=bucket, asset_url="https://cdn.example.com/a"))
    body = html(client.get("/downloads"))
    assert ('<a href="https://cdn.example.com/a/export/MLS-full-cell-export-2024-01-02T000000'
            '.csv.gz">MLS-full-cell-export-2024-01-02T000000.csv.gz</a> (8kB)') in body
    assert "export/old/MLS-diff-cell-export-2024-01-02T010000.csv.gz" in body
    assert "0.png" not in body

    rt = make_runtime(asset_bucket="no-such-bucket")
    rt.redis.delete("cache:downloads:3")
    missing = app_for(rt)
    response = missing.get("/downloads")
    assert response.status_code == 200 and "could not be read just now" in html(response)


def test_cached_values_of_another_version_are_ignored(client, runtime):
    """A Redis shared with another version may hold other shapes under the same keys."""
    add_stat(4, today_utc(), 3)
    put_region_stats(DE={"gsm": 1, "wifi": 2})
    runtime.redis.set("cache:stats_wifi_json:2", json.dumps([[[1700000000000, 9]]]))
    runtime.redis.set("cache:stats_regions:4", json.dumps([{"region": "DE", "gsm": 1}]))
    runtime.redis.set("cache:stats:4", json.dumps({"metrics1": [], "metrics2": []}))
    runtime.redis.set("cache:downloads:3", b"not json")
    assert client.get("/stats_wifi.json").json["series"][0]["data"][0][1] == 3
    assert "Germany" in html(client.get("/stats/regions"))
    assert "WiFi networks" in html(client.get("/stats"))
    assert client.get("/downloads").status_code == 200
