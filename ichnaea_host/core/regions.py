"""Region codes (GENC, which matches ISO 3166 alpha-2 almost everywhere),
their English names and their largest radius in metres.

The table in ``data/regions.json`` was built from the GENC standard's names
and the radii of Natural Earth's admin-0 shapes (public domain).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

DEFAULT_RADIUS = 5_000_000.0
#: GeoIP databases use ISO codes where GENC has its own
ISO_TO_GENC = {"AX": "FI", "PS": "XW", "SJ": "XR", "UM": "US"}


@functools.cache
def _table() -> dict[str, dict[str, Any]]:
    return json.loads((Path(__file__).parent / "data" / "regions.json").read_text("utf-8"))


def genc_code(iso_code: str | None) -> str | None:
    if not iso_code:
        return None
    code = iso_code.upper()
    return ISO_TO_GENC.get(code, code)


def region_name(code: str) -> str | None:
    entry = _table().get(code)
    return entry["name"] if entry else None


def region_radius(code: str) -> float:
    entry = _table().get(code)
    radius = entry.get("radius") if entry else None
    return float(radius) if radius else DEFAULT_RADIUS


def known(code: str) -> bool:
    return code in _table()
