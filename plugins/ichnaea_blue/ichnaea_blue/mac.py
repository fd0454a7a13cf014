"""The per-beacon fields of Bluetooth observations; MAC addresses and
duplicates are the station kit's (:mod:`ichnaea_host.stations.mac`)."""

from __future__ import annotations

from typing import Any

from ichnaea_host import Ranking, bounded, higher, normalize_mac, younger

AGE_RANGE = (-3_600_000, 3_600_000)
SIGNAL_RANGE = (-127, 0)

#: duplicates of one beacon: stronger signal, then younger age
RANKING: Ranking = (("signal", higher), ("age", younger))

__all__ = ["RANKING", "normalize_entry", "normalize_mac"]


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
