"""The OpenAPI 3.1 description of the public API, served at ``/openapi.json``.

Request bodies are generated from the composed marshmallow schemas, so the
networks of every installed report fragment are described; responses are
written out by hand. :func:`check_exchange` holds one request and its
response against the document (the test suite runs it on its requests).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from marshmallow import Schema, fields

from ichnaea_host import __version__
from ichnaea_host.api import schemas
from ichnaea_host.core.lenient import LenientBoolean, LenientFloat, LenientInteger
from ichnaea_host.core.plugin_classes import ReportFragment

REF = "#/components/schemas/"

_LENIENT: dict[type, dict[str, Any]] = {
    LenientInteger: {"type": ["integer", "number", "string", "boolean", "null"],
                     "description": "An integer. Numbers in strings and fractions "
                                    "(truncated) are understood; null, \"\", NaN and "
                                    "infinities mean no value."},
    LenientFloat: {"type": ["number", "string", "boolean", "null"],
                   "description": "A number. Numbers in strings are understood; null, \"\", "
                                  "NaN and infinities mean no value."},
    LenientBoolean: {"description": "A boolean: anything but false and 0 counts as true."},
    schemas.OptionalString: {"description": "A string; other values are ignored."},
    schemas.PositionSource: {"description": "fixed, gnss, fused or query (any case); "
                                            "other values are ignored.",
                             "examples": ["gnss"]},
    schemas.Timestamp: {"description": "Milliseconds since the UNIX epoch; a missing or "
                                       "unusable value means the time of arrival."},
    schemas.IsoTime: {"description": "ISO 8601 date and time (UTC unless an offset is "
                                     "given); a missing or unusable value means the time "
                                     "of arrival.",
                      "examples": ["2024-03-01T12:00:00.000Z"]},
}
_PLAIN: dict[type, str] = {fields.Integer: "integer", fields.Float: "number",
                           fields.Boolean: "boolean", fields.String: "string"}


def field_schema(field: fields.Field) -> dict[str, Any]:
    """The JSON schema of one marshmallow field, as the service reads it."""
    for cls, described in _LENIENT.items():
        if type(field) is cls:
            return copy.deepcopy(described)
    if isinstance(field, fields.List):
        inner = field_schema(field.inner)
        if isinstance(field, schemas.NetworkList):
            inner = {"anyOf": [inner, {"type": "null"}]}
        out: dict[str, Any] = {"type": ["array", "null"] if field.allow_none else "array",
                               "items": inner}
        return out
    if isinstance(field, fields.Nested):
        nested = field.schema
        out = object_schema(nested)
        if field.allow_none:
            out = {"anyOf": [out, {"type": "null"}]}
        return out
    for cls, name in _PLAIN.items():
        if isinstance(field, cls):
            return {"type": [name, "null"] if field.allow_none else name}
    # a plugin's own field type describes itself in its metadata
    return {k: copy.deepcopy(v) for k, v in field.metadata.items()
            if k in ("description", "examples")}


def object_schema(schema: Schema) -> dict[str, Any]:
    properties = {}
    required = []
    for name, field in schema.load_fields.items():
        external = field.data_key or name
        properties[external] = field_schema(field)
        if field.required:
            required.append(external)
    out: dict[str, Any] = {"type": "object", "properties": properties,
                           "description": "Unknown fields are ignored."}
    if required:
        out["required"] = required
    return out


def _error(reasons: Sequence[str], code: int, with_details: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {"error": {
            "type": "object",
            "required": ["errors", "code", "message"],
            "additionalProperties": False,
            "properties": {
                "errors": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["domain", "reason", "message"],
                    "additionalProperties": False,
                    "properties": {"domain": {"type": "string"},
                                   "reason": {"enum": list(reasons)},
                                   "message": {"type": "string"}}}},
                "code": {"const": code},
                "message": {"type": "string"},
            }}},
    }
    if with_details:
        body["properties"]["details"] = {"oneOf": [
            {"type": "object", "required": ["decode"], "additionalProperties": False,
             "properties": {"decode": {"type": "string"}}},
            {"type": "object", "required": ["validation"], "additionalProperties": False,
             "properties": {"validation": {
                 "type": "object", "additionalProperties": {"type": "string"},
                 "description": "Messages by the dotted path of the field "
                                "(\"items.0.position.latitude\"; \"\" is the body)."}}},
        ]}
    return body


def _json_response(description: str, name: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": REF + name}}}}


def _with_confidence(operation: dict[str, Any]) -> dict[str, Any]:
    operation["parameters"].append({
        "name": "confidence", "in": "query", "required": False,
        "schema": {"type": "integer", "minimum": 50, "maximum": 99, "default": 95},
        "description": "The share of answers, in percent, whose circle (the accuracy) "
                       "holds the true position; the default 95 is the original's."})
    return operation


def _api_operation(summary: str, body: str, ok: dict[str, Any], errors: Sequence[int],
                   *, key_required: bool, deprecated: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = dict(ok)
    names = {400: ("Bad request: missing or invalid API key, or a body that cannot be read",
                   "Error400"),
             403: ("The API key's daily limit is used up", "Error403"),
             404: ("No position or region could be found", "Error404"),
             413: ("The body is larger than 20 MiB, as sent or decompressed", "Error413"),
             429: ("Too many requests in a short time (per key, client address or "
                   "address block); Retry-After says when to try again", "Error429"),
             503: ("The service cannot take the request now; try again later", "Error503")}
    for code in errors:
        responses[str(code)] = _json_response(*names[code])
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [{"$ref": "#/components/parameters/key"}],
        "requestBody": {"required": False, "content": {
            "application/json": {"schema": {"$ref": REF + body}}}},
        "responses": responses,
        "security": [{"apiKey": []}] if key_required else [{}, {"apiKey": []}],
    }
    if deprecated:
        operation["deprecated"] = True
    return operation


def _path_item(operation: dict[str, Any]) -> dict[str, Any]:
    preflight = {"summary": "CORS preflight",
                 "responses": {"200": {"description": "Empty; allows any origin"}}}
    get = {k: v for k, v in operation.items() if k != "requestBody"}
    get["description"] = "As POST; a body sent with GET is read the same way."
    return {"post": operation, "get": get, "options": preflight}


def document(fragments: Sequence[ReportFragment]) -> dict[str, Any]:
    """The OpenAPI document of the API with these report fragments."""
    locate = object_schema(schemas.locate_schema(fragments))
    submit = {v: object_schema(schemas.submit_schema(fragments, v)) for v in ("v2", "v1", "v0")}
    ok_submit = {"200": _json_response("Accepted; the body is an empty object", "Accepted")}
    monitor_json = {"type": "object"}
    components = {
        "schemas": {
            "LocateRequest": locate,
            "SubmitV2Request": submit["v2"],
            "SubmitV1Request": submit["v1"],
            "SubmitV0Request": submit["v0"],
            "Location": {
                "type": "object", "required": ["location", "accuracy"],
                "additionalProperties": False,
                "properties": {
                    "location": {"type": "object", "required": ["lat", "lng"],
                                 "additionalProperties": False,
                                 "properties": {"lat": {"type": "number", "minimum": -90,
                                                        "maximum": 90},
                                                "lng": {"type": "number", "minimum": -180,
                                                        "maximum": 180}}},
                    "accuracy": {"type": "number", "minimum": 0,
                                 "description": "Radius in metres"},
                    "fallback": {"enum": ["ipf", "lacf"]},
                    "raw": {"type": "array", "description": (
                        "Only for API keys with allow_raw: the query's networks, each "
                        "with its learnt position when it agrees with the answer, or "
                        "omit: true (unknown, blocked, moved or moving) - microG's format"),
                        "items": {"type": "object", "required": ["omit"], "properties": {
                            "wifiAccessPoint": {"type": "object"},
                            "bluetoothBeacon": {"type": "object"},
                            "location": {"type": "object", "required": ["lat", "lng"]},
                            "accuracy": {"type": "number", "minimum": 0},
                            "omit": {"type": "boolean"}}}},
                }},
            "Region": {
                "type": "object", "required": ["country_code", "country_name"],
                "additionalProperties": False,
                "properties": {"country_code": {"type": "string", "pattern": "^[A-Z]{2}$"},
                               "country_name": {"type": "string"},
                               "fallback": {"enum": ["ipf"]}}},
            "Accepted": {"type": "object", "maxProperties": 0},
            "Error400": _error(["keyInvalid", "parseError"], 400, with_details=True),
            "Error403": _error(["dailyLimitExceeded"], 403),
            "Error404": _error(["notFound"], 404),
            "Error413": _error(["requestEntityTooLarge"], 413, with_details=True),
            "Error429": _error(["userRateLimitExceeded"], 429),
            "Error503": _error(["serviceUnavailable"], 503),
            "Heartbeat": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["up"],
                "properties": {"up": {"type": ["boolean", "null"]},
                               "time": {"type": "integer"},
                               "alembic_version": {"type": "string"}}}},
            "LbHeartbeat": {"type": "object", "required": ["status"],
                            "properties": {"status": {"const": "OK"}}},
            "Version": {"type": "object", "required": ["source", "version", "commit", "build"],
                        "properties": {k: {"type": "string"}
                                       for k in ("source", "version", "commit", "build")}},
            "Contribute": monitor_json,
        },
        "parameters": {"key": {"name": "key", "in": "query", "required": False,
                               "schema": {"type": "string"},
                               "description": "The API key. Required to locate, optional "
                                              "to submit; when repeated the last one counts."}},
        "securitySchemes": {"apiKey": {"type": "apiKey", "in": "query", "name": "key"}},
    }

    def monitor(summary: str, name: str, *codes: str) -> dict[str, Any]:
        responses = {code: _json_response(summary, name) for code in codes}
        return {"get": {"summary": summary, "responses": responses},
                "post": {"summary": summary, "responses": responses}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "Ichnaea location service", "version": __version__,
                 "description": "Geolocation from WiFi, cell and Bluetooth networks or the "
                                "client's IP address, and submission of GPS-tagged network "
                                "observations. Compatible with the Mozilla Location Service "
                                "and the Google Geolocation API. Request bodies may be sent "
                                "gzip- or deflate-compressed (Content-Encoding)."},
        "paths": {
            "/v1/geolocate": _path_item(_with_confidence(_api_operation(
                "Locate a device", "LocateRequest",
                {"200": _json_response("The position", "Location")},
                [400, 403, 404, 413, 429], key_required=True))),
            "/v1/country": _path_item(_api_operation(
                "Find the region (country) of a device", "LocateRequest",
                {"200": _json_response("The region", "Region")},
                [400, 404, 413], key_required=True)),
            "/v2/geosubmit": _path_item(_api_operation(
                "Submit GPS-tagged observations", "SubmitV2Request", ok_submit,
                [400, 403, 413, 503], key_required=False)),
            "/v1/geosubmit": _path_item(_api_operation(
                "Submit observations in the v1 format (deprecated)", "SubmitV1Request",
                ok_submit, [400, 403, 413, 503], key_required=False, deprecated=True)),
            "/v1/submit": _path_item(_api_operation(
                "Submit observations in the v0 format (deprecated)", "SubmitV0Request",
                {"204": {"description": "Accepted; no body"}},
                [400, 403, 413, 503], key_required=False, deprecated=True)),
            "/__heartbeat__": monitor("Health of the service's backends", "Heartbeat",
                                      "200", "503"),
            "/__lbheartbeat__": monitor("The web process answers", "LbHeartbeat", "200"),
            "/__version__": monitor("Version and plugins", "Version", "200"),
            "/contribute.json": monitor("About the project", "Contribute", "200"),
        },
        "components": components,
    }


# ---------------------------------------------------------------------------
# Checking requests and responses (tests; needs the jsonschema package)


class Mismatch(AssertionError):
    """A request or response that the document does not describe."""


def _validate(doc: dict[str, Any], ref: str, instance: Any) -> None:
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    uri = "urn:ichnaea:openapi"
    registry = Registry().with_resource(uri, DRAFT202012.create_resource(doc))
    validator = jsonschema.Draft202012Validator({"$ref": uri + ref}, registry=registry)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        raise Mismatch(f"{ref}: {errors[0].message} at {list(errors[0].path)}")


def check_exchange(doc: dict[str, Any], method: str, path: str, status: int,
                   request_json: Any, response_json: Any, response_type: str | None) -> None:
    """Raise :class:`Mismatch` when the document does not describe this exchange.

    ``request_json`` is the decoded request body (or None); it is checked
    when the service accepted it (2xx or 404). ``response_json`` is the
    decoded response body, None when empty.
    """
    path_item = doc["paths"].get(path)  # paths are exact: no trailing-slash variants
    if path_item is None:
        raise Mismatch(f"{path} is not described")
    operation = path_item.get("get" if method.lower() == "head" else method.lower())
    if operation is None:
        if status == 405:
            return
        raise Mismatch(f"{method} {path} is not described")
    response = operation["responses"].get(str(status))
    if response is None:
        raise Mismatch(f"{method} {path}: status {status} is not described")
    content = response.get("content")
    if method.lower() != "head":
        if content is None and response_json is not None:
            raise Mismatch(f"{method} {path} {status}: a body where none is described")
        if content is not None:
            if response_type != "application/json":
                raise Mismatch(f"{method} {path} {status}: {response_type}, not JSON")
            _validate(doc, content["application/json"]["schema"]["$ref"], response_json)
    body = operation.get("requestBody")
    if body and request_json is not None and (200 <= status < 300 or status == 404):
        _validate(doc, body["content"]["application/json"]["schema"]["$ref"], request_json)


def checking_client(app: Any) -> Any:
    """A Flask test client that holds every exchange with a described path
    against the app's ``/openapi.json`` (for tests; needs jsonschema)."""
    import json

    from flask.testing import FlaskClient

    class OpenAPICheckingClient(FlaskClient):
        def open(self, *args: Any, **kwargs: Any) -> Any:
            sent = kwargs.get("json")
            data = kwargs.get("data")
            headers = dict(kwargs.get("headers") or {})
            if sent is None and isinstance(data, (bytes, str)) and data \
                    and not headers.get("Content-Encoding"):
                try:
                    sent = json.loads(data)
                except (ValueError, RecursionError):
                    sent = None
            response = super().open(*args, **kwargs)
            path = response.request.path
            doc = app.extensions.get("ichnaea.openapi") or document(
                app.extensions["ichnaea.fragments"])
            if path in doc["paths"]:
                body = response.get_json(silent=True) if response.data else None
                check_exchange(doc, response.request.method, path, response.status_code,
                               sent, body, response.mimetype)
            return response

    return OpenAPICheckingClient(app, app.response_class, use_cookies=True)
