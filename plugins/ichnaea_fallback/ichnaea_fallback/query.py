"""The provider-neutral form of a locate query, and its cache identities.

Every schema builds its request from one dict shaped like a geolocate body:
``bluetoothBeacons``, ``cellTowers`` and ``wifiAccessPoints`` lists of
validated, de-duplicated entries with long field names (null fields left
out) and ``fallbacks``. WiFi comes from the wifi fragment's lookups in
``query.networks``; cells and beacons are read from ``query.body`` when a
fragment put them there, and checked here, so that the plugin does not depend
on another plugin's lookup types.
"""

from __future__ import annotations

import struct
from typing import Any

from ichnaea_host import Query, Ranking, dedupe, higher, lower, normalize_mac, younger
from ichnaea_host import bounded as in_range

#: queries with this many WiFi or Bluetooth networks (or more) are not cached
MAX_CACHED_NETWORKS = 20
MIN_MAC_NETWORKS = 2

AGE = (-3_600_000, 3_600_000)

#: radio codes of the 11-byte cell id (radio, mcc, mnc, lac, cid)
RADIO_CODES = {"gsm": 0, "wcdma": 2, "lte": 3}
RADIO_ALIASES = {"umts": "wcdma"}
CELL_SIGNAL = {"gsm": (-113, -51), "wcdma": (-121, -25), "lte": (-140, -43)}
CELL_ASU = {"gsm": (0, 31), "wcdma": (-5, 91), "lte": (0, 97)}
ASU_TO_SIGNAL = {"gsm": lambda a: 2 * a - 113, "wcdma": lambda a: a - 116,
                 "lte": lambda a: a - 140}

WIFI_NAMES = {"mac": "macAddress", "age": "age", "channel": "channel",
              "frequency": "frequency", "signal": "signalStrength",
              "snr": "signalToNoiseRatio", "ssid": "ssid"}


#: duplicates (the station kit's rule, in the API's names)
BLUE_RANKING: Ranking = (("signalStrength", higher), ("age", younger))
CELL_RANKING: Ranking = (("timingAdvance", lower), ("signalStrength", higher),
                         ("asu", higher), ("age", younger))


def bounded(value: Any, low: float, high: float) -> int | None:
    """A whole number within ``low`` .. ``high`` (fractions truncated); None otherwise."""
    number = in_range(value, low, high)
    return None if number is None else int(number)


def _compact(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if v is not None}


def wifi_entries(query: Query) -> list[dict[str, Any]]:
    """The wifi fragment's lookups (short names) as geolocate entries."""
    out: list[dict[str, Any]] = []
    for lookup in query.networks.get("wifi") or []:
        if not isinstance(lookup, dict):
            continue
        entry: dict[str, Any] = {WIFI_NAMES.get(k) or k: v for k, v in lookup.items()
                                 if v is not None}
        mac = normalize_mac(entry.get("macAddress"))
        if mac is None:
            continue
        entry["macAddress"] = mac
        out.append(entry)
    return out if len(out) >= MIN_MAC_NETWORKS else []


def blue_entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    valid = []
    for raw in body.get("bluetoothBeacons") or []:
        if not isinstance(raw, dict):
            continue
        mac = normalize_mac(raw.get("macAddress"))
        if mac is None:
            continue
        name = raw.get("name")
        valid.append(_compact({
            "macAddress": mac,
            "age": bounded(raw.get("age"), *AGE),
            "name": name if isinstance(name, str) else None,
            "signalStrength": bounded(raw.get("signalStrength"), -127, 0),
        }))
    unique = dedupe(valid, BLUE_RANKING, key=lambda e: e["macAddress"])
    return unique if len(unique) >= MIN_MAC_NETWORKS else []


