"""Errors of the public API as clients see them: exact bodies, the order of
the checks, body decoding, methods and headers. No request gets a 500."""

from __future__ import annotations

import functools
import gzip
import json
import zlib

import pytest
from marshmallow import Schema, fields

from ichnaea_host import PositionSource, Radio, hookimpl
from ichnaea_host.api.openapi import checking_client

LONDON = {"X-Forwarded-For": "81.2.69.160"}
ENDPOINTS = ["/v1/geolocate", "/v1/country", "/v2/geosubmit", "/v1/geosubmit", "/v1/submit"]
SUBMITS = ["/v2/geosubmit", "/v1/geosubmit", "/v1/submit"]


def error(code: int, domain: str, reason: str, message: str) -> dict:
    return {"error": {"errors": [{"domain": domain, "reason": reason, "message": message}],
                      "code": code, "message": message}}


KEY_INVALID = error(400, "usageLimits", "keyInvalid", "Missing or invalid API key.")
DAILY_LIMIT = error(403, "usageLimits", "dailyLimitExceeded",
                    "You have exceeded your daily limit.")
PARSE_ERROR = error(400, "global", "parseError", "Parse Error")
NOT_FOUND = error(404, "geolocation", "notFound", "Not found")
UNAVAILABLE = error(503, "global", "serviceUnavailable", "Service Unavailable")


@pytest.fixture
def client(app):
    return checking_client(app)


def post(client, url, body: bytes, **headers):
    return client.post(url, data=body, headers={"Content-Type": "application/json", **headers})


def details(response) -> dict:
    assert response.status_code == 400, response.get_data(as_text=True)
    data = response.get_json()
    assert data["error"] == PARSE_ERROR["error"]
    return data["details"]


# -- exact bodies and the order of the checks


def test_error_bodies_are_exact(client, api_key_factory):
    limited = api_key_factory("limited", maxreq=1)
    assert client.post("/v1/geolocate", json={}).get_json() == KEY_INVALID
    client.get(f"/v1/geolocate?key={limited}", headers=LONDON)
    response = client.get(f"/v1/geolocate?key={limited}", headers=LONDON)
    assert (response.status_code, response.get_json()) == (403, DAILY_LIMIT)
    response = client.post("/v1/geosubmit", data=b"")
    assert (response.status_code, response.get_json()) == (400, PARSE_ERROR)
    response = client.post(f"/v1/geolocate?key={api_key_factory('other')}", json={},
                           headers={"X-Forwarded-For": "192.0.2.1"})
    assert (response.status_code, response.get_json()) == (404, NOT_FOUND)
    assert response.headers["Content-Type"] == "application/json"


def test_the_key_is_checked_before_the_body(client, api_key_factory):
    # an unknown key fails first, even with a body that cannot be read
    response = post(client, "/v1/geolocate?key=unknown-key", b"{not json")
    assert response.get_json() == KEY_INVALID
    # an exhausted key fails before its body is read
    key = api_key_factory("exhausted", maxreq=1)
    assert client.get(f"/v1/geolocate?key={key}", headers=LONDON).status_code == 200
    response = post(client, f"/v1/geolocate?key={key}", b"{not json")
    assert (response.status_code, response.get_json()) == (403, DAILY_LIMIT)
    # submissions need no key: a bad body is the first error
    assert "decode" in details(post(client, "/v2/geosubmit?key=unknown-key", b"{not json"))


def test_locate_needs_a_known_key(client):
    for query in ("", "?key=", "?key=abc", "?key=" + "a" * 41, "?key=has%20space",
                  "?key=%GOOGLE_LOCATION_SERVICE_API_KEY%", "?key=unknown-key"):
        for path in ("/v1/geolocate", "/v1/country"):
            response = client.post(path + query, json={})
            assert (response.status_code, response.get_json()) == (400, KEY_INVALID), query
            assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_the_last_key_parameter_counts(client, api_key):
    url = f"/v1/geolocate?key=wrong-key&key={api_key}"
    assert client.get(url, headers=LONDON).status_code == 200
    url = f"/v1/geolocate?key={api_key}&key=wrong-key"
    assert client.get(url, headers=LONDON).get_json() == KEY_INVALID


