"""The API views: /v1/geolocate, /v1/country, /v2/geosubmit, /v1/geosubmit and
/v1/submit, plus /openapi.json.

Every view checks in the original's order: API key, daily limit, body,
then its own logic. Errors use the original's JSON bodies and carry the
CORS headers; ``OPTIONS`` is a CORS preflight answered without a key.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from ichnaea_host.api import limits, openapi, queueing, schemas, submissions
from ichnaea_host.api.decode import decode_json
from ichnaea_host.api.errors import (
    CORS_HEADERS,
    APIError,
    DailyLimitExceeded,
    InvalidAPIKey,
    LocationNotFound,
    ParseError,
    RateLimitExceeded,
)
from ichnaea_host.api.keys import KeyCache, UsageCounts, count_and_limit, validated_key
from ichnaea_host.api.observe import key_tag, note, note_key, query_metrics, result_metrics
from ichnaea_host.api.search import search_position, search_region
from ichnaea_host.core.answers import ApiKey, Query
from ichnaea_host.core.calibration import Calibration, heard_for, kind_of
from ichnaea_host.core.plugin_classes import ReportFragment
from ichnaea_host.core.results import CONFIDENCE_RANGE, DEFAULT_CONFIDENCE, confidence_factor
from ichnaea_host.plugins.runtime import Runtime

bp = Blueprint("api", __name__)

API_METHODS = ["GET", "HEAD", "POST", "OPTIONS"]
#: submit format of each submit path
SUBMIT_VERSIONS = {"v2.geosubmit": "v2", "v1.geosubmit": "v1", "v1.submit": "v0"}


def runtime() -> Runtime:
    return current_app.extensions["ichnaea"]


def key_cache() -> KeyCache:
    return current_app.extensions["ichnaea.keys"]


def usage_counts() -> UsageCounts:
    return current_app.extensions["ichnaea.usage"]


def fragments() -> list[ReportFragment]:
    return current_app.extensions["ichnaea.fragments"]


def _preflight() -> Response:
    return Response("", status=200, headers=CORS_HEADERS)


def _json(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(CORS_HEADERS)
    return response


def check_key(api_type: str, path: str, *, required: bool, limited: bool) -> ApiKey:
    """Resolve ``?key=`` (the last one wins); raise the error a bad or
    exhausted key gets. Without a usable database the key is not checked."""
    rt = runtime()
    values = request.args.getlist("key")
    text = validated_key(values[-1] if values else None)
    key: ApiKey | None = None
    if text is None:
        status = "missing"
    else:
        key, db_ok = key_cache().get(rt, text)
        if not db_ok:
            status = "db_fail"
        elif key is None:
            status = "unknown"
        elif not key.allowed(api_type):
            status = "not_allowed"
        else:
            status = "valid"
    note_key(text, status, api_type, path)
    g.key_tags = [f"key:{key_tag(key, status)}"]
    rt.metrics.incr(f"{api_type}.request", tags=[f"path:{path}", *g.key_tags])
    if status in ("missing", "unknown", "not_allowed"):
        if required:
            raise InvalidAPIKey()
        return ApiKey()
    if status == "db_fail" or key is None:
        return ApiKey()
    maxreq = key.maxreq
    if limited and not maxreq:  # counted later, with other requests
        usage_counts().add(key, api_type, path, g.get("client_ip"))
    elif limited and maxreq:
        # a locate reads the global sample rate in the same round trip to Redis
        also_read = queueing.GLOBAL_LOCATE_SAMPLE_RATE if api_type == "locate" else None
        count, sample_rate = count_and_limit(rt, key, api_type, path, g.get("client_ip"),
                                             also_read=also_read)
        if also_read is not None and count is not None:
            g.locate_sample_rate = queueing.parse_sample_rate(sample_rate)
        if count is not None:
            note(rate_quota=maxreq, rate_remaining=max(maxreq - count, 0),
                 rate_allowed=count <= maxreq)
            if count > maxreq:
                raise DailyLimitExceeded()
    return key


# ---------------------------------------------------------------------------
# Locate and region


def build_query(api_type: str, key: ApiKey) -> Query:
    """The validated query; each fragment parses its list of networks."""
    data, empty = decode_json(request)
    body = {} if empty else schemas.load(current_app.extensions["ichnaea.schema.locate"], data)
    fallbacks = body.get("fallbacks")
    if fallbacks is None:
        consider_ip = body.get("considerIp")
        fallbacks = {"lacf": True, "ipf": True if consider_ip is None else consider_ip}
    query = Query(api_type=api_type, api_key=key, ip=g.get("client_ip"), body=body,
                  fallbacks={"lacf": fallbacks.get("lacf") is not False,
                             "ipf": fallbacks.get("ipf") is not False})
    raw_counts = {}
    for fragment in fragments():
        entries = body.get(fragment.FIELD) or []
        raw_counts[fragment.PLUGIN_NAME] = len(entries)
        query.networks[fragment.PLUGIN_NAME] = fragment.parse_query(entries, body)
        query.network_accuracy[fragment.PLUGIN_NAME] = fragment.DATA_ACCURACY
    query_metrics(runtime(), query, raw_counts, g.key_tags)
    return query


def confidence_level() -> int:
    """``?confidence=``: the share of answers (50-99 %) whose circle holds the
    true position; 95 by default, as the original's accuracy."""
    raw = request.args.get("confidence")
    if raw is None:
        return DEFAULT_CONFIDENCE
    try:
        level = int(raw)
    except ValueError:
        level = -1
    if level not in CONFIDENCE_RANGE:
        raise ParseError({"validation": {
            "confidence": "expected a whole number of percent from 50 to 99"}})
    return level


