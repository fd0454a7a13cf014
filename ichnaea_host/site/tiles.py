"""Coverage tiles: PNG map tiles drawn from the datamap grid (``ichnaea map render``).

Each grid cell seen in the last year gives up to six points (six for cells
seen within the last month and a half, none after about eleven and a half
months: ``(13 - round(age in days / 30)) // 2``), placed at stable
pseudo-random spots inside its 0.001 degree cell, so the map shows where
reports came from without showing any station. The points are counted per
pixel of every web-mercator tile of zoom 0 to 11 (and a 512 pixel zoom 0
tile, ``0/0/0@2x.png``); the count sets the transparency of a solid
``#0088FF`` (no data: fully transparent), in a 32-entry palette PNG.

Runs are incremental: ``tiles/data.json`` remembers the day of the last run,
and only the tiles holding grid cells that were seen since then, or whose
point count changed with their age, are drawn again. A tile whose bytes did
not change is not rewritten, so ``--upload`` sends only changed tiles to
``ASSET_BUCKET`` (and deletes the orphans). Nor is the whole grid read again:
the renderer keeps a snapshot of it beside the tiles folder
(``tiles.grid.npz``) and reads only the cells seen since (:func:`sync_grid`),
so an incremental run draws the same tiles a full run would, from one day's
rows instead of the whole tables.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.content_settings import tiles_dir
from ichnaea_host.core.files import asset_bucket, asset_client
from ichnaea_host.core.log import get_logger
from ichnaea_host.pipeline import datamap

log = get_logger("ichnaea.tiles")

TILE = 256
MAX_ZOOM = 11
COLOUR = (0x00, 0x88, 0xFF)
#: palette entries: 0 is transparent, the others are COLOUR with rising opacity
LEVELS = 32
#: bump when the drawing changes: the next run draws every tile again
RENDERER = "1"
STATE_FILE = "data.json"
MAX_LAT = 85.0511287798
CACHE_CONTROL = "max-age=3600, public"
DELETE_BATCH = 100


@dataclasses.dataclass
class Grid:
    """Every datamap cell: scaled latitude, longitude and last-seen day ordinal."""

    lat: Any
    lon: Any
    day: Any

    def __len__(self) -> int:
        return len(self.lat)

    def where(self, mask: Any) -> Grid:
        return Grid(lat=self.lat[mask], lon=self.lon[mask], day=self.day[mask])


@dataclasses.dataclass
class RenderStats:
    row_count: int = 0
    tile_new: int = 0
    tile_changed: int = 0
    tile_unchanged: int = 0
    tile_deleted: int = 0
    tile_count: int = 0
    full: bool = False
    #: reading the grid (the tables, or the snapshot and the cells seen since)
    read_duration_s: float = 0.0
    #: placing the points and choosing the tiles
    plan_duration_s: float = 0.0
    #: drawing and writing the tiles
    render_duration_s: float = 0.0

    def summary(self) -> str:
        kind = "full" if self.full else "incremental"
        return (f"{kind} run over {self.row_count} grid cells: {self.tile_new} new, "
                f"{self.tile_changed} changed, {self.tile_deleted} deleted, "
                f"{self.tile_unchanged} unchanged tiles ({self.tile_count} in all; "
                f"read {self.read_duration_s:.1f} s, plan {self.plan_duration_s:.1f} s, "
                f"draw {self.render_duration_s:.1f} s)")


# ---------------------------------------------------------------------------
# reading the grid
#
# A full run reads every cell of the four tables. The renderer keeps what it
# read in a snapshot next to the tiles folder (``<folder>.grid.npz``, outside
# the folder, so that neither the web server nor ``--upload`` ever sends it),
# and an incremental run reads only the cells seen since that snapshot, through
# the tables' index on ``modified``: one day's cells instead of the whole table.

#: the ``modified`` column as a day ordinal, per dialect
_DAY_SQL = {"mysql": "TO_DAYS(modified) - 365",  # TO_DAYS('0001-01-01') is 366
            "sqlite": "CAST(julianday(modified) - 1721424.5 AS INTEGER)"}


def _dialect(db: Any) -> str:
    import peewee

    return "mysql" if isinstance(db, peewee.MySQLDatabase) else "sqlite"


def read_grid(db: Any, since: date | None = None) -> Grid:
    """The cells of the four datamap tables, or those seen on ``since`` or later."""
    import numpy as np

    raw: list[bytes] = []
    days: list[int] = []
    where, params = "", ()  # type: tuple[str, tuple[Any, ...]]
    if since is not None:
        where, params = f" WHERE modified >= {db.param}", (since.isoformat(),)
    for shard in datamap.SHARDS:
        cursor = db.execute_sql(
            f"SELECT grid, {_DAY_SQL[_dialect(db)]} FROM datamap_{shard}{where}", params)
        while rows := cursor.fetchmany(50_000):
            raw.extend(bytes(grid) for grid, _ in rows)
            days.extend(day for _, day in rows)
    packed = np.frombuffer(b"".join(raw), dtype=">u4").reshape(-1, 2).astype(np.int64)
    return Grid(lat=packed[:, 0] - 90000, lon=packed[:, 1] - 180000,
                day=np.array(days, dtype=np.int64))


def load_grid(db: Any) -> Grid:
    """Every cell of the four datamap tables (read-only connection)."""
    return read_grid(db)


def _count_since(db: Any, day: date) -> int:
    """How many cells the tables hold that were seen on ``day`` or later (index only)."""
    total = 0
    for shard in datamap.SHARDS:
        cursor = db.execute_sql(
            f"SELECT COUNT(*) FROM datamap_{shard} WHERE modified >= {db.param}",
            (day.isoformat(),))
        total += int(cursor.fetchone()[0])
    return total


def snapshot_path(out: Path) -> Path:
    return out.with_name(out.name + ".grid.npz")


def _read_snapshot(path: Path) -> tuple[Grid, date] | None:
    import numpy as np

    try:
        with np.load(path) as data:
            grid = Grid(lat=data["lat"].astype(np.int64), lon=data["lon"].astype(np.int64),
                        day=data["day"].astype(np.int64))
            read_day = date.fromordinal(int(data["read_day"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # gone or damaged: read all
        return None
    return grid, read_day


def _write_snapshot(path: Path, grid: Grid, read_day: date) -> None:
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        np.savez(f, lat=grid.lat.astype(np.int32), lon=grid.lon.astype(np.int32),
                 day=grid.day.astype(np.int32), read_day=np.int64(read_day.toordinal()))
    os.replace(tmp, path)


def _codes(grid: Grid) -> Any:
    """One number per cell and day (cell key above, day ordinal in the low 20 bits)."""
    return ((grid.lat + 90000) * 1_000_000 + (grid.lon + 180000)) << 20 | grid.day


def _from_codes(codes: Any) -> Grid:
    keys = codes >> 20
    return Grid(lat=keys // 1_000_000 - 90000, lon=keys % 1_000_000 - 180000,
                day=codes & ((1 << 20) - 1))


def _merge(old: Grid, new: Grid) -> Grid:
    """``old`` with the cells of ``new`` added or, for cells seen again, replaced."""
    import numpy as np

    both = Grid(lat=np.concatenate([new.lat, old.lat]), lon=np.concatenate([new.lon, old.lon]),
                day=np.concatenate([new.day, old.day]))
    _, first = np.unique(_codes(both) >> 20, return_index=True)
    return both.where(first)  # ``new`` comes first: its day wins


@dataclasses.dataclass
class Synced:
    """The grid to draw, and the cells that changed since the snapshot."""

    grid: Grid
    #: the cells seen since the snapshot and, when the tables changed behind
    #: its back, every cell that differs from it (gone, new or with another
    #: day): their tiles are drawn again. None: no snapshot to compare with
    touched: Grid | None
    path: Path
    read_day: date

    def save(self) -> None:
        """Keep the grid for the next run (once the tiles are drawn from it)."""
        _write_snapshot(self.path, self.grid, self.read_day)


def sync_grid(db: Any, out: Path, *, full: bool = False, today: date | None = None) -> Synced:
    """The grid to draw: the snapshot brought up to date, or (``full``) the tables.

    A cell's ``modified`` day only ever moves forward, so the cells seen since
    the snapshot's day are all that changed, except for deletions: the daily
    clean-up's (cells a year old, which draw no point) are dropped here too.
    Anything else (a restored database, a hand-made change) shows as a
    different number of cells: the tables are read again, and the cells that
    differ from the snapshot are drawn again.
    """
    import numpy as np

    path = snapshot_path(out)
    read_day = today_utc()  # the tables' days are the service's UTC days
    kept = (min(today or read_day, read_day) - timedelta(days=datamap.KEEP_DAYS)).toordinal()
    found = None if full else _read_snapshot(path)
    if found is None:
        grid = read_grid(db)
        return Synced(grid.where(grid.day >= kept), None, path, read_day)
    old, since = found
    seen = read_grid(db, since)
    merged = _merge(old, seen)
    merged = merged.where(merged.day >= kept)
    if len(merged) == _count_since(db, date.fromordinal(kept)):
        return Synced(merged, seen, path, read_day)
    log.warning("tiles_snapshot_stale", cells=len(merged))
    grid = read_grid(db)
    grid = grid.where(grid.day >= kept)
    differ = _from_codes(np.setxor1d(_codes(merged), _codes(grid)))
    return Synced(grid, _merge(seen, differ), path, read_day)


def point_counts(days: Any, today: int) -> Any:
    """Points per cell: ``(13 - round(age_days / 30)) // 2``, 0 to 6."""
    import numpy as np

    months = np.rint(np.maximum(today - days, 0) / 30.0)  # half to even, as Python's round
    return (np.maximum(13 - months, 0) // 2).astype(np.int64)


def _mix(lat: Any, lon: Any, k: Any) -> Any:
    """A stable pseudo-random 64-bit number per (cell, point)."""
    import numpy as np

    h = ((lat + 90000).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
         ^ (lon + 180000).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
         ^ k.astype(np.uint64) * np.uint64(0x165667B19E3779F9))
    h ^= h >> np.uint64(31)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(29)
    return h


def mercator_points(grid: Grid, counts: Any) -> tuple[Any, Any]:
    """The points of the cells, as web-mercator fractions (x, y) of the world."""
    import numpy as np

    index = np.repeat(np.arange(len(counts)), counts)
    k = np.arange(len(index)) - np.repeat(np.cumsum(counts) - counts, counts)
    lat_s, lon_s = grid.lat[index], grid.lon[index]
    h = _mix(lat_s, lon_s, k)
    fy = (h & np.uint64(0xFFFF)).astype(np.float64) / 65536.0
    fx = ((h >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.float64) / 65536.0
    lat = np.clip((lat_s + fy - 0.5) / 1000.0, -MAX_LAT, MAX_LAT)
    lon = np.clip((lon_s + fx - 0.5) / 1000.0, -180.0, 180.0)
    return _to_mercator(lat, lon)


def _to_mercator(lat: Any, lon: Any) -> tuple[Any, Any]:
    import numpy as np

    x = (lon + 180.0) / 360.0
    s = np.sin(np.radians(np.clip(lat, -MAX_LAT, MAX_LAT)))
    y = 0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)
    top = np.nextafter(1.0, 0.0)
    return np.clip(x, 0.0, top), np.clip(y, 0.0, top)


def _spread(v: Any) -> Any:
    """The bits of ``v`` (below 2**32) with a zero bit between each."""
    import numpy as np

    v = v.astype(np.uint64)
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF),
                        (4, 0x0F0F0F0F0F0F0F0F), (2, 0x3333333333333333),
                        (1, 0x5555555555555555)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


