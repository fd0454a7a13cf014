"""The asset bucket (``ASSET_BUCKET``): where the map tiles and the public
export files go when it is set. One S3 client for it, used by the site's
downloads page, the tiles' upload and the plugins' export files; it talks to
``ICHNAEA_CONTENT__S3_ENDPOINT_URL`` (an S3-compatible server, with path-style
addressing) or, without one, to AWS. boto3 is imported only when a client is
made."""

from __future__ import annotations

from typing import Any

from ichnaea_host.site.content_settings import content_settings, exports_dir


def asset_bucket(ctx: Any) -> str:
    """The bucket's name; empty when the service keeps its assets in folders."""
    return str(ctx.settings.asset_bucket or "")


def asset_client(ctx: Any, *, in_request: bool = False) -> Any:
    """A boto3 S3 client for the asset bucket. ``in_request``: for a web
    request, which must not hang on a slow server (short timeouts, no retry)."""
    import boto3
    from botocore.config import Config

    endpoint = content_settings(ctx).s3_endpoint_url or None
    config = None
    if endpoint:
        quick: dict[str, Any] = dict(connect_timeout=3, read_timeout=10,
                                     retries={"max_attempts": 1}) if in_request else {}
        config = Config(s3={"addressing_style": "path"}, **quick)
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def export_exists(ctx: Any, name: str) -> bool:
    """Whether the public export file ``name`` was written already: in the
    exports folder, or under ``export/`` in the asset bucket when it is set."""
    bucket = asset_bucket(ctx)
    if not bucket:
        return (exports_dir(ctx) / name).is_file()
    from botocore.exceptions import ClientError

    try:
        asset_client(ctx).head_object(Bucket=bucket, Key=f"export/{name}")
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True