def _cell(raw: dict[str, Any], default_radio: Any) -> dict[str, Any] | None:
    radio = raw.get("radioType") or raw.get("radio") or default_radio
    if not isinstance(radio, str):
        return None
    radio = radio.strip().lower()
    radio = RADIO_ALIASES.get(radio, radio)
    if radio not in RADIO_CODES:
        return None
    mcc = bounded(raw.get("mobileCountryCode"), 1, 999)
    mnc = bounded(raw.get("mobileNetworkCode"), 0, 999)
    lac = bounded(raw.get("locationAreaCode"), 1, 65533)
    cid = bounded(raw.get("cellId"), 1, 268_435_455)
    if mcc is None or mnc is None or lac is None or cid is None:
        return None  # an area alone is not something to ask a provider about
    if radio == "gsm" and cid > 65535:
        radio = "wcdma"
    psc_raw = raw.get("primaryScramblingCode")
    psc = bounded(psc_raw if psc_raw is not None else raw.get("psc"), 0, 511)
    if radio == "lte" and psc is not None and psc > 503:
        psc = None
    ta = None if radio == "wcdma" else bounded(raw.get("timingAdvance"), 0, 63)
    signal = bounded(raw.get("signalStrength"), -140, -25)
    asu = bounded(raw.get("asu"), -5, 97)
    if signal is not None:
        signal = bounded(signal, *CELL_SIGNAL[radio])
    if asu is not None:
        asu = bounded(asu, *CELL_ASU[radio])
    if signal is None and asu is not None:
        signal = ASU_TO_SIGNAL[radio](asu)
    return _compact({
        "radioType": radio,
        "mobileCountryCode": mcc,
        "mobileNetworkCode": mnc,
        "locationAreaCode": lac,
        "cellId": cid,
        "primaryScramblingCode": psc,
        "age": bounded(raw.get("age"), *AGE),
        "asu": asu,
        "signalStrength": signal,
        "timingAdvance": ta,
    })


def cell_entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    default_radio = body.get("radioType")
    valid = [c for c in (_cell(raw, default_radio) for raw in body.get("cellTowers") or []
                         if isinstance(raw, dict)) if c is not None]
    return dedupe(valid, CELL_RANKING, key=cell_key)


def cell_key(cell: dict[str, Any]) -> tuple[Any, ...]:
    return (cell["radioType"], cell["mobileCountryCode"], cell["mobileNetworkCode"],
            cell["locationAreaCode"], cell["cellId"])


def provider_query(query: Query) -> dict[str, Any]:
    """The query every schema builds its request from."""
    body = query.body or {}
    return {
        "bluetoothBeacons": blue_entries(body),
        "cellTowers": cell_entries(body),
        "wifiAccessPoints": wifi_entries(query),
        "fallbacks": {"lacf": bool(query.fallbacks.get("lacf", True)),
                      "ipf": bool(query.fallbacks.get("ipf", True))},
    }


def has_networks(pquery: dict[str, Any]) -> bool:
    return bool(pquery["bluetoothBeacons"] or pquery["cellTowers"]
                or pquery["wifiAccessPoints"])


def cache_ids(pquery: dict[str, Any]) -> list[tuple[str, bytes]] | None:
    """(kind, raw id) of every network, when the query's answer may be cached.

    Cached are: exactly one cell and nothing else (only when area answers
    are allowed, as the provider's answer depends on that flag); WiFi alone
    or Bluetooth alone with fewer than 20 networks. Anything else: None.
    """
    blues, cells, wifis = (pquery["bluetoothBeacons"], pquery["cellTowers"],
                           pquery["wifiAccessPoints"])
    if len(cells) == 1 and not blues and not wifis:
        if not pquery["fallbacks"].get("lacf", True):
            return None
        radio, mcc, mnc, lac, cid = cell_key(cells[0])
        return [("cell", struct.pack("!bHHHI", RADIO_CODES[radio], mcc, mnc, lac, cid))]
    if wifis and not blues and not cells and len(wifis) < MAX_CACHED_NETWORKS:
        return [("wifi", bytes.fromhex(w["macAddress"])) for w in wifis]
    if blues and not cells and not wifis and len(blues) < MAX_CACHED_NETWORKS:
        return [("blue", bytes.fromhex(b["macAddress"])) for b in blues]
    return None
