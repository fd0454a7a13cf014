"""Request body decoding: gzip/deflate, charset, JSON, with a size limit."""

from __future__ import annotations

import json
import zlib
from typing import Any

from flask import Request

from .errors import ParseError

#: compressed or plain body limit; a 2000-report gzip batch is far below it
MAX_BODY_BYTES = 20 * 1024 * 1024
#: limit after decompression (a gzip bomb stops here)
MAX_DECODED_BYTES = 100 * 1024 * 1024


def _inflate(data: bytes, wbits: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, MAX_DECODED_BYTES + 1)
        if len(out) > MAX_DECODED_BYTES or inflater.unconsumed_tail:
            raise ParseError({"decode": f"{name} body larger than {MAX_DECODED_BYTES} bytes"})
        if not inflater.eof:
            raise ParseError({"decode": repr(EOFError(
                "Compressed file ended before the end-of-stream marker was reached"))})
    except zlib.error as exc:
        raise ParseError({"decode": repr(exc)}) from None
    return out


def read_body(request: Request) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise ParseError({"decode": f"body larger than {MAX_BODY_BYTES} bytes"})
    data = request.get_data(cache=True)
    if len(data) > MAX_BODY_BYTES:
        raise ParseError({"decode": f"body larger than {MAX_BODY_BYTES} bytes"})
    encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
    if data and encoding == "gzip":
        data = _inflate(data, 16 + zlib.MAX_WBITS, "gzip")
    elif data and encoding == "deflate":
        try:
            data = _inflate(data, zlib.MAX_WBITS, "deflate")
        except ParseError:
            data = _inflate(data, -zlib.MAX_WBITS, "deflate")
    return data


def decode_json(request: Request) -> tuple[Any, bool]:
    """Return (data, body_was_empty). An empty body decodes to ``{}``."""
    data = read_body(request)
    charset = request.mimetype_params.get("charset") or "utf-8"
    try:
        text = data.decode(charset)
    except LookupError:
        raise ParseError({"decode": f"unknown charset {charset!r}"}) from None
    except UnicodeDecodeError as exc:
        raise ParseError({"decode": str(exc)}) from None
    if not text.strip():
        return {}, True
    try:
        return json.loads(text), False
    except ValueError as exc:
        raise ParseError({"decode": repr(exc)}) from None
