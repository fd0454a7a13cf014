"""Coverage tiles: full and incremental renders, the command and the upload."""

from __future__ import annotations

import io
import json
import math
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer
from PIL import Image

from ichnaea_host.cli.commands import cli
from ichnaea_host.core.clock import today_utc
from ichnaea_host.pipeline import datamap
from ichnaea_host.site import tiles

LONDON = (51.5, -0.12)
TOKYO = (35.68, 139.76)


def add_cell(lat: float, lon: float, days_ago: int = 0) -> None:
    day = today_utc() - timedelta(days=days_ago)
    lat_s, lon_s = datamap.scale(lat, lon)
    model = datamap.MODELS[datamap.shard_of(lat_s, lon_s)]
    model.insert(grid=datamap.encode(lat_s, lon_s), created=day, modified=day).execute()


def tile_of(lat: float, lon: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def pngs(folder: Path) -> dict[str, int]:
    """Every tile file and its modification time."""
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns
            for p in folder.rglob("*.png")}


def colours(path: Path) -> set[tuple[int, int, int, int]]:
    import numpy as np

    pixels = np.asarray(Image.open(path).convert("RGBA")).reshape(-1, 4)
    return {tuple(int(v) for v in p) for p in np.unique(pixels, axis=0)}


def test_full_render(runtime, tmp_path):
    add_cell(*LONDON)
    out = tmp_path / "tiles"
    stats = tiles.render(runtime, out)
    assert stats.full and stats.row_count == 1
    files = pngs(out)
    for zoom in range(12):
        x, y = tile_of(*LONDON, zoom)
        assert f"{zoom}/{x}/{y}.png" in files
    assert "0/0/0@2x.png" in files
    assert len(files) == stats.tile_count == stats.tile_new == 13
    assert Image.open(out / "0/0/0@2x.png").size == (512, 512)
    x, y = tile_of(*LONDON, 11)
    seen = colours(out / f"11/{x}/{y}.png")
    assert any(c[3] == 0 for c in seen)  # no data: fully transparent
    drawn = {c for c in seen if c[3]}
    assert drawn and {c[:3] for c in drawn} == {(0x00, 0x88, 0xFF)}
    state = json.loads((out / "data.json").read_text())
    assert state["grid_day"] == today_utc().isoformat()
    assert state["tile_count"] == 13 and "updated" in state


def test_incremental_render_draws_only_changed_tiles(runtime, tmp_path):
    add_cell(*LONDON)
    out = tmp_path / "tiles"
    tiles.render(runtime, out)
    before = pngs(out)
    again = tiles.render(runtime, out)  # the London cell was seen today: drawn again
    assert not again.full and again.tile_unchanged == 13 and again.tile_new == 0
    assert pngs(out) == before  # identical bytes are not rewritten

    add_cell(*TOKYO)
    stats = tiles.render(runtime, out)
    after = pngs(out)
    assert not stats.full
    tokyo = {f"{z}/{x}/{y}.png" for z in range(12) for x, y in [tile_of(*TOKYO, z)]}
    assert set(after) - set(before) == tokyo - set(before)
    # London's tiles below zoom 0 were not touched; zoom 0 holds both cities
    london_only = {name for name in before if name not in tokyo and not name.startswith("0/")}
    assert all(after[name] == before[name] for name in london_only)
    assert stats.tile_new == len(tokyo - set(before))
    assert stats.tile_changed == 2  # 0/0/0.png and 0/0/0@2x.png


def tile_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.png")}


def see_again(lat: float, lon: float) -> None:
    """A known cell seen again today (as the datamap update does)."""
    lat_s, lon_s = datamap.scale(lat, lon)
    model = datamap.MODELS[datamap.shard_of(lat_s, lon_s)]
    model.update(modified=today_utc()).where(
        model.grid == datamap.encode(lat_s, lon_s)).execute()


def forget(lat: float, lon: float) -> None:
    lat_s, lon_s = datamap.scale(lat, lon)
    model = datamap.MODELS[datamap.shard_of(lat_s, lon_s)]
    model.delete().where(model.grid == datamap.encode(lat_s, lon_s)).execute()


def test_incremental_tiles_are_those_of_a_full_render(runtime, tmp_path):
    # cells of every age, some of them one day from losing a point
    ages = (0, 3, 44, 45, 46, 104, 105, 200, 284, 285, 343, 344, 345, 400)
    for i, days_ago in enumerate(ages):
        add_cell(LONDON[0] + 0.003 * i, LONDON[1], days_ago=days_ago)
        add_cell(TOKYO[0], TOKYO[1] + 0.2 * i, days_ago=days_ago)  # tiles of their own
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    tiles.render(runtime, incremental)
    add_cell(48.86, 2.35)  # Paris, new
    see_again(LONDON[0] + 0.003 * 7, LONDON[1])  # 200 days old, seen again
    tomorrow = today_utc() + timedelta(days=1)
    stats = tiles.render(runtime, incremental, today=tomorrow)
    assert not stats.full and stats.tile_new and stats.tile_changed
    assert stats.tile_unchanged + stats.tile_changed + stats.tile_new < stats.tile_count
    tiles.render(runtime, full, full=True, today=tomorrow)
    assert tile_bytes(incremental) == tile_bytes(full)

    # a later day: more cells age, one is seen again, and one is removed by hand
    forget(TOKYO[0], TOKYO[1] + 0.2 * 3)
    see_again(TOKYO[0], TOKYO[1] + 0.2 * 9)
    for day in (tomorrow + timedelta(days=1), tomorrow + timedelta(days=60)):
        stats = tiles.render(runtime, incremental, today=day)
        assert not stats.full
        tiles.render(runtime, full, full=True, today=day)
        assert tile_bytes(incremental) == tile_bytes(full)
        assert stats.tile_count == len(tile_bytes(full))


