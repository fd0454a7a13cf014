"""Request schemas, composed from the report fragments the plugins register.

The host declares the report-level fields (position, timestamp, fallbacks);
each :class:`~ichnaea_host.core.plugin_classes.ReportFragment` adds its list
(``wifiAccessPoints``, ``cellTowers`` ...). Unknown fields are ignored, type
errors are parse errors with a dotted path (``items.0.position.latitude``).

Three submit formats share one output shape (the v2 report):

- v2 ``/v2/geosubmit``: ``{"items": [{"position": {...}, "wifiAccessPoints": [...]}]}``
- v1 ``/v1/geosubmit``: the position fields sit in the report itself; the
  fragments' entries may use other names (``ReportFragment.V1_RENAMES``)
- v0 ``/v1/submit``: short names (``lat``, ``lon``, ``time`` as ISO 8601,
  lists named by ``ReportFragment.V0_FIELD`` with ``V0_RENAMES``)
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from ichnaea_host.api import loader
from ichnaea_host.api.errors import ParseError
from ichnaea_host.core.lenient import LenientBoolean, LenientFloat, LenientInteger
from ichnaea_host.core.plugin_classes import ReportFragment

POSITION_SOURCES = ("fixed", "gnss", "fused", "query")
#: the fields of a report's position, in the order of the v2 format
POSITION_FIELDS = ("latitude", "longitude", "accuracy", "altitude", "altitudeAccuracy",
                   "heading", "pressure", "speed", "age", "source")
#: v0 names of position fields that differ from v2
V0_POSITION_NAMES = {"latitude": "lat", "longitude": "lon",
                     "altitudeAccuracy": "altitude_accuracy"}
#: a timestamp outside (MIN, MAX) milliseconds is replaced by the time of arrival
MIN_TIMESTAMP, MAX_TIMESTAMP = 10**12, 10**13


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------
# Report-level fields


class OptionalString(fields.Field):
    """A string; any other value is no value (for fields the service does not
    rely on, such as ``carrier``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        return value if isinstance(value, str) else None


class PositionSource(fields.Field):
    """``fixed``, ``gnss``, ``fused`` or ``query`` in any case; anything else
    (``gps``, ``""``, numbers) is no value."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        if isinstance(value, str) and value.strip().lower() in POSITION_SOURCES:
            return value.strip().lower()
        return None


class Timestamp(fields.Field):
    """Milliseconds since the epoch; anything unusable is no value (the report
    then gets its time of arrival), never an error."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | None:
        try:
            number = LenientInteger().deserialize(value)
        except ValidationError:
            return None
        return number if number is not None and MIN_TIMESTAMP < number < MAX_TIMESTAMP else None


class IsoTime(Timestamp):
    """The v0 ``time``: an ISO 8601 string (UTC when it names no offset), or
    milliseconds; anything unusable is no value."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | None:
        if not isinstance(value, str):
            return super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            number = int(parsed.timestamp() * 1000)
        except (OverflowError, OSError, ValueError):
            return None
        return number if MIN_TIMESTAMP < number < MAX_TIMESTAMP else None


class NetworkList(fields.List):
    """A list of network entries; null entries are skipped, a null list is empty."""

    def __init__(self, inner: fields.Field, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        kwargs.setdefault("load_default", list)
        super().__init__(inner, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list):
            return super()._deserialize(value, attr, data, **kwargs)
        kept = [index for index, entry in enumerate(value) if entry is not None]
        try:
            return super()._deserialize([value[i] for i in kept], attr, data, **kwargs)
        except ValidationError as exc:  # name entries by their place in the request
            messages = exc.messages
            if isinstance(messages, dict):
                messages = {kept[k] if isinstance(k, int) else k: v for k, v in messages.items()}
            raise ValidationError(messages) from None


def _position_fields(names: dict[str, str] | None = None) -> dict[str, fields.Field]:
    """Fresh position fields; ``names`` maps a field to its name in the request."""
    names = names or {}
    made: dict[str, fields.Field] = {}
    for name in POSITION_FIELDS:
        if name == "source":
            field: fields.Field = PositionSource()
        elif name == "age":
            field = LenientInteger()
        else:
            field = LenientFloat()
        if name in names:
            field.data_key = names[name]
        made[name] = field
    return made


class Strict(Schema):
    class Meta:
        unknown = EXCLUDE


#: the v2 ``position`` object
PositionSchema = type("PositionSchema", (Strict,), _position_fields())


class Fallbacks(Strict):
    lacf = LenientBoolean(load_default=True)
    ipf = LenientBoolean(load_default=True)


class LocateBase(Strict):
    carrier = OptionalString()
    considerIp = LenientBoolean(load_default=True)
    homeMobileCountryCode = LenientInteger()
    homeMobileNetworkCode = LenientInteger()
    radioType = OptionalString()
    fallbacks = fields.Nested(Fallbacks, allow_none=True)


class ReportBase(Strict):
    carrier = OptionalString()
    homeMobileCountryCode = LenientInteger()
    homeMobileNetworkCode = LenientInteger()
    radioType = OptionalString()
    timestamp = Timestamp()


# ---------------------------------------------------------------------------
# Composition


def renamed_schema(schema: Schema, renames: dict[str, str]) -> Schema:
    """The fragment's entry schema with fields read under other names.

    ``renames`` maps a name in the request to the field it fills; a field
    whose own name is taken by a rename is not read in that format.
    """
    if not renames:
        return schema
    cls = type(schema)
    declared = cls._declared_fields
    overrides: dict[str, Any] = {}
    for external, target in renames.items():
        if target in declared:
            field = copy.deepcopy(declared[target])
            field.data_key = external
            overrides[target] = field
    shadowed = [name for name, field in declared.items()
                if name not in overrides and (field.data_key or name) in renames]
    renamed = type(f"{cls.__name__}Renamed", (cls,), overrides)
    return renamed(exclude=shadowed)


def _network_lists(fragments: Sequence[ReportFragment], version: str) -> dict[str, Any]:
    lists: dict[str, Any] = {}
    for fragment in fragments:
        if version == "locate":
            lists[fragment.FIELD] = NetworkList(fields.Nested(fragment.query_entry_schema()))
            continue
        schema = fragment.submit_entry_schema()
        field_name = fragment.FIELD
        if version == "v1":
            schema = renamed_schema(schema, fragment.V1_RENAMES)
        elif version == "v0":
            if not fragment.V0_FIELD:
                continue
            schema = renamed_schema(schema, fragment.V0_RENAMES)
        nested = NetworkList(fields.Nested(schema))
        if version == "v0":
            nested.data_key = fragment.V0_FIELD
        lists[field_name] = nested
    return lists


def locate_schema(fragments: Sequence[ReportFragment]) -> Schema:
    """The body of ``/v1/geolocate`` and ``/v1/country``."""
    own: dict[str, Any] = {}
    for fragment in fragments:
        own.update(fragment.query_fields())
    return type("LocateSchema", (LocateBase,), {**own, **_network_lists(fragments, "locate")})()


def report_schema(fragments: Sequence[ReportFragment], version: str = "v2") -> type[Schema]:
    """One submitted report in the given format ("v2", "v1" or "v0")."""
    lists = _network_lists(fragments, version)
    if version == "v2":
        own: dict[str, Any] = {"position": fields.Nested(PositionSchema, allow_none=True)}
        return type("ReportSchema", (ReportBase,), {**own, **lists})
    if version == "v1":
        return type("ReportV1Schema", (ReportBase,), {**_position_fields(), **lists})
    own = {**_position_fields(V0_POSITION_NAMES),
           "radioType": OptionalString(data_key="radio"),
           "timestamp": IsoTime(data_key="time")}
    return type("ReportV0Schema", (Strict,), {**own, **lists})


def gather_position(report: dict[str, Any], version: str) -> dict[str, Any]:
    """The report with its position as one object without missing values:
    v1 and v0 reports carry the position fields in the report itself."""
    if version == "v2":
        position = report.get("position")
        if isinstance(position, dict):
            report["position"] = {k: v for k, v in position.items() if v is not None}
        return report
    position = {name: report.pop(name) for name in POSITION_FIELDS if name in report}
    position = {k: v for k, v in position.items() if v is not None}
    if position:
        report["position"] = position
    return report


def submit_schema(fragments: Sequence[ReportFragment], version: str = "v2") -> Schema:
    """A batch ``{"items": [report, ...]}`` in the given format."""
    items = fields.List(fields.Nested(report_schema(fragments, version)), required=True,
                        error_messages={"required": "Required"})
    return type(f"Submit{version.upper()}Schema", (Strict,), {"items": items})()


# ---------------------------------------------------------------------------
# Loading


def load(schema: Schema, data: Any) -> dict[str, Any]:
    """Validate a decoded body; a wrong type anywhere is a parse error."""
    if not isinstance(data, dict):
        message = f'"{short_repr(data)}" is not a mapping type: ' \
                  "Does not implement dict-like functionality."
        raise ParseError({"validation": {"": message}})
    reader = getattr(schema, "_ichnaea_reader", None)
    if reader is None:
        reader = schema._ichnaea_reader = loader.compile_schema(schema)  # type: ignore[attr-defined]
    result, errors = loader.load(reader, data)
    if errors:
        raise ParseError({"validation": errors})
    return result


def short_repr(data: Any, limit: int = 100) -> str:
    """A short JSON rendering of a value for error messages."""
    try:
        text = json.dumps(data, allow_nan=True)
    except (ValueError, TypeError, RecursionError):
        text = type(data).__name__
    return text if len(text) <= limit else text[:limit] + "..."
