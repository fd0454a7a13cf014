"""Coverage vector tiles for apps: a TileJSON document and Mapbox Vector Tiles.

Stumbler apps (NeoStumbler's ``coverageTileJsonUrl``) overlay where a service
has data from a TileJSON URL: a vector source whose ``vector_layers`` each
become a fill layer. Here each radio plugin's
:class:`~ichnaea_host.core.sections.CoverageLayer` (``wifi``, ``cell``,
``blue``) is one layer, drawn as the squares of a grid (``ICHNAEA_CONTENT__
COVERAGE_GRID`` cells per degree, 1000: 0.001 degree, the datamap's grid)
that hold its stations, with when the square last saw one (``last_seen``,
``last_seen_day``, ``age_days``) and how many (``stations``).

Two steps, each cheap where it runs:

* the worker's periodic job ``update_coverage`` (daily) asks every layer for
  its cells (one grouped read of each station table), merges them and keeps
  the grid in Redis (``{coverage}:grid``, with its content hash as the
  version in ``{coverage}:version``: the same data is the same version);
* the web process reads the grid once per version, draws a tile from it on
  demand (squares merged to at least four pixels at low zooms) and keeps the
  gzipped tile in Redis for a day under the version and the day (a new grid
  or a new day is a new key, so nothing is ever invalidated by hand). Tile
  URLs carry the version, so browsers and proxies may keep a tile an hour.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import math
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import click

from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.content_settings import content_settings
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.queues import REDIS_ERRORS

log = get_logger("ichnaea.coverage")

GRID_KEY = "{coverage}:grid"
VERSION_KEY = "{coverage}:version"
#: when the grid was last read (Unix seconds): the job reads it again after
#: ICHNAEA_CONTENT__COVERAGE_INTERVAL, whichever scheduler runs it
BUILT_KEY = "{coverage}:built"
TILE_KEY = "coverage:tile:{version}:{day}:{z}/{x}/{y}"
#: seconds a drawn tile stays in Redis
TILE_TTL = 86400
#: seconds a web process trusts the version it read last
VERSION_REFRESH = 10.0
EXTENT = 4096
#: the IANA media type of Mapbox Vector Tiles
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
#: tile units drawn past the edges, so that squares meet without seams
BUFFER = 64
#: the smallest square at a zoom, in pixels of a 256 pixel tile
MIN_PIXELS = 4
MAX_LAT = 85.0511287798
#: the deepest zoom a client may ask for (deeper zooms are drawn by the client)
ZOOM_LIMIT = 22
#: day ordinal of 1970-01-01
EPOCH_DAY = date(1970, 1, 1).toordinal()
FIELDS = {
    "last_seen": "String",
    "last_seen_day": "Number",
    "age_days": "Number",
    "stations": "Number",
}


@dataclasses.dataclass
class Cells:
    """The squares of one layer: lat and lon index, last-seen day ordinal, stations."""

    i: Any
    j: Any
    day: Any
    count: Any

    def __len__(self) -> int:
        return len(self.i)


def merge(i: Any, j: Any, day: Any, count: Any) -> Cells:
    """One entry per square: the latest day and the sum of the stations."""
    import numpy as np

    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    day, count = np.asarray(day, dtype=np.int64), np.asarray(count, dtype=np.int64)
    if not len(i):
        return Cells(i, j, day, count)
    codes = i * (1 << 32) + j
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    return Cells(i=i[order][starts], j=j[order][starts],
                 day=np.maximum.reduceat(day[order], starts),
                 count=np.add.reduceat(count[order], starts))


@dataclasses.dataclass
class Grid:
    """Every layer's squares, as one version of the coverage."""

    per_degree: int
    built: str
    layers: dict[str, Cells]
    descriptions: dict[str, str]
    version: str = ""
    _merged: dict[tuple[str, int], Cells] = dataclasses.field(default_factory=dict, repr=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def to_bytes(self) -> bytes:
        import numpy as np

        meta = {"per_degree": self.per_degree, "built": self.built,
                "layers": list(self.layers), "descriptions": self.descriptions}
        arrays: dict[str, Any] = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
        for n, cells in enumerate(self.layers.values()):
            arrays[f"{n}_i"] = cells.i.astype(np.int32)
            arrays[f"{n}_j"] = cells.j.astype(np.int32)
            arrays[f"{n}_day"] = cells.day.astype(np.int32)
            arrays[f"{n}_count"] = cells.count.astype(np.int32)
        out = io.BytesIO()
        np.savez_compressed(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, version: str = "") -> Grid:
        import numpy as np

        with np.load(io.BytesIO(data)) as arrays:
            meta = json.loads(arrays["meta"].tobytes())
            layers = {name: Cells(*(arrays[f"{n}_{part}"].astype(np.int64)
                                    for part in ("i", "j", "day", "count")))
                      for n, name in enumerate(meta["layers"])}
        return cls(per_degree=int(meta["per_degree"]), built=str(meta["built"]),
                   layers=layers, descriptions=dict(meta.get("descriptions") or {}),
                   version=version)

    def digest(self) -> str:
        """The version: a hash of the squares (not of when they were read)."""
        h = hashlib.sha256(str(self.per_degree).encode())
        for name, cells in self.layers.items():
            h.update(name.encode())
            for part in (cells.i, cells.j, cells.day, cells.count):
                h.update(part.astype("<i8").tobytes())
        return h.hexdigest()[:16]

    def merged(self, name: str, factor: int) -> Cells:
        """A layer's squares merged ``factor`` by ``factor`` (kept per version)."""
        with self._lock:
            found = self._merged.get((name, factor))
        if found is not None:
            return found
        cells = self.layers[name]
        found = cells if factor == 1 else merge(cells.i // factor, cells.j // factor,
                                                cells.day, cells.count)
        with self._lock:
            self._merged[(name, factor)] = found
        return found


# ---------------------------------------------------------------------------
# the worker: reading the layers' cells into the grid


def build(ctx: Any) -> Grid:
    """Ask every coverage layer for its cells (read-only connection)."""
    per_degree = content_settings(ctx).coverage_grid
    layers: dict[str, Cells] = {}
    descriptions: dict[str, str] = {}
    for name, layer in sorted(ctx.plugins.coverage_layers.items()):
        rows: Iterable[tuple[int, int, Any, int]] = layer.cells(ctx, per_degree)
        i, j, day, count = [], [], [], []
        for row in rows:
            i.append(row[0])
            j.append(row[1])
            seen = row[2]
            day.append(seen.toordinal() if isinstance(seen, date) else int(seen))
            count.append(row[3])
        layers[name] = merge(i, j, day, count)
        descriptions[name] = layer.description
    built = datetime.now(UTC).replace(microsecond=0).isoformat()
    grid = Grid(per_degree=per_degree, built=built, layers=layers, descriptions=descriptions)
    grid.version = grid.digest()
    return grid


def update(ctx: Any) -> Grid:
    """Build the grid and keep it in Redis: the periodic job ``update_coverage``."""
    start = time.perf_counter()
    grid = build(ctx)
    data = grid.to_bytes()
    pipe = ctx.redis.pipeline(transaction=True)  # both keys share the {coverage} tag
    pipe.set(GRID_KEY, data)
    pipe.set(VERSION_KEY, grid.version)
    squares = sum(len(cells) for cells in grid.layers.values())
    pipe.set(BUILT_KEY, f"{time.time():.0f} {squares}")
    pipe.execute()
    _remember(grid)
    log.info("coverage_updated", version=grid.version, bytes=len(data),
             duration_s=round(time.perf_counter() - start, 3),
             **{f"{name}_cells": len(cells) for name, cells in grid.layers.items()})
    return grid


def update_job(ctx: Any) -> bool:
    """The periodic job: the grid is read again once it is
    ``ICHNAEA_CONTENT__COVERAGE_INTERVAL`` seconds old (never with 0), and at
    every check while it is empty (a new service's first stations show within
    minutes; reading empty tables costs nothing)."""
    interval = content_settings(ctx).coverage_interval
    if interval <= 0:
        return False
    built = ctx.redis.get(BUILT_KEY)
    if built is not None:
        at, _, squares = (built.decode() if isinstance(built, bytes) else str(built)).partition(" ")
        if time.time() - float(at) < interval and squares != "0":
            return False
    update(ctx)
    return False


@click.command("coverage")
@click.pass_context
def coverage_command(ctx: click.Context) -> None:
    """Read the station tables into the coverage vector tiles' grid now."""
    from ichnaea_host.site.tiles import _runtime

    grid = update(_runtime(ctx))
    counts = ", ".join(f"{len(cells)} {name}" for name, cells in grid.layers.items())
    click.echo(f"coverage: version {grid.version}: squares {counts or 'none'} "
               f"(grid of {grid.per_degree} per degree)")


# ---------------------------------------------------------------------------
# the web: the grid of this process, read once per version

_state_lock = threading.Lock()
_state: dict[str, Any] = {"grid": None, "checked": 0.0, "redis": None}


def _remember(grid: Grid) -> None:
    with _state_lock:
        _state["grid"] = grid


def current(ctx: Any) -> Grid | None:
    """The latest grid: this process's copy while Redis keeps the same
    version (asked at most every ten seconds); None before the first
    ``update_coverage``. With Redis down, the copy this process has."""
    now = time.monotonic()
    with _state_lock:
        grid: Grid | None = _state["grid"]
        fresh = (_state["redis"] is ctx.redis and grid is not None
                 and now - _state["checked"] < VERSION_REFRESH)
    if fresh:
        return grid
    try:
        version = ctx.redis.get(VERSION_KEY)
        if version is None:
            grid = None
        else:
            version = version.decode()
            if grid is None or grid.version != version:
                data = ctx.redis.get(GRID_KEY)
                grid = Grid.from_bytes(data, version) if data else None
    except REDIS_ERRORS as exc:
        log.warning("coverage_redis_unavailable", error=type(exc).__name__)
        return grid
    with _state_lock:
        _state.update(grid=grid, checked=now, redis=ctx.redis)
    return grid


# ---------------------------------------------------------------------------
# drawing a tile


def factor_at(zoom: int, per_degree: int) -> int:
    """How many grid squares (per side) one drawn square holds at a zoom:
    the smallest power of two making it at least MIN_PIXELS wide."""
    wanted = MIN_PIXELS * 360.0 * per_degree / (256.0 * (1 << zoom))
    return 1 if wanted <= 1 else 1 << math.ceil(math.log2(wanted) - 1e-9)


def max_zoom(per_degree: int) -> int:
    """The first zoom that draws the grid's own squares (deeper: overzoomed)."""
    zoom = 0
    while factor_at(zoom, per_degree) > 1:
        zoom += 1
    return zoom


def _mercator_y(lat: Any) -> Any:
    import numpy as np

    s = np.sin(np.radians(np.clip(lat, -MAX_LAT, MAX_LAT)))
    return 0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)


