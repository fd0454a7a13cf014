"""Measuring the service's accuracy on the reports it receives.

The internal export calls :func:`sample` with each batch *before* it queues
the batch's observations for the station updaters: the stations a report is
located with are those learnt from earlier reports, never from itself. A
report is taken when its position is a GNSS (or fixed) one, precise to
:data:`MAX_TRUTH_ACCURACY` metres when it says so, and not a located query
(whose position is the service's own answer). A report is measured once:
its fingerprint (position and networks) is remembered
``ICHNAEA_CALIBRATION_DAYS`` days (in a Bloom filter a day), so that the same
report submitted again, whose stations now include its own, is not measured
again. At most ``ICHNAEA_CALIBRATION_PER_MINUTE`` reports a minute are
located, across every worker.

Locating uses each position source that answers from the service's own
stations (``INTERNAL``) on its own, never the ones needing the client's
address or calling out, and picks its answer as ``/v1/geolocate`` does
(:func:`~ichnaea_host.core.results.best_position`, a pure function).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from ichnaea_host.core import calibration
from ichnaea_host.core.answers import Position, Query
from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.geo import distance
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.plugin_classes import HostContext, ReportFragment
from ichnaea_host.core.queues import REDIS_ERRORS
from ichnaea_host.core.results import best_position

log = get_logger("ichnaea.calibration")

#: position sources of reports that are ground truth
TRUTH_SOURCES = ("gnss", "fixed")
#: metres: a report whose position is less precise than this measures nothing
MAX_TRUTH_ACCURACY = 50.0
#: nor one whose position is less precise than this share of the answer's
#: accuracy: its own error (the two add in quadrature) is taken out on
#: average, which leaves the far quantiles sound only while it is small
TRUTH_SHARE = 0.25
BUDGET_KEY = "calibration:budget"
SEEN_PREFIX = "calibration:seen:"
#: the Bloom filters of the reports measured: bits a day, bits a report
SEEN_BITS, SEEN_HASHES = 2 ** 24, 4


def fingerprint(report: dict[str, Any], fields: Sequence[str]) -> list[int]:
    """The bits of a report in the Bloom filters of :func:`_first_seen`: the
    same position and networks give the same bits (the timestamp, which a
    resubmission may lack, is left out)."""
    position = report.get("position") or {}
    text = json.dumps([round(float(position.get("lat", 0.0)), 6),
                       round(float(position.get("lon", 0.0)), 6),
                       [report.get(field) or [] for field in fields]],
                      sort_keys=True, default=str)
    digest = hashlib.blake2b(text.encode(), digest_size=4 * SEEN_HASHES).digest()
    return [int.from_bytes(digest[4 * i:4 * i + 4], "big") % SEEN_BITS
            for i in range(SEEN_HASHES)]


def eligible(item: dict[str, Any], report: dict[str, Any]) -> bool:
    """Whether a report (``report["position"]`` normalised) is ground truth."""
    position = report.get("position") or {}
    if item.get("source") == "query" or position.get("source") not in TRUTH_SOURCES:
        return False
    accuracy = position.get("accuracy")
    return accuracy is None or accuracy <= MAX_TRUTH_ACCURACY


def _budget(context: HostContext, wanted: int) -> int:
    """How many of ``wanted`` reports this minute's budget still allows."""
    limit = context.settings.calibration_per_minute
    if wanted <= 0 or limit <= 0:
        return 0
    wanted = min(wanted, limit)
    key = f"{BUDGET_KEY}:{int(time.time() // 60)}"
    with context.redis.pipeline(transaction=False) as pipe:
        pipe.incrby(key, wanted)
        pipe.expire(key, 120)
        used = int(pipe.execute()[0])
    return max(0, min(wanted, limit - (used - wanted)))