@functools.cache
def _spread_table() -> Any:
    """:func:`_spread` of every 10-bit number (looking it up is twice as fast)."""
    import numpy as np

    return _spread(np.arange(1 << 10)).astype(np.int64)


def _z_order(x: Any, y: Any) -> Any:
    """The Z-order (Morton) key of pixels or tiles below 2**20: x and y bits interleaved."""
    table = _spread_table()
    sx = table[x & 1023] | (table[x >> 10] << 20)
    sy = table[y & 1023] | (table[y >> 10] << 20)
    return (sx << 1) | sy


def _sorting(keys: Any) -> Any:
    """The order that sorts the 38-bit keys (the index rides in the low bits:
    sorting numbers is several times faster than numpy's argsort)."""
    import numpy as np

    bits = max(len(keys) - 1, 1).bit_length()
    if 2 * (MAX_ZOOM + 8) + bits > 63:
        return np.argsort(keys)
    packed = np.sort((keys << bits) | np.arange(len(keys)))
    return packed & ((1 << bits) - 1)


def _tile_ids(x: Any, y: Any, zoom: int) -> Any:
    import numpy as np

    n = 1 << zoom
    tx = (x * n).astype(np.int64)
    ty = (y * n).astype(np.int64)
    return tx * n + ty


# ---------------------------------------------------------------------------
# drawing


