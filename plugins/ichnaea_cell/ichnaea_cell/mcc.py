"""Which regions a mobile country code serves, and the region of a cell.

The table ``data/mcc_countries.json`` holds the ITU mobile country codes per
region, as collected by the mobile-codes project. Region codes are GENC
codes; only codes the host's :mod:`ichnaea_host.core.regions` knows are returned.
Where a position lies is the host's generic geography
(:mod:`ichnaea_host.core.geocode`); this module only narrows it to the regions of
a cell's code.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from ichnaea_host import borders_touch, grid_square, in_region, region_at, region_name

DATA = Path(__file__).parent / "data"
#: the mobile-codes table uses ISO codes where GENC has its own
MCC_GENC = {"PS": "XW"}
#: a valid-looking code the original service never accepted (Tuvalu)
EXCLUDED_MCCS = frozenset({553})


@functools.cache
def mcc_table() -> dict[int, tuple[str, ...]]:
    """Every mobile country code of the table with the regions it serves (sorted)."""
    rows = json.loads((DATA / "mcc_countries.json").read_text("utf-8"))
    table: dict[int, set[str]] = defaultdict(set)
    for _name, alpha2, _alpha3, _numeric, mccs in rows:
        if not mccs:
            continue
        code = MCC_GENC.get(alpha2, alpha2)
        for mcc in [mccs] if isinstance(mccs, str) else mccs:
            table[int(mcc)].add(code)
    return {mcc: tuple(sorted(c for c in codes if region_name(c) is not None))
            for mcc, codes in table.items()}


@functools.cache
def valid_mccs() -> frozenset[int]:
    """Every mobile country code a cell may carry."""
    return frozenset(mcc_table()) - EXCLUDED_MCCS


def regions_for_mcc(mcc: int | None) -> list[str]:
    """The region codes a mobile country code serves (sorted; empty when unknown)."""
    if mcc is None:
        return []
    return list(mcc_table().get(int(mcc), ()))


def in_mcc_regions(lat: float, lon: float, mcc: int | None) -> bool:
    """Whether a position lies in one of the regions the cell's MCC serves."""
    return any(in_region(lat, lon, code) for code in regions_for_mcc(mcc))


def region_for_cell(lat: float, lon: float, mcc: int | None) -> str | None:
    """The region of a cell at this position: one of its MCC's regions holding
    the position (where several do, the host's :func:`~ichnaea_host.core.geocode.region`
    decides); None when none does."""
    codes = [code for code in regions_for_mcc(mcc) if in_region(lat, lon, code)]
    if len(codes) <= 1:
        return codes[0] if codes else None
    return region_at(lat, lon)


_VARIES = object()
_MISSING = object()


class CellRegions:
    """:func:`region_for_cell` for many cells (an import), remembered per
    mobile country code and grid square where the answer cannot vary inside
    the square: no edge of the grown shapes of the MCC's regions touches it,
    and at most one of those regions holds it. Squares of 1, 1/8 and 1/64
    degree are tried in turn; a cell in a square a border crosses at every
    size is looked up exactly."""

    SCALES = (1, 8, 64)

    def __init__(self) -> None:
        self._memo: dict[tuple[int, int, int, int], Any] = {}

    def region(self, lat: float, lon: float, mcc: int) -> str | None:
        for scale in self.SCALES:
            key = (mcc, scale, math.floor(lat * scale), math.floor(lon * scale))
            found = self._memo.get(key, _MISSING)
            if found is _MISSING:
                found = self._memo[key] = self._square(mcc, scale, key[2], key[3])
            if found is not _VARIES:
                return found  # type: ignore[no-any-return]
        return region_for_cell(lat, lon, mcc)

    @staticmethod
    def _square(mcc: int, scale: int, row: int, column: int) -> Any:
        """The region of every cell of ``mcc`` in one square, or ``_VARIES``."""
        codes = regions_for_mcc(mcc)
        square = grid_square(scale, row, column)
        if borders_touch(square.box, set(codes)):
            return _VARIES
        # no border inside: one point of the square answers for all of it
        lat, lon = min(max(square.lat, -90.0), 90.0), min(max(square.lon, -180.0), 180.0)
        found = [code for code in codes if in_region(lat, lon, code)]
        if len(found) > 1:
            return _VARIES  # decided by the precise shapes, point by point
        return found[0] if found else None
