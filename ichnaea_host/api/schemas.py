"""Request schemas, composed from the report fragments the plugins register.

The host declares the report-level fields (position, timestamp, fallbacks);
each :class:`~ichnaea_host.interfaces.ReportFragment` adds its list
(``wifiAccessPoints``, ``cellTowers`` ...). Unknown fields are ignored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load

from ..interfaces import ReportFragment
from .errors import ParseError

POSITION_SOURCES = ("fixed", "gnss", "fused", "query")


class LenientBoolean(fields.Field):
    """Anything but false/0 (in any case) is true, as the original's clients expect."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        return str(value).lower() not in ("false", "0")


class FiniteFloat(fields.Float):
    """A float; NaN and infinities become missing instead of failing the request."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        number = super()._deserialize(value, attr, data, **kwargs)
        return number if number is not None and math.isfinite(number) else None


class Fallbacks(Schema):
    class Meta:
        unknown = EXCLUDE

    lacf = LenientBoolean(load_default=True, allow_none=True)
    ipf = LenientBoolean(load_default=True, allow_none=True)


class LocateBase(Schema):
    class Meta:
        unknown = EXCLUDE

    carrier = fields.String(allow_none=True)
    considerIp = LenientBoolean(load_default=True, allow_none=True)
    homeMobileCountryCode = fields.Integer(allow_none=True)
    homeMobileNetworkCode = fields.Integer(allow_none=True)
    radioType = fields.String(allow_none=True)
    fallbacks = fields.Nested(Fallbacks, allow_none=True)


class Position(Schema):
    class Meta:
        unknown = EXCLUDE

    latitude = FiniteFloat(allow_none=True)
    longitude = FiniteFloat(allow_none=True)
    accuracy = FiniteFloat(allow_none=True)
    altitude = FiniteFloat(allow_none=True)
    altitudeAccuracy = FiniteFloat(allow_none=True)
    heading = FiniteFloat(allow_none=True)
    pressure = FiniteFloat(allow_none=True)
    speed = FiniteFloat(allow_none=True)
    age = fields.Integer(allow_none=True)
    source = fields.String(allow_none=True)

    @post_load
    def clean(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        source = data.get("source")
        if isinstance(source, str) and source.lower() in POSITION_SOURCES:
            data["source"] = source.lower()
        else:
            data.pop("source", None)
        return {k: v for k, v in data.items() if v is not None}


class ReportBase(Schema):
    class Meta:
        unknown = EXCLUDE

    carrier = fields.String(allow_none=True)
    homeMobileCountryCode = fields.Integer(allow_none=True)
    homeMobileNetworkCode = fields.Integer(allow_none=True)
    radioType = fields.String(allow_none=True)
    timestamp = fields.Raw(allow_none=True)
    position = fields.Nested(Position, allow_none=True)


def _list_field(schema: Schema) -> fields.Field:
    return fields.List(fields.Nested(schema), allow_none=True, load_default=list)


def locate_schema(fragments: Sequence[ReportFragment]) -> Schema:
    declared = {f.FIELD: _list_field(f.query_entry_schema()) for f in fragments}
    cls = type("LocateSchema", (LocateBase,), declared)
    return cls()


def submit_schema(fragments: Sequence[ReportFragment]) -> Schema:
    declared = {f.FIELD: _list_field(f.submit_entry_schema()) for f in fragments}
    report = type("ReportSchema", (ReportBase,), declared)
    batch = type("SubmitSchema", (Schema,), {
        "Meta": type("Meta", (), {"unknown": EXCLUDE}),
        "items": fields.List(fields.Nested(report), required=True),
    })
    return batch()


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix
            out.update(flatten_messages(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix] = " ".join(messages)
    elif isinstance(messages, list):
        for value in messages:
            out.update(flatten_messages(value, prefix))
    else:
        out[prefix] = str(messages)
    return out


def load(schema: Schema, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ParseError({"validation": {"": f"{json_repr(data)} is not a mapping type"}})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ParseError({"validation": flatten_messages(exc.messages)}) from None


def json_repr(data: Any) -> str:
    import json

    return json.dumps(data)[:200]


def now_ms() -> int:
    return int(time.time() * 1000)
