"""MAC addresses and the per-beacon fields of Bluetooth observations."""

from __future__ import annotations

import re
from typing import Any

INVALID_MACS = {"000000000000", "ffffffffffff", "01005e901000"}
HEX12 = re.compile(r"^[0-9a-f]{12}$")
SHARDS = tuple("0123456789abcdef")

AGE_RANGE = (-3_600_000, 3_600_000)
SIGNAL_RANGE = (-127, 0)


def normalize_mac(value: Any) -> str | None:
    """12 lowercase hex digits, from ``aa:bb:..``, ``AA-BB-..``, ``aabb.ccdd..`` or bare."""
    if not isinstance(value, str):
        return None
    mac = value.replace(":", "").replace("-", "").replace(".", "").strip().lower()
    if not HEX12.match(mac) or mac in INVALID_MACS:
        return None
    return mac


def shard_of(mac: str) -> str:
    """The station shard of a normalised MAC: its fifth hex digit."""
    return mac[4]


def bounded(value: Any, low: float, high: float) -> Any:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if low <= value <= high else None


def better(kept: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``kept`` beats ``new`` for the same beacon: stronger signal,
    then lower age; the first field both have and that differs decides."""
    for name, higher in (("signal", True), ("age", False)):
        a, b = kept.get(name), new.get(name)
        if a is None or b is None or a == b:
            continue
        return a > b if higher else a < b
    return False


def normalize_entry(entry: dict[str, Any]) -> dict[str, Any] | None:
    """One beacon from a query or report in the pipeline's short names;
    None when its MAC is unusable."""
    mac = normalize_mac(entry.get("macAddress"))
    if mac is None:
        return None
    name = entry.get("name")
    return {
        "mac": mac,
        "age": bounded(entry.get("age"), *AGE_RANGE),
        "signal": bounded(entry.get("signalStrength"), *SIGNAL_RANGE),
        "name": name if isinstance(name, str) else None,
    }


def dedupe(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per MAC: a later entry replaces the kept one unless the kept is better."""
    kept: dict[str, dict[str, Any]] = {}
    for entry in entries:
        current = kept.get(entry["mac"])
        if current is None or not better(current, entry):
            kept[entry["mac"]] = entry
    return list(kept.values())
