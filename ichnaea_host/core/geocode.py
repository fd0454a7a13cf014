"""Which region a position lies in.

Pure functions over data shipped in ``data/``: ``regions.geojson.gz`` (one
shape per region, from Natural Earth's public-domain admin-0 map subunits)
and ``regions_buffer.geojson.gz`` (the same shapes grown outwards, so that a
point on a coast or a border still finds its region). Region codes are GENC
codes; only codes known to :mod:`ichnaea_host.core.regions` are ever returned.
Which regions a radio's own codes serve (a cell's mobile country code) is
its plugin's knowledge; :func:`grid_square` and :func:`borders_touch` let a
plugin remember its answers per grid square as :class:`RegionGrid` does.

The shapes are loaded on first use, once per process, into a few numpy
arrays (about 2 MB): per polygon a bounding box and a slice of one shared
array of edges. A point is tested with the even-odd rule against the
polygons whose box holds it.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ichnaea_host.core import regions
from ichnaea_host.core.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

DATA = Path(__file__).parent / "data"


@dataclasses.dataclass(frozen=True)
class Shapes:
    """Polygons of regions: one entry per polygon (a multipolygon gives several)."""

    #: region code of each polygon
    codes: tuple[str, ...]
    #: (polygons, 4): min_lon, min_lat, max_lon, max_lat
    boxes: np.ndarray
    #: (edges, 4): lon1, lat1, lon2, lat2 of every ring edge, polygon after polygon
    edges: np.ndarray
    #: edges of polygon i are edges[starts[i]:starts[i + 1]]
    starts: np.ndarray

    def candidates(self, lat: float, lon: float, codes: set[str] | None = None) -> list[int]:
        """Polygons whose bounding box holds the point (of the given regions only)."""
        b = self.boxes
        hit = (b[:, 0] <= lon) & (lon <= b[:, 2]) & (b[:, 1] <= lat) & (lat <= b[:, 3])
        found = [int(i) for i in np.flatnonzero(hit)]
        if codes is not None:
            found = [i for i in found if self.codes[i] in codes]
        return found

    def contains(self, index: int, lat: float, lon: float) -> bool:
        """Even-odd rule: a ray to the east crosses the rings an odd number of times."""
        e = self.edges[self.starts[index]:self.starts[index + 1]]
        lat1, lat2 = e[:, 1], e[:, 3]
        spans = (lat1 > lat) != (lat2 > lat)
        if not spans.any():
            return False
        s = e[spans]
        cross_lon = s[:, 0] + (lat - s[:, 1]) * (s[:, 2] - s[:, 0]) / (s[:, 3] - s[:, 1])
        return bool(np.count_nonzero(lon < cross_lon) % 2)

    def border_distance(self, index: int, lat: float, lon: float) -> float:
        """Distance to the nearest edge, in degrees of latitude (for comparisons only)."""
        e = self.edges[self.starts[index]:self.starts[index + 1]]
        scale = math.cos(math.radians(lat))
        ax, ay = (e[:, 0] - lon) * scale, e[:, 1] - lat
        bx, by = (e[:, 2] - lon) * scale, e[:, 3] - lat
        dx, dy = bx - ax, by - ay
        length = dx * dx + dy * dy
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(length > 0, -(ax * dx + ay * dy) / length, 0.0)
        t = np.clip(t, 0.0, 1.0)
        return float(np.sqrt((ax + t * dx) ** 2 + (ay + t * dy) ** 2).min())

    @functools.cached_property
    def polygons_of(self) -> dict[str, list[int]]:
        """The polygons of every region, by code."""
        found: dict[str, list[int]] = defaultdict(list)
        for index, code in enumerate(self.codes):
            found[code].append(index)
        return dict(found)

    def codes_containing(self, lat: float, lon: float,
                         codes: set[str] | None = None) -> list[str]:
        found = {self.codes[i] for i in self.candidates(lat, lon, codes)
                 if self.contains(i, lat, lon)}
        return sorted(found)


def _polygons(geometry: dict[str, Any]) -> list[list[list[list[float]]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return list(geometry["coordinates"])
    return []


def _load_shapes(name: str) -> Shapes:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as f:
        collection = json.load(f)
    codes: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []
    edges: list[np.ndarray] = []
    starts = [0]
    for feature in collection["features"]:
        code = feature["properties"]["alpha2"]
        if not regions.known(code):
            continue
        for polygon in _polygons(feature["geometry"]):
            rings = [np.asarray(ring, dtype=np.float64)[:, :2] for ring in polygon if ring]
            rings = [r for r in rings if len(r) >= 3]
            if not rings:
                continue
            ring_edges = np.concatenate([np.hstack([r[:-1], r[1:]]) for r in rings])
            points = np.concatenate(rings)
            codes.append(code)
            boxes.append((points[:, 0].min(), points[:, 1].min(),
                          points[:, 0].max(), points[:, 1].max()))
            edges.append(ring_edges)
            starts.append(starts[-1] + len(ring_edges))
    return Shapes(codes=tuple(codes), boxes=np.array(boxes, dtype=np.float64),
                  edges=np.concatenate(edges), starts=np.array(starts, dtype=np.int64))


@functools.cache
def _shapes() -> Shapes:
    return _load_shapes("regions.geojson.gz")


@functools.cache
def _buffered() -> Shapes:
    return _load_shapes("regions_buffer.geojson.gz")


# ---------------------------------------------------------------------------
# the public functions


def region(lat: float, lon: float) -> str | None:
    """The region a position lies in, or None (at sea, or off the shapes).

    A point inside the grown shape of exactly one region belongs to it (a
    ship in a harbour, a phone on a beach). Near a border, the region whose
    precise shape holds the point wins (where several do, see
    :func:`_overlap_winner`), otherwise the one with the nearest border.
    """
    if not _valid(lat, lon):
        return None
    near = _buffered().codes_containing(lat, lon)
    if len(near) <= 1:
        return near[0] if near else None
    shapes = _shapes()
    depths = _depths(shapes, lat, lon, set(near))
    if depths:
        return _overlap_winner(depths)
    distances = {code: min(shapes.border_distance(i, lat, lon)
                           for i in shapes.polygons_of.get(code, ()))
                 for code in near}
    return min(sorted(distances), key=lambda code: distances[code])


#: how deep (in degrees of latitude, about 1 km) a point must lie inside a
#: region's precise shape for that shape to be trusted where shapes overlap
OVERLAP_MARGIN = 0.009


def _depths(shapes: Shapes, lat: float, lon: float, codes: set[str]) -> dict[str, float]:
    """How deep the point lies inside each of these regions' precise shapes
    that hold it (distance to the border, in degrees of latitude)."""
    depths: dict[str, float] = {}
    for index in shapes.candidates(lat, lon, codes):
        if shapes.contains(index, lat, lon):
            code = shapes.codes[index]
            depth = shapes.border_distance(index, lat, lon)
            depths[code] = max(depth, depths.get(code, 0.0))
    return depths


def _overlap_winner(depths: dict[str, float]) -> str:
    """The region of a point that the precise shapes of several regions hold.

    The shapes are simplified, a large region's outline the most coarsely,
    so that it runs over its small neighbours (Italy's holds San Marino and
    the Vatican, France's Geneva). Of the regions holding the point by more
    than :data:`OVERLAP_MARGIN`, the smallest (by its largest radius) wins;
    a point that no shape holds that deep goes to the shape it lies deepest
    in, as in the original service.
    """
    if len(depths) == 1:
        return next(iter(depths))
    deep = sorted(code for code, depth in depths.items() if depth >= OVERLAP_MARGIN)
    if deep:
        return min(deep, key=regions.region_radius)
    return max(sorted(depths), key=lambda code: depths[code])


def in_region(lat: float, lon: float, code: str) -> bool:
    """Whether a position lies in the (grown) shape of the region ``code``."""
    if not _valid(lat, lon):
        return False
    return bool(_buffered().codes_containing(lat, lon, {code}))


# ---------------------------------------------------------------------------
# many lookups: answers remembered per grid square where they cannot vary


_VARIES = object()
_MISSING = object()
#: squares are grown by about a centimetre, so that rounding in the point
#: tests cannot put a point of a square on the other side of an edge outside it
_PAD = 1e-7


class RegionGrid:
    """:func:`region` for many positions, remembered per grid square
    where the answer cannot vary: no edge of a region's grown shape crosses
    the square (nor, where grown shapes overlap, of those regions' precise
    shapes), and at most one precise shape holds it. Squares of 1, 1/8, 1/64
    and 1/512 degree (about 200 m) are tried in turn; a position in a square
    a border crosses at every size is looked up exactly.

    The station updaters ask for the region of every station they place; an
    exact lookup near borders takes about 200 microseconds, more than all the
    rest of an observation's update.
    """

    SCALES = (1, 8, 64, 512)
    #: squares remembered before the memo starts afresh (about 40 MB)
    LIMIT = 200_000

    def __init__(self) -> None:
        self._memo: dict[tuple[int, int, int], Any] = {}
        self._exact: dict[tuple[float, float], str | None] = {}

    def region(self, lat: float, lon: float) -> str | None:
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):  # NaN too
            return region(lat, lon)
        memo = self._memo
        for scale in self.SCALES:
            key = (scale, math.floor(lat * scale), math.floor(lon * scale))
            found = memo.get(key, _MISSING)
            if found is _MISSING:
                if len(memo) >= self.LIMIT:
                    memo.clear()
                found = memo[key] = _square_region(*key)
            if found is not _VARIES:
                return found  # type: ignore[no-any-return]
        # a border crosses the square: looked up exactly, and remembered for
        # the same position (the networks first seen in one report share it)
        spot = (lat, lon)
        found = self._exact.get(spot, _MISSING)
        if found is _MISSING:
            if len(self._exact) >= self.LIMIT:
                self._exact.clear()
            found = self._exact[spot] = region(lat, lon)
        return found  # type: ignore[no-any-return]


class GridSquare(NamedTuple):
    """A square of the grid of ``1/scale`` degree: its box (min_lon, min_lat,
    max_lon, max_lat), grown by about a centimetre, and its centre."""

    box: tuple[float, float, float, float]
    lat: float
    lon: float


def grid_square(scale: int, row: int, column: int) -> GridSquare:
    """The square ``row = floor(lat * scale)``, ``column = floor(lon * scale)``."""
    south, west, size = row / scale, column / scale, 1 / scale
    box = (west - _PAD, south - _PAD, west + size + _PAD, south + size + _PAD)
    return GridSquare(box, south + size / 2, west + size / 2)


def borders_touch(box: tuple[float, float, float, float], codes: set[str] | None = None) -> bool:
    """Whether an edge of the grown shape of a region (of the given ones only)
    touches the box: where none does, every point of the box lies in the
    same of those regions' grown shapes as its centre."""
    return _edges_in(_buffered(), box, codes)


def _square_region(scale: int, row: int, column: int) -> Any:
    """The region of every position in one square, or ``_VARIES``; the same
    steps as :func:`region`, each shown not to vary in the square."""
    box, lat, lon = grid_square(scale, row, column)
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return _VARIES
    grown = _buffered()
    if _edges_in(grown, box):
        return _VARIES
    near = grown.codes_containing(lat, lon)
    if len(near) <= 1:
        return near[0] if near else None
    shapes = _shapes()
    if _edges_in(shapes, box, set(near)):
        return _VARIES
    inside = shapes.codes_containing(lat, lon, set(near))
    # none: the nearest border decides; several: how deep the point lies
    return inside[0] if len(inside) == 1 else _VARIES


def _edges_in(shapes: Shapes, box: tuple[float, float, float, float],
              codes: set[str] | None = None) -> bool:
    """Whether an edge of the shapes (of the given regions only) touches the box."""
    x0, y0, x1, y1 = box
    b = shapes.boxes
    near = (b[:, 0] <= x1) & (x0 <= b[:, 2]) & (b[:, 1] <= y1) & (y0 <= b[:, 3])
    for index in np.flatnonzero(near):
        if codes is not None and shapes.codes[index] not in codes:
            continue
        e = shapes.edges[shapes.starts[index]:shapes.starts[index + 1]]
        lon1, lat1, lon2, lat2 = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
        overlap = ((np.maximum(lon1, lon2) >= x0) & (np.minimum(lon1, lon2) <= x1)
                   & (np.maximum(lat1, lat2) >= y0) & (np.minimum(lat1, lat2) <= y1))
        if not overlap.any():
            continue
        e = e[overlap]
        dx, dy = e[:, 2] - e[:, 0], e[:, 3] - e[:, 1]
        # the side of the edge's line each corner lies on: all on one side, no touch
        sides = np.stack([dx * (y - e[:, 1]) - dy * (x - e[:, 0])
                          for x, y in ((x0, y0), (x0, y1), (x1, y0), (x1, y1))])
        apart = (sides > 0).all(axis=0) | (sides < 0).all(axis=0)
        if not apart.all():
            return True
    return False


def _valid(lat: Any, lon: Any) -> bool:
    return (isinstance(lat, (int, float)) and isinstance(lon, (int, float))
            and math.isfinite(lat) and math.isfinite(lon)
            and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0)