@bp.route("/v1/geolocate", methods=API_METHODS, provide_automatic_options=False,
          strict_slashes=True)
def geolocate() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    key = check_key("locate", "v1.geolocate", required=True, limited=True)
    confidence = confidence_level()
    query = build_query("locate", key)
    rt = runtime()
    if limits.limits_enabled(rt.settings):
        refused = limits.exceeded(rt, key, g.get("client_ip"), query, fragments())
        if refused is not None:
            note(rate_limited=refused[0])
            rt.metrics.incr("locate.ratelimit", tags=[f"limit:{refused[0]}", *g.key_tags])
            raise RateLimitExceeded(refused[1])
    best, outcome = search_position(rt, query)
    result_metrics(rt, query, best, outcome, g.key_tags)
    note(locate_report=queueing.store_locate_query(rt, query, outcome.internal_results,
                                                   fragments(), g.get("locate_sample_rate")))
    if best is None:
        raise LocationNotFound()
    note(result_source=best.source)
    accuracy = float(best.accuracy)
    measured = rt.source(Calibration).factor(kind_of(best), confidence,
                                             len(best.used_networks),
                                             heard_for(best, query.networks))
    if measured is not None:  # enough reports measured this kind of answer
        accuracy *= measured
    elif confidence != DEFAULT_CONFIDENCE:
        source = next((s for s in rt.plugins.position_sources()
                       if s.PLUGIN_NAME == best.source), None)
        accuracy *= confidence_factor(confidence, source.CONFIDENCE if source else None)
    body: dict[str, Any] = {
        "location": {"lat": round(best.lat, 7), "lng": round(best.lon, 7)},
        "accuracy": round(accuracy, 7),
    }
    if best.fallback:
        body["fallback"] = best.fallback
    if key.allow_raw:
        body["raw"] = raw_entries(rt, query, best)
    return _json(body)


def raw_entries(rt: Runtime, query: Query, best: Any) -> list[dict[str, Any]]:
    """microG's ``raw`` list: the query's networks, located or to omit, from
    every source answering from the service's own stations."""
    entries: list[dict[str, Any]] = []
    for cls in rt.plugins.position_sources():
        if cls.INTERNAL and query.networks.get(cls.PLUGIN_NAME):
            entries.extend(rt.source(cls).explain(query, best))
    note(raw=len(entries))
    return entries


@bp.route("/v1/country", methods=API_METHODS, provide_automatic_options=False,
          strict_slashes=True)
def country() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    key = check_key("region", "v1.country", required=True, limited=False)
    query = build_query("region", key)
    rt = runtime()
    best, outcome = search_region(rt, query)
    result_metrics(rt, query, best, outcome, g.key_tags)
    if best is None:
        raise LocationNotFound()
    note(result_source=best.source)
    body = {"country_code": best.code, "country_name": best.name}
    if best.fallback:
        body["fallback"] = best.fallback
    return _json(body)


# ---------------------------------------------------------------------------
# Submit


def submit(path: str) -> Response:
    """Validate a batch of reports in the path's format and queue it at once."""
    version = SUBMIT_VERSIONS[path]
    key = check_key("submit", path, required=False, limited=True)
    data, empty = decode_json(request)
    if empty:
        raise ParseError()
    body = schemas.load(current_app.extensions[f"ichnaea.schema.submit.{version}"], data)
    frags = fragments()
    reports = [r for r in (submissions.clean_report(item, frags, version)
                           for item in body["items"]) if r is not None]
    note(reports=len(reports), reports_dropped=len(body["items"]) - len(reports))
    if queueing.queue_submission(runtime(), key, reports):
        runtime().metrics.incr("data.batch.upload",
                               tags=[f"key:{key.valid_key}"] if key.valid_key else [],
                               labels=None if key.valid_key else {"key": "none"})
    if version == "v0":
        response = Response(status=204)
        response.headers.remove("Content-Type")
        response.headers.update(CORS_HEADERS)
        return response
    return _json({})


@bp.route("/v2/geosubmit", methods=API_METHODS, provide_automatic_options=False,
          strict_slashes=True)
def geosubmit_v2() -> Response:
    return _preflight() if request.method == "OPTIONS" else submit("v2.geosubmit")


@bp.route("/v1/geosubmit", methods=API_METHODS, provide_automatic_options=False,
          strict_slashes=True)
def geosubmit_v1() -> Response:
    return _preflight() if request.method == "OPTIONS" else submit("v1.geosubmit")


@bp.route("/v1/submit", methods=API_METHODS, provide_automatic_options=False,
          strict_slashes=True)
def submit_v0() -> Response:
    # X-Nickname (old GeoClue and MozStumbler) is accepted and ignored: it
    # names a person, and the service keeps no contributor names.
    return _preflight() if request.method == "OPTIONS" else submit("v1.submit")


# ---------------------------------------------------------------------------
# The API's description


@bp.route("/openapi.json", methods=["GET", "HEAD"])
def openapi_document() -> Response:
    document = current_app.extensions.get("ichnaea.openapi")
    if document is None:
        document = current_app.extensions["ichnaea.openapi"] = openapi.document(fragments())
    response = jsonify(document)
    response.headers.update(CORS_HEADERS)
    return response


@bp.errorhandler(APIError)
def api_error(exc: APIError) -> Response:
    note(result_status=g.get("log_fields", {}).get("result_status") or exc.reason)
    return exc.response()