def test_keys_are_matched_exactly(client, api_key):
    assert client.get("/v1/geolocate?key=TEST", headers=LONDON).get_json() == KEY_INVALID


def test_daily_limits_count_each_submit_path(client, api_key_factory, runtime):
    key = api_key_factory("twice", maxreq=2)
    report = {"items": [{"wifiAccessPoints": [{"macAddress": "aa:bb:cc:dd:ee:01"}]}]}
    v0 = {"items": [{"lat": 1.0, "lon": 2.0, "wifi": [{"key": "aa:bb:cc:dd:ee:01"}]}]}
    for path, body, ok in (("/v2/geosubmit", report, 200), ("/v1/geosubmit", report, 200),
                           ("/v1/submit", v0, 204)):
        codes = [client.post(f"{path}?key={key}", json=body).status_code for _ in range(3)]
        assert codes == [ok, ok, 403], path
    counters = sorted(k.decode().split(":")[2] for k in runtime.redis.keys("apilimit:twice:*"))
    assert counters == ["v1.geosubmit", "v1.submit", "v2.geosubmit"]
    assert runtime.redis.keys("apiuser:submit:twice:*")


def test_country_has_no_daily_limit(client, api_key_factory, runtime):
    key = api_key_factory("region-only", maxreq=1)
    for _ in range(3):
        assert client.get(f"/v1/country?key={key}", headers=LONDON).status_code == 200
    assert runtime.redis.keys("apilimit:region-only:*") == []
    assert runtime.redis.keys("apiuser:region:*") == []


def test_key_not_allowed_for_region(client, api_key_factory):
    key = api_key_factory("no-region", allow_region=False)
    assert client.get(f"/v1/country?key={key}", headers=LONDON).get_json() == KEY_INVALID
    assert client.get(f"/v1/geolocate?key={key}", headers=LONDON).status_code == 200


# -- body decoding


def test_invalid_json(client, api_key):
    assert details(post(client, f"/v1/geolocate?key={api_key}", "®".encode())) == {
        "decode": "JSONDecodeError('Expecting value: line 1 column 1 (char 0)')"}


def test_undecodable_bytes(client):
    body = b'{"comment": "R\xe9sum\xe9 from 1990", "items": []}'
    assert details(post(client, "/v2/geosubmit", body)) == {
        "decode": "'utf-8' codec can't decode byte 0xe9 in position 14: "
                  "invalid continuation byte"}


def test_declared_charsets_are_used(client, runtime):
    body = '{"items": [{"wifiAccessPoints": [{"macAddress": "aa:bb:cc:dd:ee:01", ' \
           '"ssid": "Café"}]}]}'
    response = client.post("/v2/geosubmit", data=body.encode("latin-1"),
                           headers={"Content-Type": "application/json; charset=ISO-8859-1"})
    assert response.status_code == 200
    [item] = runtime.queue("update_incoming").dequeue()
    assert item["report"]["wifiAccessPoints"][0]["ssid"] == "Café"


def test_unknown_charset_is_a_parse_error(client):
    response = client.post("/v2/geosubmit", data=b'{"items": []}',
                           headers={"Content-Type": "application/json; charset=klingon"})
    assert details(response) == {"decode": "unknown charset 'klingon'"}


def test_byte_order_mark_is_accepted(client):
    response = post(client, "/v2/geosubmit", b'\xef\xbb\xbf{"items": []}')
    assert response.status_code == 200


def test_truncated_gzip(client):
    body = gzip.compress(b'{"items": []}')[:-8]
    response = post(client, "/v2/geosubmit", body, **{"Content-Encoding": "gzip"})
    assert details(response) == {"decode": "GZIPDecodeError(\"EOFError('Compressed file "
                                           "ended before the end-of-stream marker was "
                                           "reached')\")"}


