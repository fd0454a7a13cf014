"""MAC addresses, channels and frequencies of WiFi networks."""

from __future__ import annotations

import re
from typing import Any

INVALID_MACS = {"000000000000", "ffffffffffff", "01005e901000"}
HEX12 = re.compile(r"^[0-9a-f]{12}$")
SHARDS = tuple("0123456789abcdef")

AGE_RANGE = (-3_600_000, 3_600_000)
SIGNAL_RANGE = (-100, -10)
SNR_RANGE = (1, 100)
CHANNEL_RANGE = (1, 199)
#: 2.4 GHz, 5 GHz and 6 GHz (WiFi 6E) bands
FREQUENCY_RANGE = (2400, 7125)


def normalize_mac(value: Any) -> str | None:
    """12 lowercase hex digits, from ``aa:bb:..``, ``AA-BB-..``, ``aabb.ccdd..`` or bare."""
    if not isinstance(value, str):
        return None
    mac = value.replace(":", "").replace("-", "").replace(".", "").strip().lower()
    if not HEX12.match(mac) or mac in INVALID_MACS:
        return None
    return mac


def shard_of(mac: str) -> str:
    return mac[4]


def bounded(value: Any, low: float, high: float) -> Any:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if low <= value <= high else None


def channel_frequency(channel: int | None, frequency: int | None) -> tuple[Any, Any]:
    """Derive the missing one of channel and frequency, when exactly one is known."""
    if channel is not None and frequency is None:
        if 1 <= channel <= 13:
            frequency = 5 * channel + 2407
        elif channel == 14:
            frequency = 2484
        elif 14 < channel < 186:
            frequency = 5 * channel + 5000
        elif 185 < channel < 200:
            frequency = 5 * channel + 4000
    elif frequency is not None and channel is None:
        if 2412 <= frequency <= 2472:
            channel = (frequency - 2407) // 5
        elif frequency == 2484:
            channel = 14
        elif 4915 <= frequency <= 4995:
            channel = (frequency - 4000) // 5
        elif 5075 <= frequency <= 5925:
            channel = (frequency - 5000) // 5
        elif 5955 <= frequency <= 7115:  # 6 GHz channels 1..233 (kept, not derived back)
            channel = None
    return channel, frequency


def better(kept: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``kept`` beats ``new`` for the same network: stronger signal,
    better signal-to-noise ratio, younger age, in that order."""
    for name, higher in (("signal", True), ("snr", True), ("age", False)):
        a, b = kept.get(name), new.get(name)
        if a is None or b is None:
            continue
        if a != b:
            return a > b if higher else abs(a) < abs(b)
    return False


def normalize_entry(entry: dict[str, Any]) -> dict[str, Any] | None:
    """One network from a query or report in the pipeline's short names."""
    mac = normalize_mac(entry.get("macAddress"))
    if mac is None:
        return None
    channel = bounded(entry.get("channel"), *CHANNEL_RANGE)
    frequency = bounded(entry.get("frequency"), *FREQUENCY_RANGE)
    channel, frequency = channel_frequency(channel, frequency)
    out = {
        "mac": mac,
        "age": bounded(entry.get("age"), *AGE_RANGE),
        "channel": channel,
        "frequency": frequency,
        "signal": bounded(entry.get("signalStrength"), *SIGNAL_RANGE),
        "snr": bounded(entry.get("signalToNoiseRatio"), *SNR_RANGE),
        "ssid": entry.get("ssid") if isinstance(entry.get("ssid"), str) else None,
    }
    return out


def dedupe(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept: dict[str, dict[str, Any]] = {}
    for entry in entries:
        current = kept.get(entry["mac"])
        if current is None or not better(current, entry):
            kept[entry["mac"]] = entry
    return list(kept.values())