@functools.cache
def _palette() -> tuple[list[int], bytes]:
    colours = list(COLOUR) * LEVELS
    alphas = bytes(round(255 * i / (LEVELS - 1)) for i in range(LEVELS))
    return colours, alphas


@functools.cache
def _levels(zoom: int) -> Any:
    """Palette index per point count at a zoom (counts past the end are opaque)."""
    import numpy as np

    scale = 0.35 * 2.0 ** (zoom - MAX_ZOOM)
    counts = np.arange(int(math.ceil(1 / scale)) + 1)
    alpha = np.clip(0.25 + 0.75 * np.sqrt(counts * scale), 0.0, 1.0)
    index = np.clip(np.ceil(alpha * (LEVELS - 1)), 1, LEVELS - 1)
    index[0] = 0
    return index.astype(np.uint8)


def draw(counts: Any, zoom: int) -> bytes:
    """A PNG of one tile from its per-pixel point counts.

    ``zoom`` is the zoom of the pixel grid (1 for the 512 pixel zoom 0 tile).
    A pixel with points is at least a quarter opaque, so that a single cell
    shows at every zoom; fully opaque from about three points per pixel at
    zoom 11, and four times as many for each zoom below.
    """
    import numpy as np

    levels = _levels(zoom)
    return _png(levels[np.minimum(counts, len(levels) - 1)])


