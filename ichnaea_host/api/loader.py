"""A fast reader for the composed request schemas.

marshmallow spends several microseconds on every field, and a batch of 2000
reports with twenty networks each has half a million of them: seconds, where
a submission should be acknowledged at once. :func:`compile_schema` turns a
marshmallow schema into plain functions that read the same declarations
(field names, ``data_key``, ``load_default``, ``required``, ``allow_none``,
nesting) and call each field's own conversion, with the same messages.
What it does not reproduce (schema hooks, field validators or processors)
is handed back to marshmallow for that schema or field, so any fragment's
schema reads correctly. Unknown fields are always ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields
from marshmallow.utils import missing

#: reads one value; appends (path, message) to errors and returns None on failure
Reader = Callable[[Any, str, list[tuple[str, str]]], Any]


def _join(prefix: str, name: str | int) -> str:
    if name == "":
        return prefix
    return f"{prefix}.{name}" if prefix else str(name)


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested messages as ``{"items.0.position.latitude": "..."}``."""
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


def _messages(exc: ValidationError) -> list[tuple[str, str]]:
    return list(flatten_messages(exc.messages).items())


# How a value of the commonest field types is taken as it is, without a call:
# JSON strings for String fields, JSON integers for integer fields, finite
# JSON floats for float fields. Anything else goes through the field.
_GENERIC, _STRING, _INTEGER, _FLOAT = range(4)


def _shortcut(field: fields.Field) -> int:
    from ichnaea_host.core.lenient import LenientFloat, LenientInteger

    if field.validators or field.pre_load or field.post_load:
        return _GENERIC
    if type(field) is fields.String:
        return _STRING
    if type(field) in (LenientInteger, fields.Integer):
        return _INTEGER
    if type(field) is LenientFloat:
        return _FLOAT
    return _GENERIC


def _field_reader(field: fields.Field) -> Reader:
    """A reader of one field's (non-null) value; ``path`` is the field's own."""
    if field.validators or field.pre_load or field.post_load:
        def read_full(value: Any, path: str, errors: list[tuple[str, str]]) -> Any:
            try:
                return field.deserialize(value)
            except ValidationError as exc:
                errors.extend((_join(path, sub), msg) for sub, msg in _messages(exc))
                return None
        return read_full

    if isinstance(field, fields.Nested) and isinstance(field.schema, Schema) \
            and not field.many:
        return compile_schema(field.schema)

    if isinstance(field, fields.List):
        read_item = _field_reader(field.inner)
        inner_allows_none = field.inner.allow_none
        skip_none = type(field).__name__ == "NetworkList"
        invalid = str(field.error_messages["invalid"])
        null = str(field.inner.error_messages["null"])

        def read_list(value: Any, path: str, errors: list[tuple[str, str]]) -> Any:
            if not isinstance(value, list):
                errors.append((path, invalid))
                return None
            out: list[Any] = []
            for index, item in enumerate(value):
                if item is None:
                    if skip_none:
                        continue
                    if not inner_allows_none:
                        errors.append((_join(path, index), null))
                        continue
                    out.append(None)
                    continue
                out.append(read_item(item, f"{path}.{index}" if path else str(index), errors))
            return out
        return read_list

    convert = field._deserialize

    def read_value(value: Any, path: str, errors: list[tuple[str, str]]) -> Any:
        try:
            return convert(value, None, None)
        except ValidationError as exc:
            errors.extend((_join(path, sub), msg) for sub, msg in _messages(exc))
            return None
    return read_value


def compile_schema(schema: Schema) -> Reader:
    """A reader for mappings of this schema (marshmallow's own when it has hooks)."""
    invalid_type = str(schema.error_messages.get("type", "Invalid input type."))
    if any(schema._hooks.values()):
        def read_with_hooks(value: Any, path: str, errors: list[tuple[str, str]]) -> Any:
            try:
                return schema.load(value)
            except ValidationError as exc:
                errors.extend((_join(path, sub), msg) for sub, msg in _messages(exc))
                return None
        return read_with_hooks

    plan = [(field.data_key or name, field.attribute or name, field, _shortcut(field),
             _field_reader(field)) for name, field in schema.load_fields.items()]

    def read_object(value: Any, path: str, errors: list[tuple[str, str]]) -> Any:
        if type(value) is not dict:
            errors.append((path, invalid_type))
            return None
        out: dict[str, Any] = {}
        for key, attribute, field, shortcut, read in plan:
            raw = value.get(key, missing)
            if raw is missing:
                if field.required:
                    errors.append((_join(path, key), str(field.error_messages["required"])))
                    continue
                default = field.load_default
                if default is not missing:
                    out[attribute] = default() if callable(default) else default
            elif raw is None:
                if field.allow_none:
                    out[attribute] = None
                else:
                    errors.append((_join(path, key), str(field.error_messages["null"])))
            elif shortcut == _STRING and type(raw) is str \
                    or shortcut == _INTEGER and type(raw) is int \
                    or shortcut == _FLOAT and type(raw) is float and raw - raw == 0.0:
                out[attribute] = raw
            else:
                out[attribute] = read(raw, _join(path, key), errors)
        return out
    return read_object


def load(reader: Reader, data: Any) -> tuple[Any, dict[str, str]]:
    """Read ``data``; return (result, errors by dotted path)."""
    errors: list[tuple[str, str]] = []
    result = reader(data, "", errors)
    flat: dict[str, str] = {}
    for path, message in errors:
        flat[path] = f"{flat[path]} {message}" if path in flat else message
    return result, flat
