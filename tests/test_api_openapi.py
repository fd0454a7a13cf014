"""/openapi.json describes the public API, the exchanges of the API tests are
held against it (see ``checking_client``), and generated and malformed
bodies thrown at every endpoint never get a 500 or an undescribed answer."""

from __future__ import annotations

import functools
import gzip
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ichnaea_host.api.openapi import Mismatch, check_exchange, checking_client

PUBLIC_PATHS = {"/v1/geolocate", "/v1/country", "/v2/geosubmit", "/v1/geosubmit", "/v1/submit",
                "/__heartbeat__", "/__lbheartbeat__", "/__version__", "/contribute.json"}


@pytest.fixture
def client(app):
    return checking_client(app)


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.get_json()


def refs(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_document_describes_the_public_api(document):
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == PUBLIC_PATHS
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for ref in refs(document):
        node = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]  # every reference resolves
    geolocate = document["paths"]["/v1/geolocate"]
    assert set(geolocate) == {"get", "post", "options"}
    assert set(geolocate["post"]["responses"]) == {"200", "400", "403", "404", "413", "429"}
    assert document["paths"]["/v1/submit"]["post"]["deprecated"] is True


def test_request_schemas_come_from_the_report_fragments(document):
    schemas = document["components"]["schemas"]
    locate = schemas["LocateRequest"]["properties"]
    assert {"wifiAccessPoints", "bluetoothBeacons", "cellTowers", "considerIp",
            "fallbacks"} <= set(locate)
    wifi = locate["wifiAccessPoints"]["items"]["anyOf"][0]["properties"]
    assert {"macAddress", "signalStrength", "frequency", "ssid"} <= set(wifi)
    report_v0 = schemas["SubmitV0Request"]["properties"]["items"]["items"]["properties"]
    assert {"lat", "lon", "time", "altitude_accuracy", "radio", "wifi", "blue", "cell"} \
        <= set(report_v0)
    assert "key" in report_v0["wifi"]["items"]["anyOf"][0]["properties"]
    report_v1 = schemas["SubmitV1Request"]["properties"]["items"]["items"]["properties"]
    assert {"latitude", "longitude", "wifiAccessPoints"} <= set(report_v1)
    assert schemas["SubmitV2Request"]["required"] == ["items"]


def test_the_checker_finds_what_the_document_does_not_describe(document):
    check_exchange(document, "POST", "/v1/geolocate", 200, {"considerIp": True},
                   {"location": {"lat": 1.0, "lng": 2.0}, "accuracy": 10.0}, "application/json")
    wrong = [
        ("POST", "/v1/geolocate", 200, None, {"location": {"lat": 1.0}, "accuracy": 10.0}),
        ("POST", "/v1/geolocate", 200, None, {"lat": 1.0, "lng": 2.0, "accuracy": 10.0}),
        ("POST", "/v1/geolocate", 418, None, {}),
        ("POST", "/v1/country", 403, None, {}),
        ("POST", "/v2/geosubmit", 200, None, {"ok": True}),
        ("POST", "/v2/geosubmit", 200, {"items": "all"}, {}),
        ("POST", "/v1/submit", 204, None, {}),
        ("POST", "/v2/geosubmit", 400, None, {"error": {"errors": [], "code": 400,
                                                        "message": "Parse Error"}}),
        ("GET", "/nowhere", 200, None, {}),
    ]
    for method, path, status, sent, body in wrong:
        with pytest.raises(Mismatch):
            check_exchange(document, method, path, status, sent, body, "application/json")


# -- fuzzing every endpoint

FIELD_NAMES = [
    "items", "wifiAccessPoints", "cellTowers", "bluetoothBeacons", "position", "latitude",
    "longitude", "accuracy", "altitude", "age", "source", "timestamp", "macAddress",
    "signalStrength", "channel", "frequency", "ssid", "radioType", "mobileCountryCode",
    "mobileNetworkCode", "locationAreaCode", "cellId", "psc", "primaryScramblingCode",
    "considerIp", "fallbacks", "ipf", "lacf", "lat", "lon", "time", "wifi", "cell", "blue",
    "key", "signal", "radio", "mcc", "mnc", "lac", "cid", "carrier", "name", "newRadioCellId",
]
scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
           | st.sampled_from(["", "01", "-70", "1.5", "NaN", "gnss", "GPS", "umts", "nr",
                              "01:23:45:67:89:ab", "0123456789AB", "2024-03-01T12:00:00Z",
                              "2024-03-01T13:00:00+01:00", "1710-02-28"]))
json_values = st.recursive(
    scalars,
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6),
                                        children, max_size=6)),
    max_leaves=40,
)