def draw_points(pixels: Any, size: int, zoom: int) -> bytes:
    """:func:`draw` for a tile given its points' pixel numbers (``y * size + x``).

    Most tiles hold few points: counting only the pixels they fall in is
    cheaper than counting every pixel of the tile; the picture is the same.
    """
    import numpy as np

    levels = _levels(zoom)
    if len(pixels) * 16 >= size * size:
        return draw(np.bincount(pixels, minlength=size * size).reshape(size, size), zoom)
    used, counts = np.unique(pixels, return_counts=True)
    index = np.zeros(size * size, dtype=np.uint8)
    index[used] = levels[np.minimum(counts, len(levels) - 1)]
    return _png(index.reshape(size, size))


def _png(index: Any) -> bytes:
    """A palette PNG of per-pixel palette indexes."""
    import io

    from PIL import Image

    height, width = index.shape
    image = Image.frombytes("P", (width, height), index.tobytes())
    colours, alphas = _palette()
    image.putpalette(colours)
    out = io.BytesIO()
    image.save(out, format="PNG", transparency=alphas, compress_level=1)
    return out.getvalue()


def _write(path: Path, data: bytes, stats: RenderStats) -> None:
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    if old == data:
        stats.tile_unchanged += 1
        return
    if old is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # the web server never sees half a tile
    if old is None:
        stats.tile_new += 1
    else:
        stats.tile_changed += 1