def _lat_of(y: float) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y))))


def _layer_features(cells: Cells, size: float, zoom: int, x: int, y: int,
                    today: int) -> list[dict[str, Any]]:
    import numpy as np
    import shapely

    n = 1 << zoom
    margin = BUFFER / EXTENT / n  # the buffer as a fraction of the world
    west, east = (x / n - margin) * 360 - 180, ((x + 1) / n + margin) * 360 - 180
    north = _lat_of(max(y / n - margin, 0.0))
    south = _lat_of(min((y + 1) / n + margin, 1.0))
    lon0 = cells.j * size - 180
    lat0 = cells.i * size - 90
    inside = ((lon0 + size > west) & (lon0 < east) & (lat0 + size > south) & (lat0 < north))
    if not inside.any():
        return []
    lon0, lat0 = lon0[inside], lat0[inside]
    day, count = cells.day[inside], cells.count[inside]
    low, high = -BUFFER, EXTENT + BUFFER
    x0 = np.clip(np.rint(((lon0 + 180) / 360 * n - x) * EXTENT), low, high)
    x1 = np.clip(np.rint(((lon0 + size + 180) / 360 * n - x) * EXTENT), low, high)
    y0 = np.clip(np.rint((_mercator_y(lat0 + size) * n - y) * EXTENT), low, high)
    y1 = np.clip(np.rint((_mercator_y(lat0) * n - y) * EXTENT), low, high)
    keep = (x1 > x0) & (y1 > y0)  # squares thinner than a tile unit vanish
    # counter-clockwise in x/y terms: a positive area with y down, the
    # exterior rings of the MVT specification (so no winding check is needed)
    squares = shapely.box(x0[keep], y0[keep], x1[keep], y1[keep], ccw=True)
    return [{"geometry": square,
             "properties": {"last_seen": date.fromordinal(seen).isoformat(),
                            "last_seen_day": seen - EPOCH_DAY,
                            "age_days": max(today - seen, 0),
                            "stations": stations}}
            for square, seen, stations in zip(squares.tolist(), day[keep].tolist(),
                                              count[keep].tolist(), strict=True)]


