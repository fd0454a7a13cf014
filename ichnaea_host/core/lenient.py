"""Lenient marshmallow fields for the entry schemas of radios and report
fragments."""

from __future__ import annotations

import math
from typing import Any

from marshmallow import fields

# ---------------------------------------------------------------------------
# Lenient schema fields for report fragments. Real clients send numbers as
# strings, fractions for integers and explicit nulls; NaN and infinities
# (which JSON decoding accepts) become missing values instead of errors.

_NOT_A_NUMBER = object()


def _lenient_number(value: Any) -> Any:
    """An int or float for ``value``, None for "no value", or _NOT_A_NUMBER."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return _NOT_A_NUMBER
        return number if math.isfinite(number) else None
    return _NOT_A_NUMBER


class LenientInteger(fields.Field):
    """An integer; ``"7"``, ``7.9`` (truncated) and ``true`` are accepted,
    ``""``, null, NaN and infinities are no value."""

    default_error_messages = {"invalid": "Not a valid integer."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | None:
        number = _lenient_number(value)
        if number is _NOT_A_NUMBER:
            raise self.make_error("invalid")
        return None if number is None else int(number)


class LenientFloat(fields.Field):
    """A finite float; numbers in strings are accepted, ``""``, null, NaN and
    infinities are no value."""

    default_error_messages = {"invalid": "Not a valid number."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float | None:
        number = _lenient_number(value)
        if number is _NOT_A_NUMBER:
            raise self.make_error("invalid")
        if number is None:
            return None
        try:
            result = float(number)
        except OverflowError:
            return None
        return result if math.isfinite(result) else None


class LenientBoolean(fields.Field):
    """Anything but ``false`` and zero (also as strings, in any case) is true,
    as the original service read its booleans."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value != 0
        return str(value).strip().lower() not in ("false", "0")