def _first_seen(context: HostContext, prints: list[list[int]]) -> list[bool]:
    """Whether each report (its bits) is measured for the first time: a Bloom
    filter a day (``calibration:seen:YYYYMMDD``, 2 MiB), kept as long as the
    measurements; a report is marked in today's and looked for in the others.
    At 300 reports a minute, about one new report in 1,500 is taken for one
    seen before (and not measured)."""
    days = context.settings.calibration_days
    today = today_utc()
    keys = [f"{SEEN_PREFIX}{today - timedelta(days=back):%Y%m%d}" for back in range(days)]
    with context.redis.pipeline(transaction=False) as pipe:
        for bits in prints:
            pipe.execute_command("BITFIELD", keys[0],
                                 *[arg for bit in bits for arg in ("SET", "u1", bit, 1)])
            for key in keys[1:]:
                pipe.execute_command("BITFIELD", key,
                                     *[arg for bit in bits for arg in ("GET", "u1", bit)])
        pipe.expire(keys[0], (days + 1) * 86400)
        answers = pipe.execute()
    fresh = []
    for index in range(len(prints)):
        found = answers[index * days:(index + 1) * days]
        fresh.append(not any(all(int(v) for v in old) for old in found))
    return fresh


def locate(context: Any, report: dict[str, Any],
           fragments: Sequence[ReportFragment]) -> list[tuple[Position, int]]:
    """The answer each position source answering from the service's own
    stations gives for the report's scan, alone (the answer ``/v1/geolocate``
    would give a query with only that kind of network), with the number of
    networks of the kinds it used that the report held: each kind of answer
    is measured on every report it could answer, not only where it wins."""
    plugins = context.plugins
    query = Query(api_type="locate", ip=None, body=report,
                  fallbacks={"ipf": False, "lacf": True})
    for fragment in fragments:
        query.networks[fragment.PLUGIN_NAME] = fragment.parse_query(
            report.get(fragment.FIELD) or [], report)
        query.network_accuracy[fragment.PLUGIN_NAME] = fragment.DATA_ACCURACY
    if not query.has_networks:
        return []
    answers = []
    for cls in plugins.position_sources():
        if not cls.INTERNAL or cls.FALLBACK_FIELD:
            continue
        source = context.source(cls)
        if source.should_search(query, []):
            best = best_position(source.search(query) or [])
            if best is not None and best.accuracy > 0:
                answers.append((best, calibration.heard_for(best, query.networks)))
    return answers


def true_error(answer: Position, position: dict[str, Any]) -> float | None:
    """The answer's error, without what the report's own position adds to it
    (in quadrature: a report's ``accuracy`` is taken as the 68 % radius of a
    circular normal error, whose root mean square is 0.94 of it); None when
    the report's position is too blurred to measure this answer."""
    error = distance(answer.lat, answer.lon, position["lat"], position["lon"])
    truth = position.get("accuracy")
    if truth is None:
        return error
    if truth > TRUTH_SHARE * answer.accuracy:
        return None
    return math.sqrt(max(error * error - (0.94 * truth) ** 2, 0.0))


def sample(context: Any, reports: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Locate a sample of ``(item, report)`` pairs and record what they
    showed; returns the samples recorded. Never raises for its own reasons:
    the export goes on."""
    settings = context.settings
    if not settings.calibration or settings.calibration_per_minute <= 0:
        return 0
    candidates = [report for item, report in reports if eligible(item, report)]
    if not candidates:
        return 0
    try:
        chosen = random.sample(candidates, _budget(context, len(candidates)))
        if not chosen:
            return 0
        fragments = context.fragments()
        prints = [fingerprint(report, [f.FIELD for f in fragments]) for report in chosen]
        fresh = _first_seen(context, prints)
    except REDIS_ERRORS as exc:
        log.warning("calibration_skipped", error=type(exc).__name__)
        return 0
    cache = context.source(calibration.Calibration)
    samples = []
    failed = 0
    for report, new in zip(chosen, fresh, strict=True):
        if not new:
            continue
        try:
            answers = locate(context, report, fragments)
        except Exception as exc:  # noqa: BLE001 - a measurement must not stop the export
            failed += 1
            log.warning("calibration_locate_failed", error=type(exc).__name__)
            continue
        for answer, heard in answers:
            error = true_error(answer, report["position"])
            if error is None:
                continue
            kind = calibration.kind_of(answer)
            networks = len(answer.used_networks)
            factor = cache.factor(kind, 95, networks, heard) or 1.0
            samples.append(calibration.Sample(kind=kind, networks=networks, heard=heard,
                                              error=error, accuracy=answer.accuracy,
                                              answered=answer.accuracy * factor))
    recorded = calibration.record(context, samples)
    log.info("calibration_sampled", located=len(chosen), recorded=recorded, failed=failed)
    return recorded
