"""The API views: /v1/geolocate, /v1/country and /v2/geosubmit.

Every view checks in the original's order: API key, daily limit, body,
then its own logic. Errors use the original's JSON bodies.
"""

from __future__ import annotations

import random
from typing import Any

import redis
from flask import Blueprint, Response, current_app, g, jsonify, request

from ..interfaces import ApiKey, Query
from ..runtime import INCOMING_QUEUE, Runtime
from . import schemas
from .decode import decode_json
from .errors import (
    CORS_HEADERS,
    APIError,
    DailyLimitExceeded,
    InvalidAPIKey,
    LocationNotFound,
    ParseError,
    ServiceUnavailable,
)
from .keys import KeyCache, count_and_limit, validated_key
from .search import search_position, search_region

bp = Blueprint("api", __name__)

API_METHODS = ["GET", "HEAD", "POST", "OPTIONS"]


def runtime() -> Runtime:
    return current_app.extensions["ichnaea"]


def key_cache() -> KeyCache:
    return current_app.extensions["ichnaea.keys"]


def _preflight() -> Response:
    return Response("", status=200, headers=CORS_HEADERS)


def check_key(api_type: str, metric_path: str, *, required: bool, limited: bool) -> ApiKey:
    """Resolve ``?key=``; raise the API error a bad or exhausted key gets."""
    rt = runtime()
    text = validated_key(request.args.getlist("key")[-1] if "key" in request.args else None)
    g.api_key = text
    g.api_type = api_type
    if text is None:
        if required:
            g.api_key_status = "invalid"
            raise InvalidAPIKey()
        return ApiKey()
    key, db_ok = key_cache().get(rt, text)
    if not db_ok:
        g.api_key_status = "unchecked"
        return ApiKey()
    if key is None or not key.allowed(api_type):
        g.api_key_status = "invalid"
        if required:
            raise InvalidAPIKey()
        return ApiKey()
    g.api_key_status = "valid"
    if limited and count_and_limit(rt, key, api_type, metric_path, g.client_ip):
        raise DailyLimitExceeded()
    return key


def fragments() -> list[Any]:
    return current_app.extensions["ichnaea.fragments"]


def build_query(api_type: str, key: ApiKey) -> Query:
    data, empty = decode_json(request)
    try:
        body = schemas.load(current_app.extensions[f"ichnaea.schema.{api_type}"], data)
    except ParseError:
        if empty:
            body = {}
        else:
            raise
    fallbacks = body.get("fallbacks")
    if fallbacks is None:
        considered = body.get("considerIp", True)
        fallbacks = {"lacf": True, "ipf": True if considered is None else bool(considered)}
    query = Query(api_type=api_type, api_key=key, ip=g.client_ip,
                  fallbacks={"lacf": bool(fallbacks.get("lacf", True)),
                             "ipf": bool(fallbacks.get("ipf", True))},
                  body=body)
    for fragment in fragments():
        query.networks[fragment.PLUGIN_NAME] = fragment.parse_query(
            body.get(fragment.FIELD) or [], body)
        query.network_accuracy[fragment.PLUGIN_NAME] = fragment.DATA_ACCURACY
    g.query_networks = {name: len(v) for name, v in query.networks.items()}
    return query


@bp.route("/v1/geolocate", methods=API_METHODS)
def geolocate() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    key = check_key("locate", "v1.geolocate", required=True, limited=True)
    query = build_query("locate", key)
    best, outcome = search_position(runtime(), query)
    g.source_status = outcome.source_status
    if best is None:
        g.result_status = "miss"
        raise LocationNotFound()
    g.result_status = "hit"
    g.result_source = best.source
    body: dict[str, Any] = {
        "location": {"lat": round(best.lat, 7), "lng": round(best.lon, 7)},
        "accuracy": round(float(best.accuracy), 7),
    }
    if best.fallback:
        body["fallback"] = best.fallback
    return _json(body)


@bp.route("/v1/country", methods=API_METHODS)
def country() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    key = check_key("region", "v1.country", required=True, limited=False)
    query = build_query("region", key)
    best, outcome = search_region(runtime(), query)
    g.source_status = outcome.source_status
    if best is None:
        g.result_status = "miss"
        raise LocationNotFound()
    g.result_status = "hit"
    body = {"country_code": best.code, "country_name": best.name}
    if best.fallback:
        body["fallback"] = best.fallback
    return _json(body)


def _clean_report(report: dict[str, Any]) -> dict[str, Any] | None:
    """Drop reports without networks; fill the timestamp and an absent position."""
    out = {k: v for k, v in report.items() if v is not None}
    for fragment in fragments():
        out[fragment.FIELD] = fragment.clean_submit(out.get(fragment.FIELD) or [])
    if not any(out[f.FIELD] for f in fragments()):
        return None
    timestamp = report.get("timestamp")
    if not (isinstance(timestamp, int) and not isinstance(timestamp, bool)
            and 10**12 < timestamp < 10**13):
        out["timestamp"] = schemas.now_ms()
    out.setdefault("position", None)
    return out


@bp.route("/v2/geosubmit", methods=API_METHODS)
def geosubmit_v2() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    key = check_key("submit", "v2.geosubmit", required=False, limited=True)
    data, empty = decode_json(request)
    if empty:
        raise ParseError()
    body = schemas.load(current_app.extensions["ichnaea.schema.submit"], data)
    reports = [r for r in (_clean_report(item) for item in body["items"]) if r is not None]
    g.reports = len(reports)
    sample = key.store_sample_submit if key.valid_key else 100
    if reports and (sample or 0) / 100.0 >= random.random() and (sample or 0) > 0:
        items = [{
            "api_key": key.valid_key,
            "source": (report.get("position") or {}).get("source") or "gnss",
            "report": report,
        } for report in reports]
        try:
            runtime().queue(INCOMING_QUEUE).enqueue(items)
        except (redis.RedisError, OSError):
            raise ServiceUnavailable() from None
    return _json({})


def _json(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(CORS_HEADERS)
    return response


@bp.errorhandler(APIError)
def api_error(exc: APIError) -> Response:
    g.result_status = g.get("result_status") or exc.reason
    return exc.response()
