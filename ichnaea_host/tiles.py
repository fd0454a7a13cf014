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
``ASSET_BUCKET`` (and deletes the orphans).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from . import datamap
from .content import content_settings, tiles_dir
from .log import get_logger

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


@dataclasses.dataclass
class RenderStats:
    row_count: int = 0
    tile_new: int = 0
    tile_changed: int = 0
    tile_unchanged: int = 0
    tile_deleted: int = 0
    tile_count: int = 0
    full: bool = False
    render_duration_s: float = 0.0

    def summary(self) -> str:
        kind = "full" if self.full else "incremental"
        return (f"{kind} run over {self.row_count} grid cells: {self.tile_new} new, "
                f"{self.tile_changed} changed, {self.tile_deleted} deleted, "
                f"{self.tile_unchanged} unchanged tiles ({self.tile_count} in all, "
                f"{self.render_duration_s:.1f} s)")


# ---------------------------------------------------------------------------
# reading the grid


def _day(value: Any) -> int:
    if isinstance(value, datetime):
        return value.date().toordinal()
    if isinstance(value, date):
        return value.toordinal()
    return date.fromisoformat(str(value)[:10]).toordinal()


def load_grid(db: Any) -> Grid:
    """Every cell of the four datamap tables (read-only connection)."""
    import numpy as np

    raw: list[bytes] = []
    days: list[int] = []
    for shard in datamap.SHARDS:
        cursor = db.execute_sql(f"SELECT grid, modified FROM datamap_{shard}")
        while True:
            rows = cursor.fetchmany(50_000)
            if not rows:
                break
            raw.extend(bytes(grid) for grid, _ in rows)
            days.extend(_day(modified) for _, modified in rows)
    packed = np.frombuffer(b"".join(raw), dtype=">u4").reshape(-1, 2).astype(np.int64)
    return Grid(lat=packed[:, 0] - 90000, lon=packed[:, 1] - 180000,
                day=np.array(days, dtype=np.int64))


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


def _tile_ids(x: Any, y: Any, zoom: int) -> Any:
    import numpy as np

    n = 1 << zoom
    tx = (x * n).astype(np.int64)
    ty = (y * n).astype(np.int64)
    return tx * n + ty


# ---------------------------------------------------------------------------
# drawing


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
    import io

    import numpy as np
    from PIL import Image

    levels = _levels(zoom)
    index = levels[np.minimum(counts, len(levels) - 1)]
    height, width = counts.shape
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


class Renderer:
    """One run: what to draw (:meth:`plan`), then drawing it (:meth:`run`)."""

    def __init__(self, grid: Grid, out: Path, *, today: date | None = None,
                 full: bool = False) -> None:
        import numpy as np

        self.grid = grid
        self.out = out
        self.today = (today or datamap.today_utc()).toordinal()
        state = read_state(out)
        last = state.get("grid_day")
        self.full = bool(full or state.get("renderer") != RENDERER or not last)
        counts = point_counts(grid.day, self.today)
        self.x, self.y = mercator_points(grid, counts)
        if self.full:
            self.dirty = np.unique(_tile_ids(self.x, self.y, MAX_ZOOM))
        else:
            last_day = date.fromisoformat(str(last)).toordinal()
            changed = (grid.day >= last_day) | (counts != point_counts(grid.day, last_day))
            self.dirty = self._cell_tiles(changed)
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

    def _cell_tiles(self, mask: Any) -> Any:
        """The zoom-11 tiles the corners of the masked cells fall in."""
        import numpy as np

        lat, lon = self.grid.lat[mask], self.grid.lon[mask]
        ids = []
        for dlat in (-0.5, 0.5):
            for dlon in (-0.5, 0.5):
                x, y = _to_mercator((lat + dlat) / 1000.0, (lon + dlon) / 1000.0)
                ids.append(_tile_ids(x, y, MAX_ZOOM))
        return np.unique(np.concatenate(ids)) if ids else np.array([], dtype=np.int64)

    def run(self, progress: Callable[[int], None] = lambda n: None) -> RenderStats:
        import numpy as np

        start = time.perf_counter()
        stats = RenderStats(row_count=len(self.grid), full=self.full)
        drawn: set[Path] = set()
        for zoom in range(MAX_ZOOM + 1):
            wanted = self.plan[zoom]
            if not len(wanted):
                continue
            n = 1 << zoom
            px = (self.x * (n * TILE)).astype(np.int64)
            py = (self.y * (n * TILE)).astype(np.int64)
            ids = (px // TILE) * n + (py // TILE)
            keep = slice(None) if self.full else np.isin(ids, wanted)
            ids, pixels = ids[keep], (py[keep] % TILE) * TILE + (px[keep] % TILE)
            order = np.argsort(ids, kind="stable")
            ids, pixels = ids[order], pixels[order]
            starts = np.searchsorted(ids, wanted, side="left")
            ends = np.searchsorted(ids, wanted, side="right")
            for tile, lo, hi in zip(wanted.tolist(), starts.tolist(), ends.tolist(),
                                    strict=True):
                path = tile_path(self.out, zoom, tile // n, tile % n)
                if hi > lo:
                    counts = np.bincount(pixels[lo:hi], minlength=TILE * TILE)
                    _write(path, draw(counts.reshape(TILE, TILE), zoom), stats)
                    drawn.add(path)
                else:
                    _remove(path, stats)
                progress(1)
            if zoom == 0 and self._draw_retina(stats):
                drawn.add(tile_path(self.out, 0, 0, 0, "@2x"))
        if self.full:
            for path in list(existing_tiles(self.out)):
                if path not in drawn:
                    _remove(path, stats)
        stats.tile_count = sum(1 for _ in existing_tiles(self.out))
        stats.render_duration_s = round(time.perf_counter() - start, 3)
        self._save_state(stats)
        return stats

    def _draw_retina(self, stats: RenderStats) -> bool:
        """``0/0/0@2x.png``: zoom 0 at 512 pixels (the home page's thumbnail)."""
        import numpy as np

        path = tile_path(self.out, 0, 0, 0, "@2x")
        if not len(self.x):
            _remove(path, stats)
            return False
        size = 2 * TILE
        px = (self.x * size).astype(np.int64)
        py = (self.y * size).astype(np.int64)
        counts = np.bincount(py * size + px, minlength=size * size).reshape(size, size)
        _write(path, draw(counts, 1), stats)
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
    renderer = Renderer(load_grid(rt.db.ro), out, today=today, full=full)
    stats = renderer.run() if run_with is None else run_with(renderer)
    log.info("tiles_rendered", **dataclasses.asdict(stats))
    return stats


# ---------------------------------------------------------------------------
# uploading


def upload(rt: Any, out: Path | None = None) -> dict[str, int]:
    """Mirror the tiles folder to ``ASSET_BUCKET`` under ``tiles/``.

    Only new and changed tiles are sent (size and MD5 against the listing);
    tiles the folder no longer has are deleted, 100 at a time.
    """
    import boto3
    from botocore.config import Config

    out = out or tiles_dir(rt)
    bucket = rt.settings.asset_bucket
    endpoint = content_settings(rt).s3_endpoint_url or None
    config = Config(s3={"addressing_style": "path"}) if endpoint else None
    s3 = boto3.client("s3", endpoint_url=endpoint, config=config)
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
    from .runtime import Runtime

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
