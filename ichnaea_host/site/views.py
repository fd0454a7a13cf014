"""The public web site: pages, their JSON endpoints, static files and tiles.

Pages are cached by browsers and proxies for an hour (``max-age=3600``, as
the original); a page showing stale or missing figures only for a minute.
Static files, the favicon and robots.txt for a day. Nothing on a page comes
from another host, except the optional base map (``ICHNAEA_CONTENT__BASEMAP_URL``)
and the tiles and downloads of ``ASSET_URL``.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import mimetypes
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from markupsafe import Markup

from ichnaea_host.api.errors import APIError, RateLimitExceeded
from ichnaea_host.core.content_settings import content_settings, exports_dir, tiles_dir
from ichnaea_host.core.log import get_logger
from ichnaea_host.site import data, owner

log = get_logger("ichnaea.site")
# ES modules (MapLibre GL JS) need a JavaScript type, which not every
# system's MIME table gives .mjs
mimetypes.add_type("text/javascript", ".mjs")

HERE = Path(__file__).parent
STATIC = HERE / "static"
bp = Blueprint("site", __name__, template_folder="templates")

PAGE_AGE = 3600
DEGRADED_AGE = 60
FILE_AGE = 86400
TILE_AGE = 3600
ROBOTS = "".join(f"{line}\n" for line in (
    "User-agent: *", "Disallow: /downloads", "Disallow: /static/", "Disallow: /v1/",
    "Disallow: /v2/", "Disallow: /__heartbeat__", "Disallow: /__lbheartbeat__",
    "Disallow: /__version__"))
NAV = (("Home", "site.home"), ("API", "site.api"), ("Downloads", "site.downloads"),
       ("Map", "site.map_page"), ("Regions", "site.regions"), ("Statistics", "site.stats"))
STATE_NOTES = {
    data.STALE: "These figures could not be refreshed just now; they are the last ones "
                "this server had.",
    data.MISSING: "These figures could not be read just now. Please try again in a few "
                  "minutes.",
}


def _rt() -> Any:
    return current_app.extensions["ichnaea"]


def _cache() -> data.SiteCache:
    return current_app.extensions.setdefault("ichnaea.site.cache", data.SiteCache())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy() -> str:
    rt = _rt()
    assets = _origin(rt.settings.asset_url)
    basemap = _origin(content_settings(rt).basemap_url).replace("{s}", "*")  # a.tile, b.tile
    connect = " ".join(filter(None, ("'self'", assets)))
    images = " ".join(filter(None, ("'self'", assets, basemap, "data:", "blob:")))
    return (f"default-src 'self'; connect-src {connect}; font-src 'self'; img-src {images}; "
            "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'self'; "
            "frame-ancestors 'none'; form-action 'self'")


def cached(response: Response, seconds: int, public: bool = False) -> Response:
    response.cache_control.max_age = seconds
    if public:
        response.cache_control.public = True
    response.expires = datetime.now(UTC) + timedelta(seconds=seconds)
    return response


def page(template: str, title: str, *, state: str = data.FRESH, status: int = 200,
         **context: Any) -> Response:
    body = render_template(template, page_title=title, nav=NAV, state=state,
                           state_note=STATE_NOTES.get(state), year=datetime.now(UTC).year,
                           **context)
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = content_security_policy()
    if status == 200:
        cached(response, PAGE_AGE if state == data.FRESH else DEGRADED_AGE)
    return response


def json_response(value: Any) -> Response:
    """JSON with the keys in the given order (the original's ``title`` before ``data``)."""
    return Response(json.dumps(value, separators=(",", ":")), mimetype="application/json")


def tiles_url() -> str:
    """Where the map's coverage tiles are: ASSET_URL's ``tiles/``, or served by us."""
    asset_url = _rt().settings.asset_url
    if asset_url:
        return asset_url.rstrip("/") + "/tiles/"
    return "/static/datamap/tiles/"


def not_found() -> Response:
    """The 404 page, in the site's layout (also for unknown paths of the whole app)."""
    try:
        return page("404.html", "Not Found", status=404)
    except Exception as exc:  # noqa: BLE001 - a 404 must never become a 500
        log.warning("not_found_page_failed", error=type(exc).__name__)
        return Response("<h1>404 Not Found</h1>", status=404, mimetype="text/html")


# ---------------------------------------------------------------------------
# plain pages


@bp.route("/")
def home() -> Response:
    return page("home.html", "Overview", thumbnail=tiles_url() + "0/0/0@2x.png")


@bp.route("/api")
def api() -> Response:
    return page("api.html", "API", base_url=request.host_url.rstrip("/"))


@bp.route("/contact")
def contact() -> Response:
    return page("contact.html", "Contact Us", email=content_settings(_rt()).contact_email)


@bp.route("/optout", methods=["GET", "POST"])
def optout() -> Response:
    """The opt-out page; a POST is an owner's request (:mod:`.owner`): a form
    answers with the page and a message, a JSON body in JSON."""
    radios = [cls.PLUGIN_NAME for cls in _rt().plugins.station_updaters().values()
              if cls.OWNER_REQUESTS]
    if request.method == "GET":
        return page("optout.html", "Opt-Out", radios=radios)
    is_json = request.mimetype == "application/json"
    try:
        asked = owner.read_request(None if is_json else request.form.to_dict(),
                                   request.get_json(silent=True) if is_json else None)
        done = owner.carry_out(_rt(), current_app.extensions["ichnaea.fragments"],
                               g.get("client_ip"), asked)
    except APIError as exc:
        if is_json:
            return exc.response()
        response = page("optout.html", "Opt-Out", radios=radios, status=exc.code,
                        problem=owner.describe(exc), form=request.form)
        if isinstance(exc, RateLimitExceeded):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if is_json:
        return json_response({"result": done})
    response = page("optout.html", "Opt-Out", radios=radios, done=done, status=200)
    response.headers["Cache-Control"] = "no-store"
    response.headers.pop("Expires", None)
    return response


@bp.route("/privacy")
def privacy() -> Response:
    return page("privacy.html", "Privacy Notice")


@bp.route("/terms")
def terms() -> Response:
    return page("terms.html", "Terms of Service")


# ---------------------------------------------------------------------------
# map


@bp.route("/map")
def map_page() -> Response:
    settings = content_settings(_rt())
    return page("map.html", "Map", tiles=tiles_url() + "{z}/{x}/{y}.png",
                basemap_url=settings.basemap_url,
                basemap_attribution=settings.basemap_attribution,
                library_ready=(STATIC / "vendor" / "leaflet" / "leaflet.js").is_file())


@bp.route("/map.json")
def map_json() -> Response:
    return cached(json_response({"tiles_url": tiles_url()}), PAGE_AGE)


@functools.cache
def _blank_tile() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("P", (256, 256), 0).save(out, format="PNG", transparency=0)
    return out.getvalue()


@bp.route("/static/datamap/tiles/<int:z>/<int:x>/<name>")
def tile(z: int, x: int, name: str) -> Response:
    """A coverage tile; a tile without coverage is a transparent one, not a 404."""
    stem = name.removesuffix(".png")
    if not name.endswith(".png") or not stem.removesuffix("@2x").isdigit() or z > 20:
        abort(404)
    path = tiles_dir(_rt()) / str(z) / str(x) / name
    if path.is_file():
        response = send_from_directory(path.parent, path.name, max_age=TILE_AGE)
    else:
        response = Response(_blank_tile(), mimetype="image/png")
    return cached(response, TILE_AGE, public=True)


@bp.route("/static/datamap/tiles/data.json")
def tiles_state() -> Response:
    folder = tiles_dir(_rt())
    if not (folder / "data.json").is_file():
        abort(404)
    return cached(send_from_directory(folder, "data.json", max_age=TILE_AGE), TILE_AGE, True)


# ---------------------------------------------------------------------------
# coverage vector tiles, for apps (NeoStumbler's coverage TileJSON URL)

COVERAGE_JSON_AGE = 600
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def public_origin() -> str:
    """``scheme://host`` as the client sees it: a reverse proxy's
    ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` (the first of each, when
    well formed) win over the request's own."""
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    scheme = proto if proto in ("http", "https") else request.scheme
    return f"{scheme}://{host if _HOST.match(host) else request.host}"


def _shared(response: Response) -> Response:
    """Public data any web map may load (CORS), kept by proxies per origin."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.vary.update(("Host", "X-Forwarded-Host", "X-Forwarded-Proto"))
    return response


@bp.route("/tiles/coverage.json")
def coverage_tilejson() -> Response:
    """The TileJSON of the coverage vector tiles (paste its URL into NeoStumbler)."""
    from ichnaea_host.site import coverage

    template = public_origin() + request.script_root + "/tiles/coverage/{z}/{x}/{y}.pbf"
    response = json_response(coverage.tilejson(_rt(), template))
    return _shared(cached(response, COVERAGE_JSON_AGE, public=True))


@bp.route("/tiles/coverage/<int:z>/<int:x>/<name>")
def coverage_tile(z: int, x: int, name: str) -> Response:
    """A Mapbox Vector Tile of the coverage, gzipped for clients that accept it;
    an empty body where there is none (and before the first grid)."""
    from ichnaea_host.site import coverage

    stem, _, ext = name.partition(".")
    if ext not in ("pbf", "mvt") or not stem.isdigit() or z > coverage.ZOOM_LIMIT:
        abort(404)
    y = int(stem)
    if x >= 1 << z or y >= 1 << z:
        abort(404)
    found = coverage.tile(_rt(), z, x, y)
    if found is None:
        response = Response(b"", mimetype=coverage.MEDIA_TYPE)
        return _shared(cached(response, DEGRADED_AGE, public=True))
    body, tag = found
    response = Response(mimetype=coverage.MEDIA_TYPE)
    if request.accept_encodings["gzip"]:
        response.set_data(body)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response.set_data(gzip.decompress(body))
    response.vary.add("Accept-Encoding")
    response.set_etag(f"{tag}-{z}-{x}-{y}")
    cached(_shared(response), TILE_AGE, public=True)
    response.make_conditional(request)
    return response


# ---------------------------------------------------------------------------
# statistics


@bp.route("/stats")
def stats() -> Response:
    rt = _rt()
    metrics, state = _cache().get(rt, data.STATS_KEY, data.HOUR,
                                  lambda: data.global_stats(rt), [],
                                  data.list_of("name", "value"))
    sections = []
    for section in data.stats_sections(rt):
        rows, section_state = _cache().get(rt, data.section_cache_key(section), data.HOUR,
                                           functools.partial(data.section_rows, rt, section), [],
                                           data.list_of("label", "count", "share"))
        sections.append({"section": section, "rows": rows, "state": section_state})
    response = page("stats.html", "Statistics", state=state, metrics=metrics,
                    kinds=data.kinds(rt), sections=sections, accuracy=data.accuracy_rows(rt),
                    accuracy_days=rt.settings.calibration_days)
    if any(part["state"] != data.FRESH for part in sections):
        cached(response, DEGRADED_AGE)  # a section's counts come back sooner than the page's
    return response


@bp.route("/stats/regions")
def regions() -> Response:
    rt = _rt()
    table, state = _cache().drawn(rt, data.REGIONS_KEY, data.HOUR,
                                  lambda: data.region_rows(rt), [],
                                  data.list_of("code", "name", "known", "order", "values"),
                                  lambda rows, state: region_table(rt, rows, state))
    return page("regions.html", "Regions", state=state, table=table[0], sortable=table[1])


def region_table(rt: Any, rows: list[dict[str, Any]], state: str) -> tuple[Markup, bool]:
    """The regions table (HTML) and whether it has rows: 250 rows take ~10 ms to
    draw, so the page keeps it while the figures stay the same."""
    body = render_template("region_table.html", rows=rows, state=state,
                           columns=data.region_columns(rt, rows),
                           unknown=any(not row["known"] for row in rows))
    return Markup(body), bool(rows)  # safe: drawn by an autoescaping template


@bp.route("/stats_<name>.json")
def stats_json(name: str) -> Response:
    rt = _rt()
    kind = next((k for k in data.kinds(rt) if k.name == name), None)
    if kind is None:
        abort(404)
    points, state = _cache().get(rt, kind.json_cache_key, data.HOUR,
                                 lambda: data.histogram(rt, kind.stations_key), [],
                                 data.points_list)
    response = json_response(data.series_json(kind, points))
    return cached(response, PAGE_AGE if state == data.FRESH else DEGRADED_AGE)


# ---------------------------------------------------------------------------
# downloads


@bp.route("/downloads")
def downloads() -> Response:
    rt = _rt()

    def url(rel: str) -> str:
        return url_for("site.export_file", name=rel)

    empty: dict[str, list[Any]] = {"full": [], "diff1": [], "diff2": [], "sections": []}
    files, state = _cache().get(rt, data.DOWNLOADS_KEY, data.DOWNLOADS_TTL,
                                lambda: data.downloads(rt, url), empty, data.downloads_dict)
    return page("downloads.html", "Downloads", state=state, files=files,
                bucket=bool(rt.settings.asset_bucket))


@bp.route("/downloads/<path:name>")
def export_file(name: str) -> Response:
    """An export file of the local exports folder (without ASSET_BUCKET)."""
    return cached(send_from_directory(exports_dir(_rt()), name, max_age=PAGE_AGE), PAGE_AGE)


# ---------------------------------------------------------------------------
# files


@bp.route("/robots.txt")
def robots() -> Response:
    return cached(Response(ROBOTS, mimetype="text/plain"), FILE_AGE, public=True)


@bp.route("/favicon.ico")
def favicon() -> Response:
    response = send_from_directory(STATIC / "images", "favicon.ico", max_age=FILE_AGE,
                                   mimetype="image/vnd.microsoft.icon")
    return cached(response, FILE_AGE, public=True)


@bp.route("/apple-touch-icon-precomposed.png")
def touch_icon() -> Response:
    response = send_from_directory(STATIC / "images", "apple-touch-icon.png", max_age=FILE_AGE)
    return cached(response, FILE_AGE, public=True)


@bp.route("/static/<path:filename>")
def static(filename: str) -> Response:
    return cached(send_from_directory(STATIC, filename, max_age=FILE_AGE), FILE_AGE)
