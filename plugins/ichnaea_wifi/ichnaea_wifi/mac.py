"""Channels, frequencies and the per-network fields of WiFi observations;
MAC addresses and duplicates are the station kit's (:mod:`ichnaea_host.stations.mac`)."""

from __future__ import annotations

from typing import Any

from ichnaea_host import Ranking, bounded, higher, normalize_mac, younger

AGE_RANGE = (-3_600_000, 3_600_000)
SIGNAL_RANGE = (-100, -10)
SNR_RANGE = (1, 100)
CHANNEL_RANGE = (1, 199)
#: 2.4 GHz, 5 GHz and 6 GHz (WiFi 6E) bands
FREQUENCY_RANGE = (2400, 7125)

#: duplicates of one network: stronger signal, better signal-to-noise ratio,
#: younger age, in that order
RANKING: Ranking = (("signal", higher), ("snr", higher), ("age", younger))

__all__ = ["RANKING", "channel_frequency", "normalize_entry", "normalize_mac"]


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
