"""The public files: the exports folder and the asset bucket (``ASSET_BUCKET``),
where the map tiles and the public export files go when it is set.

One S3 client for the bucket, used by the site's downloads page, the tiles'
upload and the plugins' export files (:func:`publish_export`); it talks to
``ICHNAEA_CONTENT__S3_ENDPOINT_URL`` (an S3-compatible server, with path-style
addressing) or, without one, to AWS. boto3 is imported only when a client is
made. Nothing here needs the web site: a worker's job writes its files
without loading a view.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ichnaea_host.core.content_settings import content_settings, exports_dir

__all__ = ["asset_bucket", "asset_client", "export_exists", "exports_dir", "open_data_file",
           "publish_export", "write_gzip"]


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


def write_gzip(path: Path, header: str, lines: Iterable[str], *, newline: str = "\n",
               level: int = 6, progress: Callable[[int], Any] | None = None) -> int:
    """Write ``header`` and ``lines`` as a gzipped text file at ``path``,
    atomically (a temporary file in the same folder, then a rename; readable
    by all); the number of lines after the header. The compression runs in a
    thread of its own (zlib lets go of the GIL), beside the reading of
    ``lines``; ``progress`` is told of every 5,000 lines written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".gz", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=level) as out, \
                ThreadPoolExecutor(1, "export-gzip") as compressor:
            pending: list[Future[int]] = []

            def write(text: str) -> None:
                pending.append(compressor.submit(out.write, text.encode("utf-8")))
                while len(pending) > 2:
                    pending.pop(0).result()

            buf: list[str] = [header]
            told = 0
            for line in lines:
                buf.append(line)
                count += 1
                if len(buf) >= 5000:
                    write(newline.join(buf) + newline)
                    buf = []
                    if progress is not None:
                        progress(count - told)
                        told = count
            write(newline.join(buf) + newline if buf else "")
            if progress is not None and count > told:
                progress(count - told)
            for future in pending:
                future.result()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def publish_export(ctx: Any, name: str, header: str, lines: Iterable[str], *,
                   newline: str = "\n", level: int = 6, output: Path | None = None,
                   progress: Callable[[int], Any] | None = None) -> tuple[str, int]:
    """Publish one gzipped export file (:func:`write_gzip`); (where it went,
    number of lines).

    To the folder ``output`` when given, else to ``ASSET_BUCKET`` under
    ``export/`` when a bucket is set, else to the exports folder. Readers
    never see half a file: the folder's file appears by a rename, the
    bucket's object by one upload of the finished file."""
    bucket = asset_bucket(ctx)
    if output is not None or not bucket:
        path = (output or exports_dir(ctx)) / name
        count = write_gzip(path, header, lines, newline=newline, level=level,
                           progress=progress)
        return str(path), count
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        count = write_gzip(path, header, lines, newline=newline, level=level,
                           progress=progress)
        asset_client(ctx).upload_file(str(path), bucket, f"export/{name}")
    return f"s3://{bucket}/export/{name}", count


class _CountingReader(io.RawIOBase):
    """A raw file that reports how many bytes were read (for a progress bar)."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int], Any] | None) -> None:
        self.raw = raw
        self.progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[:len(data)] = data
        if data and self.progress is not None:
            self.progress(len(data))
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_data_file(path: Path, progress: Callable[[int], Any] | None = None, *,
                   encoding: str = "utf-8", errors: str = "strict") -> IO[str]:
    """A data file to import (a cell export, a wardriving log) as text,
    gunzipped when it starts with gzip's magic bytes, newlines as written
    (for the csv module); ``progress`` is told the bytes read from the disk
    as they are read (what a progress bar over the file's size needs)."""
    raw = open(path, "rb")  # noqa: SIM115 - closed with the returned wrapper
    gzipped = raw.read(2) == b"\x1f\x8b"
    raw.seek(0)
    stream: IO[bytes] = io.BufferedReader(_CountingReader(raw, progress), 1 << 16)
    if gzipped:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
    return io.TextIOWrapper(stream, encoding=encoding, errors=errors, newline="")
