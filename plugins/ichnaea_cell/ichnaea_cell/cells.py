"""Cell identities, their binary keys, and the validation of cell entries.

A cell is named by (radio, mcc, mnc, lac, cid); its area by (radio, mcc, mnc,
lac). 5G NR cells have 36-bit cell ids and 24-bit tracking area codes, wider
than the 16/32-bit fields of the original service's 11-byte cell id, so every
radio uses one wider layout here:

    cellid (13 bytes) = radio (1) mcc (2) mnc (2) lac (3) cid (5), big-endian
    areaid  (8 bytes) = the first 8 bytes of the cell id

A cell's area id is a prefix of its cell id, so both order the same way.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from ichnaea_host import Ranking, higher, lower, younger
from ichnaea_host import bounded as in_range
from ichnaea_host import dedupe as dedupe_entries

from .mcc import valid_mccs

RADIO_CODES = {"gsm": 0, "wcdma": 2, "lte": 3, "nr": 4}
RADIO_NAMES = {code: name for name, code in RADIO_CODES.items()}
RADIOS = tuple(RADIO_CODES)
#: what clients send for the radios above
RADIO_ALIASES = {"umts": "wcdma"}

CELLID_BYTES = 13
AREAID_BYTES = 8
_HEAD = struct.Struct("!BHH")

AGE_RANGE = (-3_600_000, 3_600_000)
MNC_RANGE = (0, 999)
#: location/tracking area codes: 0 and the two highest values are reserved
LAC_RANGE = {"gsm": (1, 65533), "wcdma": (1, 65533), "lte": (1, 65533), "nr": (1, 16_777_213)}
#: 28-bit cell ids (UTRAN, E-UTRAN), 36-bit NR cell identities
CID_RANGE = {"gsm": (1, 268_435_455), "wcdma": (1, 268_435_455), "lte": (1, 268_435_455),
             "nr": (1, 68_719_476_735)}
#: primary scrambling code (WCDMA), physical cell id (LTE 0..503, NR 0..1007)
PSC_RANGE = {"gsm": (0, 511), "wcdma": (0, 511), "lte": (0, 503), "nr": (0, 1007)}
TA_RANGE = (0, 63)
#: channel numbers: GSM ARFCN 0..1023, UARFCN and EARFCN 0..262143,
#: NR-ARFCN 0..3279165 (one range for all: a client's radio may be wrong)
ARFCN_RANGE = (0, 3_279_165)
#: signal strength in dBm, per radio (NR: SS-RSRP)
SIGNAL_RANGE = {"gsm": (-113, -51), "wcdma": (-121, -25), "lte": (-140, -43),
                "nr": (-156, -31)}
ASU_RANGE = {"gsm": (0, 31), "wcdma": (-5, 91), "lte": (0, 97), "nr": (0, 97)}
#: dBm from an arbitrary strength unit, when only that was sent
ASU_TO_DBM = {"gsm": lambda asu: 2 * asu - 113, "wcdma": lambda asu: asu - 116,
              "lte": lambda asu: asu - 140, "nr": lambda asu: asu - 140}

#: an area id's fields, in the order of the key
AREA_FIELDS = ("radio", "mcc", "mnc", "lac")
CELL_FIELDS = (*AREA_FIELDS, "cid")


# ---------------------------------------------------------------------------
# keys


def encode_areaid(radio: str, mcc: int, mnc: int, lac: int) -> bytes:
    return _HEAD.pack(RADIO_CODES[radio], mcc, mnc) + lac.to_bytes(3, "big")


def encode_cellid(radio: str, mcc: int, mnc: int, lac: int, cid: int) -> bytes:
    return encode_areaid(radio, mcc, mnc, lac) + cid.to_bytes(5, "big")


def decode_areaid(areaid: bytes | str) -> dict[str, Any]:
    """{radio, mcc, mnc, lac} of an area id (bytes, or hex as the key columns show it)."""
    raw = bytes.fromhex(areaid) if isinstance(areaid, str) else areaid
    radio, mcc, mnc = _HEAD.unpack(raw[:5])
    return {"radio": RADIO_NAMES[radio], "mcc": mcc, "mnc": mnc,
            "lac": int.from_bytes(raw[5:8], "big")}


def decode_cellid(cellid: bytes | str) -> dict[str, Any]:
    """{radio, mcc, mnc, lac, cid} of a cell id (bytes or hex)."""
    raw = bytes.fromhex(cellid) if isinstance(cellid, str) else cellid
    return {**decode_areaid(raw[:AREAID_BYTES]), "cid": int.from_bytes(raw[8:13], "big")}


def cellid_hex(cell: dict[str, Any]) -> str:
    return encode_cellid(*(cell[f] for f in CELL_FIELDS)).hex()


def areaid_hex(cell: dict[str, Any]) -> str:
    return encode_areaid(*(cell[f] for f in AREA_FIELDS)).hex()


# ---------------------------------------------------------------------------
# validation


def radio_name(value: Any) -> str | None:
    """``gsm``, ``wcdma``, ``lte`` or ``nr`` from what a client sent (any case,
    ``umts`` for WCDMA); None for anything else (``cdma`` included)."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    name = RADIO_ALIASES.get(name, name)
    return name if name in RADIO_CODES else None