def draw(grid: Grid, zoom: int, x: int, y: int, today: date | None = None) -> bytes:
    """The Mapbox Vector Tile (uncompressed) of one tile."""
    import mapbox_vector_tile

    day = (today or today_utc()).toordinal()
    factor = factor_at(zoom, grid.per_degree)
    size = factor / grid.per_degree
    layers = []
    for name in grid.layers:
        features = _layer_features(grid.merged(name, factor), size, zoom, x, y, day)
        if features:
            layers.append({"name": name, "features": features})
    if not layers:
        return b""
    return bytes(mapbox_vector_tile.encode(layers, default_options={
        "extents": EXTENT, "y_coord_down": True, "check_winding_order": False}))


def tile(ctx: Any, zoom: int, x: int, y: int) -> tuple[bytes, str] | None:
    """A tile, gzipped, and its version tag (``<grid version>-<day>``), from
    Redis or drawn (and kept); None before the first ``update_coverage``."""
    grid = current(ctx)
    if grid is None:
        return None
    today = today_utc()
    tag = f"{grid.version}-{today.toordinal() - EPOCH_DAY}"
    key = TILE_KEY.format(version=grid.version, day=today.isoformat(), z=zoom, x=x, y=y)
    try:
        cached = ctx.redis.get(key)
    except REDIS_ERRORS:
        cached = None
    if cached is not None:
        return bytes(cached), tag
    body = gzip.compress(draw(grid, zoom, x, y, today), compresslevel=6, mtime=0)
    try:
        ctx.redis.set(key, body, ex=TILE_TTL)
    except REDIS_ERRORS as exc:
        log.warning("coverage_tile_not_cached", error=type(exc).__name__)
    return body, tag


