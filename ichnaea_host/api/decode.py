"""Request body decoding: size limits, gzip/deflate, charset and JSON.

Every failure is a :class:`ParseError` with ``details.decode``, never a 500,
except a body over the size limit: :class:`RequestTooLarge` (413).
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

from ichnaea_host.api.errors import ParseError, RequestTooLarge

#: body limit, as sent and again after gzip/deflate decompression; a
#: 2000-report gzip batch is far below it. The web server refuses a larger
#: body itself (ichnaea_host/cli/webserver.py), this module again for any
#: other WSGI server.
MAX_BODY_BYTES = 20 * 1024 * 1024
#: decompression works in pieces of this size, so that a gzip bomb costs
#: no more memory than the limit
_PIECE = 256 * 1024

GZIP_ENCODINGS = ("gzip", "x-gzip")
PLAIN_ENCODINGS = ("", "identity")


def too_large(what: str = "body") -> RequestTooLarge:
    return RequestTooLarge({"decode": f"{what} larger than {MAX_BODY_BYTES} bytes"})


def _gunzip(data: bytes) -> bytes:
    """Decompress every gzip member, piece by piece, refusing more than
    MAX_BODY_BYTES of output as soon as it is passed."""
    pieces: list[bytes] = []
    size = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while piece := stream.read(_PIECE):
                size += len(piece)
                if size > MAX_BODY_BYTES:
                    raise too_large("gzip body, decompressed,")
                pieces.append(piece)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParseError({"decode": f"GZIPDecodeError({repr(exc)!r})"}) from None
    return b"".join(pieces)


def _inflate_as(data: bytes, wbits: int) -> bytes:
    """One deflate stream, piece by piece, refusing more than MAX_BODY_BYTES
    of output; zlib.error or EOFError when it is not one."""
    inflater = zlib.decompressobj(wbits)
    pieces: list[bytes] = []
    size = 0
    pending = data
    while not inflater.eof:
        piece = inflater.decompress(pending, _PIECE)
        if not piece and not inflater.unconsumed_tail:
            break  # the input is used up
        size += len(piece)
        if size > MAX_BODY_BYTES:
            raise too_large("deflate body, decompressed,")
        pieces.append(piece)
        pending = inflater.unconsumed_tail
    if not inflater.eof:
        raise EOFError("Compressed data ended before the end-of-stream marker was reached")
    return b"".join(pieces)


def _inflate(data: bytes) -> bytes:
    """Decompress a deflate body: zlib-wrapped as the standard says, or raw as
    some clients send it."""
    last: Exception | None = None
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        try:
            return _inflate_as(data, wbits)
        except (zlib.error, EOFError) as exc:
            last = exc
    raise ParseError({"decode": f"DeflateDecodeError({repr(last)!r})"})


def read_body(request: Request) -> bytes:
    """The request body, decompressed; read at most once per request."""
    cached = g.get("_decoded_body")
    if cached is not None:
        return cached
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise too_large()
    try:
        data = request.stream.read(MAX_BODY_BYTES + 1)
    except ClientDisconnected:
        raise ParseError({"decode": "the body ended before its Content-Length"}) from None
    if len(data) > MAX_BODY_BYTES:
        raise too_large()
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
