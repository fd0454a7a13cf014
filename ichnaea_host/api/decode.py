"""Request body decoding: size limits, gzip/deflate, charset and JSON.

Every failure is a :class:`ParseError` with ``details.decode``, never a 500.
An empty body (Firefox sends one) decodes to ``{}``.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from typing import Any

from flask import Request, g
from werkzeug.exceptions import ClientDisconnected

from ichnaea_host.api.errors import ParseError

#: body limit as sent (compressed or not); a 2000-report gzip batch is far below it
MAX_BODY_BYTES = 20 * 1024 * 1024
#: limit after decompression: a gzip bomb stops here
MAX_DECODED_BYTES = 100 * 1024 * 1024

GZIP_ENCODINGS = ("gzip", "x-gzip")
PLAIN_ENCODINGS = ("", "identity")


def _too_large(limit: int, what: str = "body") -> ParseError:
    return ParseError({"decode": f"{what} larger than {limit} bytes"})


def _gunzip(data: bytes) -> bytes:
    """Decompress every gzip member, refusing more than MAX_DECODED_BYTES."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(MAX_DECODED_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParseError({"decode": f"GZIPDecodeError({repr(exc)!r})"}) from None
    if len(out) > MAX_DECODED_BYTES:
        raise _too_large(MAX_DECODED_BYTES, "gzip body, decompressed,")
    return out


def _inflate(data: bytes) -> bytes:
    """Decompress a deflate body: zlib-wrapped as the standard says, or raw as
    some clients send it."""
    last: Exception | None = None
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, MAX_DECODED_BYTES + 1)
        except zlib.error as exc:
            last = exc
            continue
        if len(out) > MAX_DECODED_BYTES or inflater.unconsumed_tail:
            raise _too_large(MAX_DECODED_BYTES, "deflate body, decompressed,")
        if not inflater.eof:
            last = EOFError("Compressed data ended before the end-of-stream marker was reached")
            continue
        return out
    raise ParseError({"decode": f"DeflateDecodeError({repr(last)!r})"})


def read_body(request: Request) -> bytes:
    """The request body, decompressed; read at most once per request."""
    cached = g.get("_decoded_body")
    if cached is not None:
        return cached
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise _too_large(MAX_BODY_BYTES)
    try:
        data = request.stream.read(MAX_BODY_BYTES + 1)
    except ClientDisconnected:
        raise ParseError({"decode": "the body ended before its Content-Length"}) from None
    if len(data) > MAX_BODY_BYTES:
        raise _too_large(MAX_BODY_BYTES)
    encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
    if data and encoding in GZIP_ENCODINGS:
        data = _gunzip(data)
    elif data and encoding == "deflate":
        data = _inflate(data)
    elif data and encoding not in PLAIN_ENCODINGS:
        raise ParseError({"decode": f"unsupported Content-Encoding {encoding[:40]!r}, "
                                    "use gzip or deflate"})
    g._decoded_body = data
    return data


def decode_json(request: Request) -> tuple[Any, bool]:
    """Return (data, body_was_empty). An empty or blank body decodes to ``{}``."""
    data = read_body(request)
    if not data:
        return {}, True
    charset = (request.mimetype_params.get("charset") or "utf-8").strip().lower()
    if charset in ("utf-8", "utf8"):
        charset = "utf-8-sig"  # a byte order mark is no reason to refuse a body
    try:
        text = data.decode(charset)
    except LookupError:
        raise ParseError({"decode": f"unknown charset {charset[:40]!r}"}) from None
    except UnicodeDecodeError as exc:
        raise ParseError({"decode": str(exc).replace("utf-8-sig", "utf-8")}) from None
    if not text.strip():
        return {}, True
    try:
        return json.loads(text), False
    except RecursionError:
        raise ParseError({"decode": "JSON nested too deeply"}) from None
    except ValueError as exc:
        raise ParseError({"decode": repr(exc)}) from None