def tilejson(ctx: Any, tiles_url: str) -> dict[str, Any]:
    """The TileJSON 3.0.0 document; ``tiles_url`` is the absolute template
    (``https://host/tiles/coverage/{z}/{x}/{y}.pbf``)."""
    grid = current(ctx)
    per_degree = grid.per_degree if grid else content_settings(ctx).coverage_grid
    zoom = max_zoom(per_degree)
    names = list(grid.layers) if grid else sorted(ctx.plugins.coverage_layers)
    descriptions = grid.descriptions if grid else {
        name: layer.description for name, layer in ctx.plugins.coverage_layers.items()}
    url = tiles_url
    if grid is not None:
        url += f"?v={grid.version}-{today_utc().toordinal() - EPOCH_DAY}"
    doc: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": "Coverage",
        "description": "Where this location service has data, one layer per kind of "
                       "network: squares holding stations, with when each last saw one.",
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [url],
        "minzoom": 0,
        "maxzoom": zoom,
        "bounds": [-180.0, -MAX_LAT, 180.0, MAX_LAT],
        "vector_layers": [{"id": name, "description": descriptions.get(name, ""),
                           "minzoom": 0, "maxzoom": zoom, "fields": dict(FIELDS)}
                          for name in names],
    }
    if grid is not None:
        doc["updated"] = grid.built
        bounds = _bounds(grid)
        if bounds is not None:
            doc["bounds"] = bounds
            doc["center"] = [round((bounds[0] + bounds[2]) / 2, 6),
                             round((bounds[1] + bounds[3]) / 2, 6), min(zoom, 10)]
    return doc


def _bounds(grid: Grid) -> list[float] | None:
    """West, south, east, north of every square (clients ask no tile outside)."""
    parts = [cells for cells in grid.layers.values() if len(cells)]
    if not parts:
        return None
    size = 1.0 / grid.per_degree
    west = min(int(c.j.min()) for c in parts) * size - 180
    east = (max(int(c.j.max()) for c in parts) + 1) * size - 180
    south = min(int(c.i.min()) for c in parts) * size - 90
    north = (max(int(c.i.max()) for c in parts) + 1) * size - 90
    return [round(max(west, -180.0), 6), round(max(south, -MAX_LAT), 6),
            round(min(east, 180.0), 6), round(min(north, MAX_LAT), 6)]