def whole(value: Any) -> int | None:
    """An integer from a JSON number; None for anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    return value if isinstance(value, int) else None


def bounded(value: Any, low: int, high: int) -> int | None:
    """A whole number (:func:`whole`) within ``low`` .. ``high``; None otherwise."""
    number: int | None = in_range(whole(value), low, high)
    return number


def normalize_cell(entry: dict[str, Any], default_radio: Any = None) -> dict[str, Any] | None:
    """One cell entry (a query's or a report's) in short names, or None to drop it.

    The radio comes from the entry, or from the report's ``radioType`` when
    the entry has none. MCC and MNC are required, and so is the LAC, except
    for a neighbour (:func:`is_neighbour`: no cell id, but a ``psc``); an
    invalid cell id leaves ``cid`` None (the entry still names its area). Out-of-range
    optional fields become None; a GSM cell id above 65535 is a WCDMA cell;
    the signal is derived from ``asu`` when only that was sent.
    """
    given = entry.get("radioType")
    radio = radio_name(given if given else default_radio)
    if radio is None:
        return None
    mcc = whole(entry.get("mobileCountryCode"))
    if mcc is None or mcc not in valid_mccs():
        return None
    mnc = bounded(entry.get("mobileNetworkCode"), *MNC_RANGE)
    lac = bounded(entry.get("locationAreaCode"), *LAC_RANGE[radio])
    if mnc is None:
        return None
    raw_cid = entry.get("cellId")
    if raw_cid is None and radio == "nr":
        raw_cid = entry.get("newRadioCellId")
    cid = bounded(raw_cid, *CID_RANGE[radio]) if lac is not None else None
    if radio == "gsm" and cid is not None and cid > 65535:
        radio = "wcdma"
    psc = entry.get("primaryScramblingCode")
    psc = bounded(entry.get("psc") if psc is None else psc, *PSC_RANGE[radio])
    if lac is None and psc is None:
        return None  # neither a cell, nor an area, nor a neighbour
    signal, asu = whole(entry.get("signalStrength")), whole(entry.get("asu"))
    if asu is not None and asu < -5 and (signal is None or signal >= 0):
        signal, asu = asu, None  # the two were sent the wrong way round
    signal = bounded(signal, *SIGNAL_RANGE[radio])
    asu = bounded(asu, *ASU_RANGE[radio])
    if signal is None and asu is not None:
        signal = ASU_TO_DBM[radio](asu)
    return {
        "radio": radio, "mcc": mcc, "mnc": mnc, "lac": lac, "cid": cid, "psc": psc,
        "signal": signal,
        "ta": None if radio == "wcdma" else bounded(entry.get("timingAdvance"), *TA_RANGE),
        "age": bounded(entry.get("age"), *AGE_RANGE),
        "asu": asu,
        "arfcn": bounded(entry.get("arfcn"), *ARFCN_RANGE),
        "mcc_str": code_string(entry.get("mobileCountryCodeStr"), mcc),
        "mnc_str": code_string(entry.get("mobileNetworkCodeStr"), mnc),
    }


def code_string(value: Any, code: int) -> str | None:
    """An MCC or MNC as the client spelt it (``"05"``), when it spells ``code``."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) == code:
        return value
    return None


def is_neighbour(cell: dict[str, Any]) -> bool:
    """A cell named only by its physical id (``psc``: PSC or PCI) and maybe
    its channel, without a cell id: a neighbour as phones list them."""
    return cell["cid"] is None and cell["psc"] is not None


def is_area(cell: dict[str, Any]) -> bool:
    """An entry naming its area (a cell id or not)."""
    return cell["lac"] is not None


#: how entries for the same cell are ranked: lower timing advance, stronger
#: signal, higher asu, younger age, in that order
RANKING: Ranking = (("ta", lower), ("signal", higher), ("asu", higher), ("age", younger))


def cell_key(cell: dict[str, Any]) -> tuple[Any, ...]:
    """A cell's identity; an entry without a cell id also counts its physical
    id and channel, so that two neighbours with the same PCI on two channels
    stay two entries (and an area lookup stays one)."""
    key = tuple(cell[f] for f in CELL_FIELDS)
    if cell["cid"] is None:
        key += (cell["psc"], cell["arfcn"])
    return key


def dedupe(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per cell (or per area, for entries without a cell id); a later
    entry replaces an earlier one unless the earlier one is better
    (:func:`ichnaea_host.stations.better` by :data:`RANKING`)."""
    return dedupe_entries(cells, RANKING, key=cell_key)


# ---------------------------------------------------------------------------
# observation weight


#: (signal assumed when none was sent, offset) per radio
SIGNAL_WEIGHT = {"gsm": (-95, -5), "wcdma": (-100, 0), "lte": (-105, 5), "nr": (-105, 5)}


def signal_weight(radio: str, signal: int | None) -> float:
    default, offset = SIGNAL_WEIGHT[radio]
    value = default if signal is None else signal
    return (10000.0 / (value + offset) ** 2) ** 2
