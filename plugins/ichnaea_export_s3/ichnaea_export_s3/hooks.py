"""Entry point of the export_s3 plugin: registration only; boto3 loads at the first upload."""

from __future__ import annotations

from typing import Any

from ichnaea_host import hookimpl


@hookimpl
def ichnaea_register_settings() -> Any:
    from .settings import S3Settings

    return S3Settings


@hookimpl
def ichnaea_register_exporters() -> list[Any]:
    from .exporter import S3Exporter

    return [S3Exporter]