def test_not_gzip_at_all(client):
    response = post(client, "/v2/geosubmit", b'{"items": []}', **{"Content-Encoding": "gzip"})
    assert details(response)["decode"].startswith("GZIPDecodeError(")


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_bodies(client, runtime, wbits):
    packer = zlib.compressobj(wbits=wbits)
    body = json.dumps({"items": [{"wifiAccessPoints": [{"macAddress": "aa:bb:cc:dd:ee:01"}]}]})
    data = packer.compress(body.encode()) + packer.flush()
    response = post(client, "/v2/geosubmit", data, **{"Content-Encoding": "deflate"})
    assert response.status_code == 200
    assert runtime.queue("update_incoming").size() == 1


def test_broken_deflate(client):
    response = post(client, "/v2/geosubmit", b"\x78\x9c not deflate",
                    **{"Content-Encoding": "deflate"})
    assert details(response)["decode"].startswith("DeflateDecodeError(")


def test_multi_member_gzip(client, runtime):
    first = gzip.compress(b'{"items": [{"wifiAccessPoints": ')
    second = gzip.compress(b'[{"macAddress": "aa:bb:cc:dd:ee:01"}]}]}')
    response = post(client, "/v2/geosubmit", first + second, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert runtime.queue("update_incoming").size() == 1


def test_unsupported_content_encoding(client):
    response = post(client, "/v2/geosubmit", b"\x8b\x05\x80", **{"Content-Encoding": "br"})
    assert details(response) == {"decode": "unsupported Content-Encoding 'br', "
                                           "use gzip or deflate"}


TOO_LARGE = error(413, "global", "requestEntityTooLarge", "Request Entity Too Large")


def too_large(response) -> dict:
    assert response.status_code == 413, response.get_data(as_text=True)
    data = response.get_json()
    assert data["error"] == TOO_LARGE["error"]
    return data["details"]


@functools.cache
def bomb_json() -> bytes:
    """Just over the 20 MiB limit of JSON, which a client sends in about 20 kB."""
    return b"[" * (20 * 1024 * 1024 + 1)


def test_gzip_bomb_is_refused_after_the_limit(client):
    bomb = gzip.compress(bomb_json(), compresslevel=9)
    assert len(bomb) < 100_000
    response = post(client, "/v2/geosubmit", bomb, **{"Content-Encoding": "gzip"})
    assert too_large(response) == {
        "decode": "gzip body, decompressed, larger than 20971520 bytes"}


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_bomb_is_refused_after_the_limit(client, wbits):
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    bomb = packer.compress(bomb_json()) + packer.flush()
    response = post(client, "/v2/geosubmit", bomb, **{"Content-Encoding": "deflate"})
    assert too_large(response) == {
        "decode": "deflate body, decompressed, larger than 20971520 bytes"}


def test_compressed_body_at_the_limit_is_read(client, runtime):
    body = b'{"items": [{"wifiAccessPoints": [{"macAddress": "aa:bb:cc:dd:ee:01"}]}]}'
    body = body.ljust(20 * 1024 * 1024)
    for encoding, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        response = post(client, "/v2/geosubmit", packed, **{"Content-Encoding": encoding})
        assert response.status_code == 200, response.get_data(as_text=True)


def test_oversized_body_is_refused(client):
    body = b" " * (20 * 1024 * 1024 + 1)
    assert too_large(post(client, "/v2/geosubmit", body)) == {
        "decode": "body larger than 20971520 bytes"}


def test_deeply_nested_json_is_a_parse_error(client):
    assert details(post(client, "/v2/geosubmit", b"[" * 100_000)) == {
        "decode": "JSON nested too deeply"}


def test_body_that_is_not_an_object(client, api_key):
    for body, shown in ((b"[1]", '"[1]"'), (b'"text"', '""text""'), (b"null", '"null"')):
        message = f"{shown} is not a mapping type: Does not implement dict-like functionality."
        for url in (f"/v1/geolocate?key={api_key}", "/v2/geosubmit"):
            assert details(post(client, url, body)) == {"validation": {"": message}}


def test_empty_bodies(client, api_key):
    # Firefox: an empty body with a JSON content type is an IP-only query
    response = client.post(f"/v1/geolocate?key={api_key}", data=b"", headers={
        **LONDON, "Content-Type": "application/json; charset=UTF-8", "Content-Length": "0"})
    assert response.status_code == 200
    assert response.get_json()["location"] == {"lat": 51.5142, "lng": -0.0931}
    assert post(client, f"/v1/country?key={api_key}", b"  \n", **LONDON).status_code == 200
    # a submission without a body has nothing to accept: no details
    for path in SUBMITS:
        for method in ("GET", "POST"):
            response = client.open(path, method=method, data=b"")
            assert (response.status_code, response.get_json()) == (400, PARSE_ERROR), path
        assert client.head(path).status_code == 400


# -- validation details


def test_validation_paths_are_dotted(client):
    body = {"items": [
        {"wifiAccessPoints": [{"macAddress": "aa:bb:cc:dd:ee:01"}]},
        {"position": {"latitude": "north", "accuracy": [1]},
         "wifiAccessPoints": [{"macAddress": 10, "signalStrength": "strong"}]},
    ]}
    assert details(client.post("/v2/geosubmit", json=body)) == {"validation": {
        "items.1.position.latitude": "Not a valid number.",
        "items.1.position.accuracy": "Not a valid number.",
        "items.1.wifiAccessPoints.0.macAddress": "Not a valid string.",
        "items.1.wifiAccessPoints.0.signalStrength": "Not a valid integer.",
    }}


def test_validation_paths_use_the_names_of_the_format(client):
    v0 = {"items": [{"lat": "north", "wifi": [{"key": 10, "signal": "x"}]}]}
    assert details(client.post("/v1/submit", json=v0)) == {"validation": {
        "items.0.lat": "Not a valid number.",
        "items.0.wifi.0.key": "Not a valid string.",
        "items.0.wifi.0.signal": "Not a valid integer.",
    }}
    v1 = {"items": [{"latitude": "north", "wifiAccessPoints": "none"}]}
    assert details(client.post("/v1/geosubmit", json=v1)) == {"validation": {
        "items.0.latitude": "Not a valid number.",
        "items.0.wifiAccessPoints": "Not a valid list.",
    }}


def test_submit_batch_shape(client):
    for body, expected in (
        ({}, {"items": "Required"}),
        ({"items": None}, {"items": "Field may not be null."}),
        ({"items": {}}, {"items": "Not a valid list."}),
        ({"items": [None]}, {"items.0": "Field may not be null."}),
        ({"items": [5]}, {"items.0": "Invalid input type."}),
    ):
        for path in SUBMITS:
            assert details(client.post(path, json=body)) == {"validation": expected}


def test_locate_type_errors(client, api_key):
    response = client.post(f"/v1/geolocate?key={api_key}", json={
        "wifiAccessPoints": {"macAddress": "aa:bb:cc:dd:ee:01"},
        "fallbacks": "none", "homeMobileCountryCode": "abc"})
    assert details(response) == {"validation": {
        "wifiAccessPoints": "Not a valid list.",
        "fallbacks": "Invalid input type.",
        "homeMobileCountryCode": "Not a valid integer.",
    }}


# -- methods and headers


def test_api_methods(client, api_key):
    for path in ENDPOINTS:
        url = f"{path}?key={api_key}"
        for method in ("DELETE", "PATCH", "PUT"):
            response = client.open(url, method=method)
            assert response.status_code == 405
            assert "Access-Control-Allow-Origin" not in response.headers
        preflight = client.options(path)  # no key needed
        assert (preflight.status_code, preflight.data) == (200, b"")
        assert preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert preflight.headers["Access-Control-Max-Age"] == "2592000"
        expected = 200 if path in ("/v1/geolocate", "/v1/country") else 400
        assert client.get(url, headers=LONDON).status_code == expected
        head = client.head(url, headers=LONDON)
        assert (head.status_code, head.data) == (expected, b"")
        assert client.post(url, json={}, headers=LONDON).status_code == expected


def test_monitor_methods_and_headers(client):
    for path in ("/__heartbeat__", "/__lbheartbeat__", "/__version__", "/contribute.json"):
        for method in ("GET", "HEAD", "POST"):
            assert client.open(path, method=method).status_code == 200, (path, method)
        for method in ("OPTIONS", "DELETE", "PUT"):
            assert client.open(path, method=method).status_code == 405, (path, method)
        response = client.get(path)
        assert "Access-Control-Allow-Origin" not in response.headers
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    head = client.head("/__lbheartbeat__")
    assert head.data == b"" and head.headers["Content-Type"] == "application/json"


def test_every_api_answer_has_cors_and_security_headers(client, api_key):
    responses = [
        client.post(f"/v1/geolocate?key={api_key}", json={}, headers=LONDON),
        client.post("/v1/geolocate", json={}),
        client.post(f"/v1/country?key={api_key}", json={},
                    headers={"X-Forwarded-For": "192.0.2.1"}),
        client.post("/v2/geosubmit", json={}),
        client.post("/v1/submit", json={"items": []}),
    ]
    assert [r.status_code for r in responses] == [200, 400, 404, 400, 204]
    for response in responses:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Max-Age"] == "2592000"
        assert response.headers["Strict-Transport-Security"] == \
            "max-age=31536000; includeSubDomains"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("method", ["GET", "POST", "OPTIONS"])
@pytest.mark.parametrize("path", [
    "/v1/geolocate/", "/v1/country/", "/v2/geosubmit/", "/v1/geosubmit/", "/v1/submit/",
    "/v1/nothing", "/v2/", "/v1/geolocate/more", "/__heartbeat__/", "/__lbheartbeat__/",
    "/__version__/", "/__nothing__",
])
def test_unknown_api_paths_answer_the_plain_404_page(client, api_key, path, method):
    response = client.open(f"{path}?key={api_key}", method=method, json={}, headers=LONDON)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert response.data == b"<h1>404 Not Found</h1>"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_site_pages_keep_their_trailing_slash_and_404_page(client):
    assert client.get("/api/").status_code == 200
    response = client.get("/nobody-is-home/")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert b"<title>" in response.data  # the site's own page, in its layout


# -- nothing breaks into a 500


class BrokenSource(PositionSource):
    PLUGIN_NAME = "broken"
    DEFAULT_ORDER = 1

    def search(self, query):
        raise RuntimeError("this source is broken")


class BrokenSourcePlugin:
    @hookimpl
    def ichnaea_register_position_sources(self):
        return [BrokenSource]


def test_a_broken_source_does_not_break_locate(make_runtime, api_key_factory):
    from ichnaea_host.app import create_app

    rt = make_runtime(extra=(("broken", BrokenSourcePlugin()),))
    key = api_key_factory("test")
    client = create_app(runtime=rt).test_client()
    response = client.get(f"/v1/geolocate?key={key}", headers=LONDON)
    assert response.status_code == 200
    assert response.get_json()["accuracy"] == 164000.0


class FailingRadio(Radio):
    """A third-party radio with a bug: it fails on every query."""

    PLUGIN_NAME = "failing"
    FIELD = "failingNetworks"
    ENTRY_SCHEMA = Schema.from_dict({"id": fields.String()})

    def parse_query(self, entries, body):
        raise KeyError("bug")


class FailingFragmentPlugin:
    @hookimpl
    def ichnaea_register_radios(self):
        return [FailingRadio]


def test_an_unexpected_error_is_a_json_503(make_runtime, api_key_factory):
    from ichnaea_host.app import create_app

    rt = make_runtime(extra=(("failing", FailingFragmentPlugin()),))
    key = api_key_factory("test")
    response = create_app(runtime=rt).test_client().post(f"/v1/geolocate?key={key}", json={})
    assert (response.status_code, response.get_json()) == (503, UNAVAILABLE)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
