"""The wire formats of the external providers.

Each schema turns the provider-neutral query (:mod:`.query`) into one HTTP
request and reads the provider's answer. ``parse_response`` gets the HTTP
status and the decoded JSON body (None when the body was not JSON) and
returns ``{"lat", "lon", "accuracy", "fallback"}``, None for "not found", or
raises ValueError for an answer that cannot be used.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ichnaea_host import FallbackSchema

HEADERS = {"User-Agent": "ichnaea"}


def pick(entries: list[dict[str, Any]], fields: tuple[str, ...],
         rename: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Keep ``fields`` of every entry (renamed), leaving out missing values."""
    rename = rename or {}
    out = []
    for entry in entries:
        item = {rename.get(f, f): entry[f] for f in fields if entry.get(f) is not None}
        if item:
            out.append(item)
    return out


def number(value: Any, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} is not a number")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{what} is out of range")
    return value


def position(lat: Any, lon: Any, accuracy: Any, fallback: Any) -> dict[str, Any]:
    return {
        "lat": number(lat, -90.0, 90.0, "latitude"),
        "lon": number(lon, -180.0, 180.0, "longitude"),
        "accuracy": number(accuracy, 0.0, 40_000_000.0, "accuracy"),
        "fallback": "lacf" if fallback == "lacf" else None,
    }


class GeolocateSchema(FallbackSchema):
    """The Google-style format spoken by Ichnaea itself and by Combain."""

    BLUE_FIELDS: ClassVar[tuple[str, ...]] = ("macAddress", "age", "name", "signalStrength")
    CELL_FIELDS: ClassVar[tuple[str, ...]] = (
        "radioType", "mobileCountryCode", "mobileNetworkCode", "locationAreaCode", "cellId",
        "primaryScramblingCode", "age", "signalStrength", "timingAdvance")
    WIFI_FIELDS: ClassVar[tuple[str, ...]] = (
        "macAddress", "age", "channel", "signalStrength", "signalToNoiseRatio", "ssid")
    SEND_BLUE: ClassVar[bool] = True
    SEND_FALLBACKS: ClassVar[bool] = True

    def build_body(self, query: dict[str, Any]) -> dict[str, Any] | None:
        body: dict[str, Any] = {}
        if self.SEND_BLUE:
            blues = pick(query.get("bluetoothBeacons") or [], self.BLUE_FIELDS)
            if blues:
                body["bluetoothBeacons"] = blues
        cells = pick(query.get("cellTowers") or [], self.CELL_FIELDS)
        if cells:
            body["cellTowers"] = cells
        wifis = pick(query.get("wifiAccessPoints") or [], self.WIFI_FIELDS)
        if wifis:
            body["wifiAccessPoints"] = wifis
        if not body:
            return None
        if self.SEND_FALLBACKS:
            lacf = bool((query.get("fallbacks") or {}).get("lacf", True))
            body["fallbacks"] = {"lacf": lacf, "ipf": False}
        return body

    def build_request(
        self, query: dict[str, Any], url: str
    ) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        body = self.build_body(query)
        if body is None:
            return None
        return url, body, dict(HEADERS)

    def parse_response(self, status: int, body: Any) -> dict[str, Any] | None:
        if status == 404:
            return None
        if not 200 <= status < 300:
            raise ValueError(f"HTTP status {status}")
        if not isinstance(body, dict):
            raise ValueError("the answer is not a JSON object")
        location = body.get("location")
        if not isinstance(location, dict):
            raise ValueError("the answer has no location")
        return position(location.get("lat"), location.get("lng"), body.get("accuracy"),
                        body.get("fallback"))


class IchnaeaV1Schema(GeolocateSchema):
    PLUGIN_NAME = "ichnaea/v1"


class CombainV1Schema(GeolocateSchema):
    PLUGIN_NAME = "combain/v1"


class GoogleMapsV1Schema(GeolocateSchema):
    """Google's Geolocation API: no Bluetooth, no fallbacks, never the IP."""

    PLUGIN_NAME = "googlemaps/v1"

    CELL_FIELDS = ("radioType", "mobileCountryCode", "mobileNetworkCode", "locationAreaCode",
                   "cellId", "age", "signalStrength", "timingAdvance")
    WIFI_FIELDS = ("macAddress", "age", "channel", "signalStrength", "signalToNoiseRatio")
    SEND_BLUE = False
    SEND_FALLBACKS = False

    def build_body(self, query: dict[str, Any]) -> dict[str, Any] | None:
        body = super().build_body(query)
        if body is not None:
            body["considerIp"] = False
        return body


class UnwiredLabsV1Schema(FallbackSchema):
    """Unwired Labs' LocationAPI; the token follows a '#' in the fallback URL."""

    PLUGIN_NAME = "unwiredlabs/v1"

    #: Unwired Labs calls WCDMA "umts"
    RADIOS: ClassVar[dict[str, str]] = {"gsm": "gsm", "wcdma": "umts", "lte": "lte"}
    CELL_FIELDS: ClassVar[dict[str, str]] = {
        "radioType": "radio", "mobileCountryCode": "mcc", "mobileNetworkCode": "mnc",
        "locationAreaCode": "lac", "cellId": "cid", "signalStrength": "signal",
        "timingAdvance": "tA", "primaryScramblingCode": "psc", "asu": "asu"}
    WIFI_FIELDS: ClassVar[dict[str, str]] = {
        "macAddress": "bssid", "channel": "channel", "frequency": "frequency",
        "signalStrength": "signal", "signalToNoiseRatio": "signalToNoiseRatio"}
    NOT_FOUND = "No matches found"

    @staticmethod
    def split_url(url: str) -> tuple[str, str]:
        base, sep, token = url.partition("#")
        if not sep or not token.strip():
            raise ValueError("an unwiredlabs/v1 fallback_url needs the token after '#'")
        return base, token.strip()

    def build_request(
        self, query: dict[str, Any], url: str
    ) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        base, token = self.split_url(url)
        cells = pick(query.get("cellTowers") or [], tuple(self.CELL_FIELDS), self.CELL_FIELDS)
        for cell in cells:
            if "radio" in cell:
                cell["radio"] = self.RADIOS.get(cell["radio"], cell["radio"])
        wifis = pick(query.get("wifiAccessPoints") or [], tuple(self.WIFI_FIELDS),
                     self.WIFI_FIELDS)
        if not cells and not wifis:
            return None
        lacf = bool((query.get("fallbacks") or {}).get("lacf", True))
        body: dict[str, Any] = {"token": token, "fallbacks": {"lacf": lacf, "ipf": False}}
        if cells:
            body["cells"] = cells
        if wifis:
            body["wifi"] = wifis
        return base, body, dict(HEADERS)

    def parse_response(self, status: int, body: Any) -> dict[str, Any] | None:
        if status == 404:
            return None
        if not 200 <= status < 300:
            raise ValueError(f"HTTP status {status}")
        if not isinstance(body, dict):
            raise ValueError("the answer is not a JSON object")
        if body.get("status") != "ok":
            if body.get("message") == self.NOT_FOUND:
                return None
            raise ValueError("the provider reported an error")
        return position(body.get("lat"), body.get("lon"), body.get("accuracy"),
                        body.get("fallback"))


SCHEMAS = (IchnaeaV1Schema, CombainV1Schema, GoogleMapsV1Schema, UnwiredLabsV1Schema)