def _remove(path: Path, stats: RenderStats) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    stats.tile_deleted += 1


def tile_path(out: Path, zoom: int, x: int, y: int, suffix: str = "") -> Path:
    return out / str(zoom) / str(x) / f"{y}{suffix}.png"


def existing_tiles(out: Path) -> Iterator[Path]:
    for zoom in range(MAX_ZOOM + 1):
        folder = out / str(zoom)
        if folder.is_dir():
            yield from folder.glob("*/*.png")


def read_state(out: Path) -> dict[str, Any]:
    try:
        state = json.loads((out / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _cell_tiles(cells: Grid) -> Any:
    """The zoom-11 tiles the corners of the cells fall in."""
    import numpy as np

    ids = []
    for dlat in (-0.5, 0.5):
        for dlon in (-0.5, 0.5):
            x, y = _to_mercator((cells.lat + dlat) / 1000.0, (cells.lon + dlon) / 1000.0)
            ids.append(_tile_ids(x, y, MAX_ZOOM))
    return np.unique(np.concatenate(ids))


def needs_full(state: dict[str, Any], full: bool = False) -> bool:
    """Whether a run draws every tile: asked to, first run, or a new way of drawing."""
    return bool(full or state.get("renderer") != RENDERER or not state.get("grid_day"))


class Renderer:
    """One run: what to draw (:meth:`plan`), then drawing it (:meth:`run`).

    Every point is placed once, on the pixel grid of zoom 11 (2**19 pixels
    across the world); a pixel of zoom ``z`` is that pixel shifted right by
    ``11 - z`` bits, exactly the pixel a point falls in when placed at zoom
    ``z`` itself. The points are sorted in Z-order (the bits of x and y
    interleaved), in which every tile of every zoom is one run of points, so
    drawing a tile reads only the points inside it.
    """

    def __init__(self, grid: Grid, out: Path, *, today: date | None = None,
                 full: bool = False, touched: Grid | None = None) -> None:
        import numpy as np

        self.grid = grid
        self.out = out
        self.today = (today or today_utc()).toordinal()
        state = read_state(out)
        last = state.get("grid_day")
        self.full = needs_full(state, full)
        self._last_count = state.get("tile_count")
        #: the phases before drawing, for the run's figures (set by :func:`render`)
        self.timings: dict[str, float] = {}
        counts = point_counts(grid.day, self.today)
        x, y = mercator_points(grid, counts)
        world = TILE << MAX_ZOOM
        px, py = (x * world).astype(np.int64), (y * world).astype(np.int64)
        if self.full:
            self.dirty = np.unique((px >> 8) * (1 << MAX_ZOOM) + (py >> 8))
        else:
            last_day = date.fromisoformat(str(last)).toordinal()
            changed = grid.where((grid.day >= last_day)
                                 | (counts != point_counts(grid.day, last_day)))
            if touched is not None:
                changed = _merge(changed, touched)
            self.dirty = _cell_tiles(changed)
        keys = _z_order(px, py)
        order = _sorting(keys)
        #: the points' zoom-11 pixels and Z-order keys, in Z-order
        self.px, self.py, self.keys = px[order], py[order], keys[order]
        #: the tiles to draw, per zoom
        self.plan = {zoom: np.unique(self._parents(self.dirty, zoom))
                     for zoom in range(MAX_ZOOM + 1)}

    @property
    def total(self) -> int:
        return sum(len(tiles) for tiles in self.plan.values())

    def _parents(self, ids: Any, zoom: int) -> Any:
        shift = MAX_ZOOM - zoom
        n_max = 1 << MAX_ZOOM
        tx, ty = ids // n_max, ids % n_max
        return (tx >> shift) * (1 << zoom) + (ty >> shift)

    def _runs(self, zoom: int, tiles: Any) -> tuple[Any, Any]:
        """Where each tile's points start and end in the Z-ordered points."""
        import numpy as np

        n = 1 << zoom
        bits = 2 * (MAX_ZOOM - zoom + 8)  # the key bits below a tile of this zoom
        first = _z_order(tiles // n, tiles % n) << bits
        return (np.searchsorted(self.keys, first, side="left"),
                np.searchsorted(self.keys, first + (1 << bits), side="left"))

    def run(self, progress: Callable[[int], None] = lambda n: None) -> RenderStats:

        start = time.perf_counter()
        stats = RenderStats(row_count=len(self.grid), full=self.full,
                            read_duration_s=self.timings.get("read", 0.0),
                            plan_duration_s=self.timings.get("plan", 0.0))
        drawn: set[Path] = set()
        for zoom in range(MAX_ZOOM + 1):
            wanted = self.plan[zoom]
            if not len(wanted):
                continue
            n, down = 1 << zoom, MAX_ZOOM - zoom
            starts, ends = self._runs(zoom, wanted)
            for tile, lo, hi in zip(wanted.tolist(), starts.tolist(), ends.tolist(),
                                    strict=True):
                path = tile_path(self.out, zoom, tile // n, tile % n)
                if hi > lo:
                    pixels = (((self.py[lo:hi] >> down) & (TILE - 1)) * TILE
                              + ((self.px[lo:hi] >> down) & (TILE - 1)))
                    _write(path, draw_points(pixels, TILE, zoom), stats)
                    drawn.add(path)
                else:
                    _remove(path, stats)
                progress(1)
            if zoom == 0 and self._draw_retina(stats):
                drawn.add(tile_path(self.out, 0, 0, 0, "@2x"))
        if self.full or not isinstance(self._last_count, int):
            if self.full:
                for path in list(existing_tiles(self.out)):
                    if path not in drawn:
                        _remove(path, stats)
            stats.tile_count = sum(1 for _ in existing_tiles(self.out))
        else:  # counting 30,000 files would take longer than the drawing
            stats.tile_count = self._last_count + stats.tile_new - stats.tile_deleted
        stats.render_duration_s = round(time.perf_counter() - start, 3)
        self._save_state(stats)
        return stats

    def _draw_retina(self, stats: RenderStats) -> bool:
        """``0/0/0@2x.png``: zoom 0 at 512 pixels (the home page's thumbnail)."""

        path = tile_path(self.out, 0, 0, 0, "@2x")
        if not len(self.px):
            _remove(path, stats)
            return False
        size, down = 2 * TILE, MAX_ZOOM - 1
        _write(path, draw_points((self.py >> down) * size + (self.px >> down), size, 1), stats)
        return True

    def _save_state(self, stats: RenderStats) -> None:
        state = {
            "updated": datetime.utcnow().replace(microsecond=0).isoformat(),  # noqa: DTZ003
            "grid_day": date.fromordinal(self.today).isoformat(),
            "renderer": RENDERER,
            **dataclasses.asdict(stats),
        }
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / STATE_FILE).write_text(json.dumps(state, indent=1) + "\n", "utf-8")


def render(rt: Any, out: Path | None = None, *, full: bool = False, today: date | None = None,
           run_with: Callable[[Renderer], RenderStats] | None = None) -> RenderStats:
    """Draw the tiles of the datamap into ``out`` (default: the tiles folder).

    ``run_with`` runs the planned renderer (the command wraps it in a progress bar).
    """
    out = out or tiles_dir(rt)
    full = needs_full(read_state(out), full)
    start = time.perf_counter()
    synced = sync_grid(rt.db.ro, out, full=full, today=today)
    read = time.perf_counter()
    renderer = Renderer(synced.grid, out, today=today, full=full, touched=synced.touched)
    renderer.timings = {"read": round(read - start, 3),
                        "plan": round(time.perf_counter() - read, 3)}
    stats = renderer.run() if run_with is None else run_with(renderer)
    synced.save()
    log.info("tiles_rendered", **dataclasses.asdict(stats))
    return stats


# ---------------------------------------------------------------------------
# uploading


def upload(rt: Any, out: Path | None = None) -> dict[str, int]:
    """Mirror the tiles folder to ``ASSET_BUCKET`` under ``tiles/``.

    Only new and changed tiles are sent (size and MD5 against the listing);
    tiles the folder no longer has are deleted, 100 at a time.
    """
    out = out or tiles_dir(rt)
    bucket = asset_bucket(rt)
    s3 = asset_client(rt)
    remote: dict[str, tuple[int, str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="tiles/"):
        for obj in page.get("Contents", []):
            remote[obj["Key"]] = (int(obj["Size"]), str(obj["ETag"]).strip('"'))
    counts = {"uploaded": 0, "unchanged": 0, "deleted": 0}
    local: set[str] = set()
    for path in sorted(existing_tiles(out)):
        key = "tiles/" + path.relative_to(out).as_posix()
        local.add(key)
        data = path.read_bytes()
        if remote.get(key) == (len(data), hashlib.md5(data).hexdigest()):  # noqa: S324
            counts["unchanged"] += 1
            continue
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/png",
                      CacheControl=CACHE_CONTROL)
        counts["uploaded"] += 1
    orphans = sorted(key for key in remote
                     if key not in local and key != f"tiles/{STATE_FILE}")
    for start in range(0, len(orphans), DELETE_BATCH):
        batch = orphans[start:start + DELETE_BATCH]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                 "Quiet": True})
        counts["deleted"] += len(batch)
    state = read_state(out)
    state.update({f"upload_{name}": value for name, value in counts.items()})
    s3.put_object(Bucket=bucket, Key=f"tiles/{STATE_FILE}",
                  Body=json.dumps(state).encode(), ContentType="application/json",
                  CacheControl=CACHE_CONTROL)
    log.info("tiles_uploaded", **counts)
    return counts


# ---------------------------------------------------------------------------
# the command


def _runtime(ctx: click.Context) -> Any:
    """The runtime of the ``ichnaea`` command (closed when the command ends)."""
    obj = ctx.find_root().obj
    if obj is not None and hasattr(obj, "runtime"):
        return obj.runtime()
    from ichnaea_host.plugins.runtime import Runtime

    rt = Runtime()
    ctx.call_on_close(rt.close)
    return rt


@click.group("map")
def map_group() -> None:
    """The coverage map: PNG tiles drawn from the datamap."""


@map_group.command("render")
@click.option("--upload", "do_upload", is_flag=True,
              help="then mirror the tiles to ASSET_BUCKET (changed tiles only)")
@click.option("--full", is_flag=True, help="draw every tile, not only the changed ones")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="tiles folder (default ICHNAEA_CONTENT__TILES_DIR or <var>/tiles)")
@click.pass_context
def render_command(ctx: click.Context, do_upload: bool, full: bool,
                   output: Path | None) -> None:
    """Draw the coverage tiles (zoom 0-11 and 0/0/0@2x.png) and tiles/data.json."""
    rt = _runtime(ctx)
    if do_upload and not rt.settings.asset_bucket:
        click.echo("ichnaea: --upload needs ASSET_BUCKET", err=True)
        ctx.exit(2)
    out = output or tiles_dir(rt)

    def with_bar(renderer: Renderer) -> RenderStats:
        with click.progressbar(length=renderer.total, label="Rendering tiles") as bar:
            return renderer.run(bar.update)

    stats = render(rt, out, full=full, run_with=with_bar)
    click.echo(f"tiles: {stats.summary()} in {out}")
    if do_upload:
        try:
            counts = upload(rt, out)
        except Exception as exc:  # noqa: BLE001 - any boto3 failure is reported, not a trace
            click.echo(f"ichnaea: upload to {rt.settings.asset_bucket} failed: "
                       f"{type(exc).__name__}: {exc}", err=True)
            ctx.exit(1)
        click.echo(f"uploaded {counts['uploaded']} tiles, {counts['unchanged']} unchanged, "
                   f"{counts['deleted']} deleted, to s3://{rt.settings.asset_bucket}/tiles/")