def test_a_damaged_snapshot_reads_the_whole_grid_again(runtime, tmp_path):
    add_cell(*LONDON)
    out = tmp_path / "tiles"
    tiles.render(runtime, out)
    add_cell(*TOKYO)
    for damage in (b"PK\x03\x04 not a zip", b"garbage"):
        tiles.snapshot_path(out).write_bytes(damage)
        stats = tiles.render(runtime, out)
        assert not stats.full and stats.row_count == 2
    tiles.render(runtime, tmp_path / "full", full=True)
    assert tile_bytes(out) == tile_bytes(tmp_path / "full")


def test_ageing_cells_fade_then_vanish(runtime, tmp_path):
    add_cell(*LONDON, days_ago=100)  # five points
    out = tmp_path / "tiles"
    tiles.render(runtime, out)
    x, y = tile_of(*LONDON, 11)
    tile = out / f"11/{x}/{y}.png"
    first = tile.read_bytes()
    later = today_utc() + timedelta(days=30)  # four points
    stats = tiles.render(runtime, out, today=later)
    assert stats.tile_changed + stats.tile_unchanged == 13  # all drawn again ...
    assert tile.read_bytes() != first  # ... and fainter where a point is missing
    stats = tiles.render(runtime, out, today=later + timedelta(days=240))  # none left
    assert stats.tile_deleted == 13 and pngs(out) == {}


def test_full_render_removes_orphans(runtime, tmp_path):
    add_cell(*LONDON)
    out = tmp_path / "tiles"
    orphan = out / "5/1/1.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"old")
    stats = tiles.render(runtime, out, full=True)
    assert not orphan.exists() and stats.tile_deleted == 1


def test_draw_makes_a_palette_png():
    import numpy as np

    counts = np.zeros((256, 256), dtype=np.int64)
    counts[10, 20] = 1
    counts[30, 40] = 50
    image = Image.open(io.BytesIO(tiles.draw(counts, 11)))
    assert image.mode == "P" and image.size == (256, 256)
    rgba = image.convert("RGBA")
    assert rgba.getpixel((0, 0))[3] == 0
    faint, strong = rgba.getpixel((20, 10)), rgba.getpixel((40, 30))
    assert faint[:3] == strong[:3] == (0, 0x88, 0xFF)
    assert 64 <= faint[3] < strong[3] == 255


def test_map_render_command(runtime, backend_uris, tmp_path):
    add_cell(*LONDON)
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri, "LOGGING_LEVEL": "WARNING",
           "ICHNAEA_VAR_DIR": str(tmp_path / "var")}
    result = CliRunner().invoke(cli, ["map", "render"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "full run over 1 grid cells: 13 new" in result.output
    assert (tmp_path / "var/tiles/0/0/0@2x.png").is_file()
    result = CliRunner().invoke(cli, ["map", "render", "--upload"], env=env)
    assert result.exit_code == 2 and "needs ASSET_BUCKET" in result.output


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.slow
def test_upload_sends_only_changed_tiles(make_runtime, s3_url, tmp_path, monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1"),
                        ("ICHNAEA_CONTENT__S3_ENDPOINT_URL", s3_url)):
        monkeypatch.setenv(name, value)
    bucket = f"assets-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_url)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="tiles/9/9/9.png", Body=b"orphan")
    rt = make_runtime(asset_bucket=bucket)
    out = tmp_path / "tiles"
    add_cell(*LONDON)
    tiles.render(rt, out)
    assert tiles.upload(rt, out) == {"uploaded": 13, "unchanged": 0, "deleted": 1}
    head = s3.head_object(Bucket=bucket, Key="tiles/0/0/0.png")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "max-age=3600, public"
    state = json.loads(s3.get_object(Bucket=bucket, Key="tiles/data.json")["Body"].read())
    assert state["tile_count"] == 13

    add_cell(*TOKYO)
    stats = tiles.render(rt, out)
    counts = tiles.upload(rt, out)
    assert counts["uploaded"] == stats.tile_new + stats.tile_changed
    assert counts["unchanged"] == 13 - stats.tile_changed and counts["deleted"] == 0
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tiles/")["Contents"]}
    assert keys == {f"tiles/{name}" for name in pngs(out)} | {"tiles/data.json"}


def test_the_worker_renders_tiles_periodically(make_runtime, monkeypatch):
    rt = make_runtime()
    add_cell(*LONDON)
    job = rt.plugins.periodic_jobs["render_tiles"]
    assert job.interval == 600.0 and not job.drain
    rt.run_job(job)
    folder = rt.settings.var_path / "tiles"
    assert (folder / "0/0/0@2x.png").is_file()

    monkeypatch.setenv("ICHNAEA_CONTENT__RENDER_TILES", "false")
    off = make_runtime()
    (folder / "data.json").unlink()
    off.run_job(off.plugins.periodic_jobs["render_tiles"])
    assert not (folder / "data.json").exists()