plausible = st.sampled_from([
    None, True, 0, 1, -1, 7, -70, 262, 2437, 6115, 1.5, -0.1, 51.5, 1e300, 2**64,
    float("nan"), float("inf"), "", "01", "-70", "1.5", "NaN", "gnss", "GPS", "umts", "nr",
    "lte", "01:23:45:67:89:ab", "0123456789AB", "2024-03-01T12:00:00Z",
    "2024-03-01T13:00:00+01:00", "1710-02-28", [], {}])
values = st.one_of(plausible, plausible, plausible, scalars, json_values)


def shaped(strategies: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """Objects with one to eight of these fields."""
    names = st.lists(st.sampled_from(sorted(strategies)), min_size=1, max_size=8, unique=True)
    return names.flatmap(lambda chosen: st.fixed_dictionaries(
        {name: strategies[name] for name in chosen}))


ENTRY_FIELDS = ["macAddress", "key", "signalStrength", "signal", "age", "channel", "frequency",
                "ssid", "name", "radioType", "radio", "mobileCountryCode", "mcc",
                "mobileNetworkCode", "mnc", "locationAreaCode", "lac", "cellId", "cid", "psc",
                "primaryScramblingCode", "newRadioCellId", "timingAdvance", "asu", "serving"]
POSITION_FIELDS = ["latitude", "longitude", "accuracy", "altitude", "altitudeAccuracy",
                   "heading", "pressure", "speed", "age", "source"]
entries = st.lists(shaped(dict.fromkeys(ENTRY_FIELDS, values)) | values, max_size=4)
LISTS = dict.fromkeys(("wifiAccessPoints", "cellTowers", "bluetoothBeacons", "wifi", "cell",
                       "blue"), entries | values)
positions = shaped(dict.fromkeys(POSITION_FIELDS, values))
report_like = shaped({
    "position": positions | values,
    **dict.fromkeys(["timestamp", "time", "radioType", "radio", "lat", "lon",
                     "altitude_accuracy", *POSITION_FIELDS], values),
    **LISTS})
locate_like = shaped({
    "fallbacks": shaped(dict.fromkeys(["ipf", "lacf"], values)) | values,
    **dict.fromkeys(["considerIp", "radioType", "homeMobileCountryCode", "carrier"], values),
    **LISTS})
locate_bodies = st.one_of(locate_like, locate_like, locate_like, json_values)
submit_bodies = st.one_of(
    st.builds(lambda items: {"items": items}, st.lists(report_like, min_size=1, max_size=3)),
    st.builds(lambda items: {"items": items}, st.lists(report_like, min_size=1, max_size=3)),
    st.builds(lambda items: {"items": items}, st.lists(report_like | values, max_size=3)),
    json_values,
)
API_PATHS = ["/v1/geolocate", "/v1/country", "/v2/geosubmit", "/v1/geosubmit", "/v1/submit"]
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def encode(raw: bytes, how: str) -> tuple[bytes, dict[str, str]]:
    if how == "gzip":
        return gzip.compress(raw), {"Content-Encoding": "gzip"}
    if how == "truncated-gzip":
        return gzip.compress(raw)[: max(len(raw) // 2, 1)], {"Content-Encoding": "gzip"}
    if how == "deflate":
        return zlib.compress(raw), {"Content-Encoding": "deflate"}
    if how == "mislabelled":
        return raw, {"Content-Encoding": "gzip"}
    return raw, {}


def assert_answered(document, response, path: str, sent) -> None:
    assert response.status_code in (200, 204, 400, 403, 404), (
        response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json(silent=True) if response.data else None
    check_exchange(document, response.request.method, path, response.status_code, sent, body,
                   response.mimetype)


@FUZZ
@given(path=st.sampled_from(API_PATHS), data=st.data(),
       encoding=st.sampled_from(["plain", "plain", "gzip", "truncated-gzip", "deflate",
                                 "mislabelled"]),
       key=st.sampled_from(["", "?key=test", "?key=x", "?key=%25KEY%25", "?key=a&key=test"]),
       forwarded=st.sampled_from(["81.2.69.160", "192.0.2.1", "garbage", "::1, 1.2.3.4"]))
def test_generated_json_bodies(app, api_key, document, path, data, encoding, key, forwarded):
    client = app.test_client()
    body = data.draw(locate_bodies if path in ("/v1/geolocate", "/v1/country")
                     else submit_bodies)
    raw = json.dumps(body).encode()
    sent_bytes, headers = encode(raw, encoding)
    response = client.post(path + key, data=sent_bytes, headers={
        "Content-Type": "application/json", "X-Forwarded-For": forwarded, **headers})
    sent = body if encoding in ("plain", "gzip", "deflate") else None
    assert_answered(document, response, path, sent)


@FUZZ
@given(path=st.sampled_from(API_PATHS), data=st.binary(max_size=300),
       method=st.sampled_from(["POST", "GET", "HEAD"]),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8",
                                     "application/json; charset=utf-16",
                                     "application/json; charset=latin-1",
                                     "application/json; charset=nope", "text/plain", ""]),
       encoding=st.sampled_from(["", "gzip", "deflate", "br", "identity", "GZIP"]))
def test_malformed_bytes(app, api_key, document, path, data, method, content_type, encoding):
    client = app.test_client()
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    response = client.open(path + "?key=test", method=method, data=data, headers=headers)
    assert_answered(document, response, path, None)


# -- every field of the request schemas with every awkward value

AWKWARD = [None, True, False, 0, -1, 2**64, -(2**70), 1.5, -0.0, 1e300, float("nan"),
           float("inf"), float("-inf"), "", " ", "0", "-70", "1.5", "1e400", "NaN", "abc",
           "GPS", "umts", "ÿ\u0000\udcff"[:2], "01:23:45:67:89:ab", "2024-13-45T99:00:00",
           "2024-03-01T13:00:00+01:00", [], [None], [1, "a"], {}, {"a": {"b": []}}]


def filled(schema: dict, document: dict, value, depth: int = 0):
    """A body of this request schema where every field holds ``value``; lists
    hold one entry whose fields hold it."""
    if "$ref" in schema:
        node = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    if "anyOf" in schema:
        schema = schema["anyOf"][0]
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "object" in kinds and depth < 4:
        return {name: filled(sub, document, value, depth + 1)
                for name, sub in schema.get("properties", {}).items()}
    if "array" in kinds and depth < 4:
        return [filled(schema["items"], document, value, depth + 1)]
    return value


def containers(schema: dict, document: dict, value, depth: int = 0):
    """Bodies where, one container at a time, a list or object is ``value``."""
    body = filled(schema, document, 1)
    yield body

    def walk(node, path):
        if isinstance(node, dict):
            for name in node:
                yield path + [name]
                yield from walk(node[name], path + [name])
        elif isinstance(node, list) and node:
            yield path + [0]
            yield from walk(node[0], path + [0])

    for path in walk(body, []):
        copy = json.loads(json.dumps(body))
        target = copy
        for part in path[:-1]:
            target = target[part]
        if isinstance(target[path[-1]], (dict, list)):
            target[path[-1]] = value
            yield copy


def test_every_field_with_every_awkward_value(app, api_key, document):
    client = app.test_client()
    requests = {"/v1/geolocate": "LocateRequest", "/v1/country": "LocateRequest",
                "/v2/geosubmit": "SubmitV2Request", "/v1/geosubmit": "SubmitV1Request",
                "/v1/submit": "SubmitV0Request"}
    for path, name in requests.items():
        schema = document["components"]["schemas"][name]
        bodies_sent = [filled(schema, document, value) for value in AWKWARD]
        bodies_sent += [body for value in AWKWARD[::4] for body in
                        containers(schema, document, value)]
        for body in bodies_sent:
            response = client.post(f"{path}?key=test", data=json.dumps(body),
                                   headers={"Content-Type": "application/json",
                                            "X-Forwarded-For": "81.2.69.160"})
            assert_answered(document, response, path, body)


# -- the fast reader reads exactly as marshmallow does


@functools.cache
def composed_schemas() -> dict:
    from ichnaea_host.api import schemas
    from ichnaea_host.core.settings import Settings
    from ichnaea_host.plugins.manager import build_plugin_host

    host = build_plugin_host(Settings.from_env({}), strict=True)
    fragments = [cls(None) for cls in host.report_fragments()]
    return {"locate": schemas.locate_schema(fragments),
            **{version: schemas.submit_schema(fragments, version)
               for version in ("v2", "v1", "v0")}}


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(kind=st.sampled_from(["locate", "v2", "v1", "v0"]), data=st.data())
def test_fast_reader_agrees_with_marshmallow(kind, data):
    from marshmallow import ValidationError

    from ichnaea_host.api import loader

    schema = composed_schemas()[kind]
    body = data.draw(locate_like if kind == "locate" else submit_bodies)
    if not isinstance(body, dict):
        return
    result, errors = loader.load(loader.compile_schema(schema), body)
    try:
        expected, expected_errors = schema.load(body), {}
    except ValidationError as exc:
        expected, expected_errors = None, loader.flatten_messages(exc.messages)
    assert errors == expected_errors
    if not errors:
        assert json.dumps(result, sort_keys=True) == json.dumps(expected, sort_keys=True)
