"""The ``cellTowers`` entries of geolocate queries and submitted reports
(read by :class:`~.radio.CellRadio`).

Clients differ in what they send, so the schemas are tolerant: the radio
per cell or once for the whole body (also ``null``, ``umts``, any case),
``psc`` or ``primaryScramblingCode``, ``newRadioCellId`` for 5G NR cells,
numbers as JSON strings (``"262"``, ``"01"``), explicit nulls. Values that
are not numbers at all (``"abc"``) are a parse error of the request, and so
is, in a geolocate query, a radio name that is none of :data:`QUERY_RADIOS`
(as in the original service); a submitted report's unknown radio is dropped.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from ichnaea_host import LenientInteger

from .cells import ARFCN_RANGE, RADIO_ALIASES

#: the radio types a submitted report may name (``cdma`` is kept, not learnt)
SUBMIT_RADIOS = ("gsm", "cdma", "wcdma", "lte", "nr")
#: the radio types a geolocate query may name, in any case (``umts`` is
#: ``wcdma``); another name is a parse error (``cdma`` cells are not located)
QUERY_RADIOS = SUBMIT_RADIOS

#: short lookup names -> the long names of queries and reports
LONG_NAMES = {"radio": "radioType", "mcc": "mobileCountryCode", "mnc": "mobileNetworkCode",
              "lac": "locationAreaCode", "cid": "cellId", "psc": "primaryScramblingCode",
              "age": "age", "asu": "asu", "signal": "signalStrength", "ta": "timingAdvance",
              "arfcn": "arfcn", "mcc_str": "mobileCountryCodeStr",
              "mnc_str": "mobileNetworkCodeStr"}

#: the digits an MCC and an MNC are spelt with (NeoStumbler's
#: ``mobileCountryCodeStr`` / ``mobileNetworkCodeStr``)
CODE_DIGITS = {"mobileCountryCodeStr": (3,), "mobileNetworkCodeStr": (2, 3)}


class RadioName(fields.Field):
    """A radio name; anything but a string is no value."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        return value if isinstance(value, str) else None


class QueryRadioName(RadioName):
    """A query's radio name: one of :data:`QUERY_RADIOS` or an alias, in any
    case; another string is invalid. Anything but a string, and the empty
    string, is no value."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {
            "description": f"One of {', '.join(QUERY_RADIOS)} or umts, in any case; another "
                           "name is a parse error, other values are ignored.",
            "examples": ["lte"]})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        if not isinstance(value, str):
            return None
        name = value.strip().lower()
        if name and RADIO_ALIASES.get(name, name) not in QUERY_RADIOS:
            raise ValidationError(f"Must be one of: {', '.join(QUERY_RADIOS)}.")
        return value


class CodeString(fields.Field):
    """An MCC or MNC spelt as digits (``"262"``, ``"05"``, ``"005"``); any
    other value, the wrong number of digits included, is no value (the
    integer code stays the cell's identity, the string is an extra)."""

    def __init__(self, digits: tuple[int, ...], **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)
        self.digits = digits

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        if not isinstance(value, str):
            return None
        value = value.strip()
        return value if value.isascii() and value.isdigit() and len(value) in self.digits \
            else None


class CellEntry(Schema):
    """One cell tower, in queries and in submitted reports."""

    class Meta:
        unknown = EXCLUDE

    radioType = RadioName()
    mobileCountryCode = LenientInteger()
    mobileNetworkCode = LenientInteger()
    locationAreaCode = LenientInteger()
    cellId = LenientInteger()
    newRadioCellId = LenientInteger()
    age = LenientInteger()
    asu = LenientInteger()
    psc = LenientInteger()
    primaryScramblingCode = LenientInteger()
    serving = LenientInteger()
    signalStrength = LenientInteger()
    timingAdvance = LenientInteger()
    #: NeoStumbler's extras: the channel number (ARFCN, UARFCN, EARFCN or
    #: NR-ARFCN, by the radio) and the codes as the network spells them
    arfcn = LenientInteger()
    mobileCountryCodeStr = CodeString(CODE_DIGITS["mobileCountryCodeStr"])
    mobileNetworkCodeStr = CodeString(CODE_DIGITS["mobileNetworkCodeStr"])


class CellQueryEntry(CellEntry):
    """One cell tower of a geolocate query."""

    radioType = QueryRadioName()


def clean_entry(entry: dict[str, Any], default_radio: Any = None) -> dict[str, Any]:
    """A submitted entry in the report's long names: nulls left out, the radio
    taken from the report when the entry has none, lower-cased (``umts`` is
    ``wcdma``; unknown radios dropped), ``psc`` and ``newRadioCellId`` folded
    into ``primaryScramblingCode`` and ``cellId``; the string codes fill a
    missing integer code and are left out where they spell another number
    than it; an ``arfcn`` out of every radio's range is left out."""
    out = {k: v for k, v in entry.items() if v is not None}
    for text, number in (("mobileCountryCodeStr", "mobileCountryCode"),
                         ("mobileNetworkCodeStr", "mobileNetworkCode")):
        if text in out:
            if number not in out:
                out[number] = int(out[text])
            elif out[number] != int(out[text]):
                del out[text]
    arfcn = out.get("arfcn")
    if arfcn is not None and not ARFCN_RANGE[0] <= arfcn <= ARFCN_RANGE[1]:
        del out["arfcn"]
    if not out.get("radioType") and default_radio:
        out["radioType"] = default_radio
    psc = out.pop("psc", None)
    if psc is not None:
        out.setdefault("primaryScramblingCode", psc)
    nr_cid = out.pop("newRadioCellId", None)
    if nr_cid is not None:
        out.setdefault("cellId", nr_cid)
    radio = out.pop("radioType", None)
    if isinstance(radio, str):
        radio = radio.strip().lower()
        radio = RADIO_ALIASES.get(radio, radio)
        if radio in SUBMIT_RADIOS:
            out["radioType"] = radio
    return out


def lacf_allowed(body: dict[str, Any]) -> bool:
    fallbacks = body.get("fallbacks")
    if not isinstance(fallbacks, dict):
        return True
    return fallbacks.get("lacf", True) is not False
