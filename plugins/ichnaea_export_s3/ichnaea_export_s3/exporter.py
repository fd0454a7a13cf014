"""Write batches of reports as gzipped JSON objects to an S3 bucket.

``export_config.url`` is ``s3://bucket/path``; the path is a template with
``{source}``, ``{api_key}``, ``{year}``, ``{month}`` and ``{day}`` (today's
UTC date as plain integers, ``2015/7/5``, as the original service writes
them). Each batch becomes ``<path>/<uuid1 hex>.json.gz`` holding
``{"items": [report, ...]}``, gzip level 7.

Every failure is raised as :class:`S3ExportError`, an ``OSError``, so the host
retries the batch and finally parks it. boto3 is imported at the first upload.
"""

from __future__ import annotations

import datetime
import gzip
import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from ichnaea_host import Exporter, get_logger, redact_key, utcnow

from .settings import S3Settings

log = get_logger("ichnaea.export.s3")

GZIP_LEVEL = 7

_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


class S3ExportError(OSError):
    """A batch could not be written."""


def parse_url(url: str | None) -> tuple[str, str]:
    """(bucket, path template) of ``s3://bucket/path``; the path ends with ``/``
    unless it is empty."""
    parts = urlsplit(url or "")
    if parts.scheme != "s3" or not parts.netloc:
        raise S3ExportError("expected an export url of the form s3://bucket/path")
    path = parts.path.lstrip("/")
    if path and not path.endswith("/"):
        path += "/"
    return parts.netloc, path


def object_key(template: str, source: str, api_key: str,
               today: datetime.date | None = None) -> str:
    today = today or utcnow().date()
    try:
        prefix = template.format(source=source, api_key=api_key, year=today.year,
                                 month=today.month, day=today.day)
    except (KeyError, IndexError, ValueError) as exc:
        raise S3ExportError(f"the export url's path is not a valid template: {exc!r}") from None
    return f"{prefix}{uuid.uuid1().hex}.json.gz"


def encode_batch(items: list[dict[str, Any]]) -> bytes:
    reports = [item.get("report") for item in items if isinstance(item, dict)]
    body = json.dumps({"items": [r for r in reports if r is not None]})
    return gzip.compress(body.encode("utf-8"), compresslevel=GZIP_LEVEL)


def client(settings: S3Settings) -> Any:
    """A boto3 S3 client for these settings, shared by the process (clients are
    thread-safe; each gets its own boto3 session)."""
    key = (settings.endpoint_url, settings.region, settings.addressing_style,
           settings.max_attempts, settings.timeout)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            import boto3.session
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
                connect_timeout=settings.timeout,
                read_timeout=settings.timeout,
                s3={"addressing_style": settings.addressing_style},
            )
            found = _clients[key] = boto3.session.Session().client(
                "s3",
                endpoint_url=settings.endpoint_url or None,
                region_name=settings.region or None,
                config=config,
            )
    return found


class S3Exporter(Exporter):
    """``export_config.schema = s3``: one object per batch, one queue per
    (position source, API key)."""

    PLUGIN_NAME = "s3"
    PARTITIONED = True
    # boto3's own exceptions are wrapped in S3ExportError (an OSError) by send()
    RETRIABLE = (OSError,)

    SETTINGS = S3Settings
    settings: S3Settings

    def send(self, items: list[dict[str, Any]]) -> None:
        bucket, template = parse_url(self.config.url)
        # PARTITIONED: the host hands over a queue of one source and API key
        source, api_key = self.partition.source, self.partition.api_key
        if source is None or api_key is None:
            raise S3ExportError(f"not an export queue of one source and key: {self.partition}")
        key = object_key(template, source, api_key)
        body = encode_batch(items)
        from botocore.exceptions import BotoCoreError, ClientError

        started = time.monotonic()
        try:
            client(self.settings).put_object(
                Bucket=bucket, Key=key, Body=body,
                ContentEncoding="gzip", ContentType="application/json",
            )
        except (BotoCoreError, ClientError) as exc:
            raise S3ExportError(f"{type(exc).__name__}: {exc}") from exc
        log.info("s3_upload", export=self.config.name, bucket=bucket,
                 source=source, api_key=redact_key(api_key), items=len(items),
                 bytes=len(body), ms=round((time.monotonic() - started) * 1000, 1))
