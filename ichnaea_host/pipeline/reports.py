"""Report-level validation shared by the pipeline and the exporters."""

from __future__ import annotations

import math
from typing import Any

POSITION_SOURCES = ("fixed", "gnss", "fused", "query")

# (field, low, high) bounds of a report position; out of range -> None
POSITION_BOUNDS = {
    "accuracy": (0.0, 1_000_000.0),
    "altitude": (-10911.0, 100_000.0),
    "altitudeAccuracy": (0.0, 110_911.0),
    "heading": (0.0, 360.0),
    "pressure": (100.0, 1200.0),
    "speed": (0.0, 300.0),
}
MAX_LAT = 85.051


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def normalize_position(report: dict[str, Any]) -> dict[str, Any] | None:
    """The report's position, validated; None when it cannot place observations.

    Returns ``lat``, ``lon``, the optional bounded fields, ``source`` and
    ``timestamp`` (ms, moved back by the position's age). Entry ages are the
    updaters' business; ``gps_age`` is returned so they can correct them.
    """
    position = report.get("position") or {}
    lat, lon = _number(position.get("latitude")), _number(position.get("longitude"))
    if lat is None or lon is None or not (-MAX_LAT <= lat <= MAX_LAT) or not (-180 <= lon <= 180):
        return None
    if lat == 0.0 and lon == 0.0:
        return None
    out: dict[str, Any] = {"lat": lat, "lon": lon}
    for name, (low, high) in POSITION_BOUNDS.items():
        value = _number(position.get(name))
        if value is not None and low <= value <= high:
            out[name] = value
    source = position.get("source")
    out["source"] = source if source in POSITION_SOURCES else "gnss"
    gps_age = position.get("age")
    gps_age = int(gps_age) if isinstance(gps_age, int) and not isinstance(gps_age, bool) else 0
    out["gps_age"] = gps_age
    timestamp = report.get("timestamp")
    if isinstance(timestamp, int) and 10**12 <= timestamp < 10**13:
        out["timestamp"] = timestamp - gps_age
    return out


