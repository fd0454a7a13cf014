"""What the web tier puts in the pipeline's ``update_incoming`` queue
(a report's cleaning and the queue's items: :mod:`.submissions`).

Every item is ``{"api_key": key or null, "source": ..., "report": {...}}``:

- submitted reports (source ``report.position.source``, else ``gnss``),
  sampled by the key's ``store_sample_submit``;
- located queries (source ``query``): the query's networks with the answer of
  the service's own stations as position, sampled by ``store_sample_locate``
  times the ``global_locate_sample_rate`` Redis key (percent, default 100),
  and skipped when every network of the query was already seen today.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ichnaea_host.api.errors import ServiceUnavailable
from ichnaea_host.api.submissions import submission_items
from ichnaea_host.core.answers import ApiKey, Position, Query
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.plugin_classes import ReportFragment
from ichnaea_host.core.queues import REDIS_ERRORS
from ichnaea_host.core.results import best_position
from ichnaea_host.plugins.runtime import INCOMING_QUEUE, Runtime

log = get_logger("ichnaea.api.queueing")

GLOBAL_LOCATE_SAMPLE_RATE = "global_locate_sample_rate"


# ---------------------------------------------------------------------------
# Submissions


def queue_submission(rt: Runtime, key: ApiKey, reports: list[dict[str, Any]]) -> bool:
    """Queue a batch of cleaned reports; True when they were queued.

    Raises :class:`ServiceUnavailable` when Redis cannot take them, so that
    the client keeps its data and tries again.
    """
    if not reports or not key.store_sample("submit"):
        return False
    items = submission_items(key, reports)
    try:
        rt.queue(INCOMING_QUEUE).enqueue(items)
    except REDIS_ERRORS as exc:
        log.warning("submit_queue_unavailable", error=type(exc).__name__, reports=len(items))
        raise ServiceUnavailable() from None
    return True


# ---------------------------------------------------------------------------
# Located queries


def global_locate_sample_rate(rt: Runtime) -> float:
    """The deployment-wide locate sample rate in percent (100 when unset)."""
    return parse_sample_rate(rt.redis.get(GLOBAL_LOCATE_SAMPLE_RATE))


def parse_sample_rate(value: bytes | str | None) -> float:
    """The value of the ``global_locate_sample_rate`` key as a rate in percent:
    100 when unset or not a finite number."""
    try:
        rate = float(value) if value is not None else 100.0
    except ValueError:
        return 100.0
    return rate if math.isfinite(rate) else 100.0


def all_seen_today(query: Query, position: Position,
                   fragments: Sequence[ReportFragment]) -> bool:
    """Whether the answer was built from every network of the query, each
    already confirmed today (then the query teaches the service nothing)."""
    wanted: dict[str, set[str]] = {}
    for fragment in fragments:
        lookups = query.networks.get(fragment.PLUGIN_NAME)
        if not lookups:
            continue
        ids = fragment.network_ids(lookups, query)
        if ids is None:
            return False
        for kind, values in ids.items():
            if values:
                wanted.setdefault(kind, set()).update(values)
    seen: dict[str, set[str]] = {}
    for kind, ident, today in position.used_networks:
        if today:
            seen.setdefault(kind, set()).add(ident)
    return bool(wanted) and wanted == seen


def locate_report(query: Query, position: Position,
                  fragments: Sequence[ReportFragment]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for fragment in fragments:
        lookups = query.networks.get(fragment.PLUGIN_NAME)
        if lookups:
            report[fragment.FIELD] = fragment.query_json(lookups)
    report["fallbacks"] = {"ipf": bool(query.fallbacks.get("ipf", True)),
                           "lacf": bool(query.fallbacks.get("lacf", True))}
    report["position"] = {"latitude": round(position.lat, 7),
                          "longitude": round(position.lon, 7),
                          "accuracy": round(float(position.accuracy), 7),
                          "source": "query"}
    return report


def store_locate_query(rt: Runtime, query: Query, internal_results: Sequence[Position],
                       fragments: Sequence[ReportFragment],
                       sample_rate: float | None = None) -> str:
    """Queue a located query as a report when it is worth it; never raises.

    ``sample_rate`` is the global locate sample rate when the request already
    read it (with its daily counters); otherwise it is read here.
    Returns what happened, for the log: ``stored``, ``no_result``,
    ``seen_today``, ``not_sampled`` or ``failed``.
    """
    best = best_position(internal_results)
    if best is None:
        return "no_result"
    if all_seen_today(query, best, fragments):
        return "seen_today"
    if not query.api_key.store_sample_locate:  # the key never samples: no rate to read
        return "not_sampled"
    try:
        if sample_rate is None:
            sample_rate = global_locate_sample_rate(rt)
        if not query.api_key.store_sample("locate", sample_rate):
            return "not_sampled"
        item = {"api_key": query.api_key.valid_key, "source": "query",
                "report": locate_report(query, best, fragments)}
        rt.queue(INCOMING_QUEUE).enqueue([item])
    except REDIS_ERRORS as exc:
        log.warning("locate_queue_unavailable", error=type(exc).__name__)
        return "failed"
    return "stored"
