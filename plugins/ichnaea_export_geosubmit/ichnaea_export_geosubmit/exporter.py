"""Forward batches of reports to another service's geosubmit v2 endpoint.

One POST per batch: ``{"items": [report, ...]}`` as JSON, gzip level 5, with
the original service's headers. Reports travel unchanged. Every failure
(connection error, timeout, HTTP 4xx/5xx) raises :class:`GeosubmitError`, an
``OSError``, so that the host retries the batch and finally parks it.

The target URL often carries an API key in its query string, so it is never
logged and never put into an exception message: only its host and port are.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from ichnaea_host import Exporter, get_logger

from .settings import GeosubmitSettings

log = get_logger("ichnaea.export.geosubmit")

GZIP_LEVEL = 5
HEADERS = {
    "Content-Encoding": "gzip",
    "Content-Type": "application/json",
    "User-Agent": "ichnaea",
}

_local = threading.local()


class GeosubmitError(OSError):
    """A batch could not be delivered; the message names no secret."""


def session() -> requests.Session:
    """This thread's HTTP session: connections to a target are reused between batches."""
    current = getattr(_local, "session", None)
    if current is None:
        current = _local.session = requests.Session()
    return current


def safe_target(url: str) -> str:
    """``host:port`` of a URL, without credentials, path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


def encode_batch(items: list[dict[str, Any]]) -> bytes:
    reports = [item.get("report") for item in items if isinstance(item, dict)]
    body = json.dumps({"items": [r for r in reports if r is not None]})
    return gzip.compress(body.encode("utf-8"), compresslevel=GZIP_LEVEL)


class GeosubmitExporter(Exporter):
    """``export_config.schema = geosubmit``: POST each batch to ``export_config.url``."""

    PLUGIN_NAME = "geosubmit"
    # requests.RequestException is an OSError too; everything raised here is.
    RETRIABLE = (OSError,)

    SETTINGS = GeosubmitSettings
    settings: GeosubmitSettings

    def send(self, items: list[dict[str, Any]]) -> None:
        url = self.config.url or ""
        target = safe_target(url)
        if not url.startswith(("http://", "https://")):
            raise GeosubmitError(f"export {self.config.name!r} has no http(s) url")
        body = encode_batch(items)
        started = time.monotonic()
        try:
            response = session().post(url, data=body, headers=HEADERS,
                                      timeout=self.settings.timeout)
        except requests.RequestException as exc:
            # requests' messages contain the full URL: keep only the kind of failure
            raise GeosubmitError(f"{type(exc).__name__} sending to {target}") from None
        log.info("geosubmit_upload", export=self.config.name, target=target,
                 status=response.status_code, items=len(items), bytes=len(body),
                 ms=round((time.monotonic() - started) * 1000, 1))
        if response.status_code >= 400:
            raise GeosubmitError(f"HTTP {response.status_code} from {target}")
