"""The searcher: runs the location sources in order and picks the best answer.

Sources run in the configured order; each is isolated (an exception is
logged and the source skipped). Every eligible source runs and all their
results compete: the best cluster of agreeing results wins by combined
score, and within it the most precise result is the answer.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ..geo import distance
from ..interfaces import ACCURACY_ORDER, Position, Query, Region
from ..log import get_logger
from ..runtime import Runtime

log = get_logger("ichnaea.search")


def best_position_cluster(results: Sequence[Position]) -> list[Position]:
    ordered = sorted(results, key=lambda r: r.accuracy)
    best: list[Position] = []
    best_key = (-1.0, -1.0)
    for i, first in enumerate(ordered):
        cluster = [first]
        for other in ordered[i + 1:]:
            limit = max(1.5 * first.accuracy, 1.5 * other.accuracy)
            if distance(first.lat, first.lon, other.lat, other.lon) <= limit:
                cluster.append(other)
        key = (sum(r.score for r in cluster), max(r.score for r in cluster))
        if key > best_key:
            best, best_key = cluster, key
    return best


def best_position(results: Sequence[Position]) -> Position | None:
    cluster = best_position_cluster(results)
    if not cluster:
        return None
    return sorted(cluster, key=lambda r: (r.accuracy, -r.score))[0]


def satisfies(results: Sequence[Position], query: Query) -> bool:
    """Whether the results are good enough that an external fallback is not needed."""
    cluster = best_position_cluster(results)
    if not cluster or sum(r.score for r in cluster) < 1.0:
        return False
    best_class = min((r.data_accuracy for r in cluster), key=ACCURACY_ORDER.index)
    return ACCURACY_ORDER.index(best_class) <= ACCURACY_ORDER.index(query.expected_accuracy)


def best_region(results: Sequence[Region]) -> Region | None:
    groups: dict[str, list[Region]] = defaultdict(list)
    for result in results:
        groups[result.code].append(result)
    if not groups:
        return None
    code = max(groups, key=lambda c: (sum(r.score for r in groups[c]),
                                      max(r.accuracy for r in groups[c])))
    return sorted(groups[code], key=lambda r: -r.score)[0]


class SearchOutcome:
    def __init__(self) -> None:
        self.results: list[Any] = []
        self.source_status: dict[str, str] = {}
        self.timings: dict[str, float] = {}


def run_sources(rt: Runtime, query: Query, kind: str) -> SearchOutcome:
    sources = rt.plugins.position_sources() if kind == "position" else rt.plugins.region_sources()
    outcome = SearchOutcome()
    for cls in sources:
        name = cls.PLUGIN_NAME
        if cls.FALLBACK_FIELD and not query.fallbacks.get(cls.FALLBACK_FIELD, True):
            continue
        source = rt.source(cls)
        start = time.perf_counter()
        try:
            if not source.should_search(query, outcome.results):
                continue
            found = source.search(query) or []
        except Exception as exc:  # noqa: BLE001 - one broken source must not break locate
            log.error("source_failed", source=name, error=f"{type(exc).__name__}: {exc}")
            outcome.source_status[name] = "error"
            continue
        finally:
            outcome.timings[name] = round((time.perf_counter() - start) * 1000, 2)
        outcome.results.extend(found)
        outcome.source_status[name] = "hit" if found else "miss"
    return outcome


def search_position(rt: Runtime, query: Query) -> tuple[Position | None, SearchOutcome]:
    outcome = run_sources(rt, query, "position")
    return best_position(outcome.results), outcome


def search_region(rt: Runtime, query: Query) -> tuple[Region | None, SearchOutcome]:
    outcome = run_sources(rt, query, "region")
    return best_region(outcome.results), outcome
