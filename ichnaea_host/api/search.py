"""The searcher: runs the location sources in order and picks the best answer.

Sources run in the configured order; each is isolated (an exception is
logged and the source skipped). Every eligible source runs and all their
results compete: the best cluster of agreeing results wins by combined
score, and within it the most precise result is the answer.
"""

from __future__ import annotations

import time
from typing import Any

from ichnaea_host.core.answers import Position, Query, Region
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.results import best_position, best_position_cluster, best_region, satisfies
from ichnaea_host.plugins.runtime import Runtime

log = get_logger("ichnaea.search")

__all__ = ["best_position", "best_position_cluster", "best_region", "satisfies",
           "run_sources", "search_position", "search_region"]


class SearchOutcome:
    """What the sources of one query found, all together and per source."""

    def __init__(self) -> None:
        self.results: list[Any] = []
        #: results of the sources answering from the service's own stations
        self.internal_results: list[Any] = []
        #: results per source that ran, by PLUGIN_NAME
        self.source_results: dict[str, list[Any]] = {}
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
        outcome.source_results[name] = list(found)
        if cls.INTERNAL:
            outcome.internal_results.extend(found)
        outcome.source_status[name] = "hit" if found else "miss"
    return outcome


def search_position(rt: Runtime, query: Query) -> tuple[Position | None, SearchOutcome]:
    outcome = run_sources(rt, query, "position")
    return best_position(outcome.results), outcome


def search_region(rt: Runtime, query: Query) -> tuple[Region | None, SearchOutcome]:
    outcome = run_sources(rt, query, "region")
    return best_region(outcome.results), outcome
