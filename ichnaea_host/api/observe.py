"""What each API request tells the operator: the fields of its one log line
and its statsd metrics, with the original service's names and tags.

Views add fields with :func:`note`; the app writes them in the request's
canonical log line. Nothing that identifies a person is noted: API keys are
shortened (metrics carry the key as the original did, logs never do) and the
client address is never recorded, only whether there was one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask import g

from ichnaea_host.core.answers import ACCURACY_ORDER, ApiKey, Query, accuracy_class
from ichnaea_host.core.log import redact_key
from ichnaea_host.plugins.runtime import Runtime


def note(**fields: Any) -> None:
    """Add fields to this request's log line."""
    g.setdefault("log_fields", {}).update(fields)


def noted() -> dict[str, Any]:
    return dict(g.get("log_fields") or {})


def metric_path(path: str) -> str:
    """``/v1/geolocate`` -> ``v1.geolocate``; ``/`` -> ``.homepage``."""
    name = path.strip("/").replace("/", ".").replace("@", "-")
    return name or ".homepage"


def count_bucket(count: int) -> str:
    return "none" if count == 0 else "one" if count == 1 else "many"


def key_tag(key: ApiKey | None, status: str) -> str:
    """The ``key`` tag: the key when it is known and allowed, else why not."""
    if status == "valid" and key is not None and key.valid_key:
        return key.valid_key
    return "invalid" if status in ("unknown", "not_allowed") else "none"


def note_key(text: str | None, status: str, api_type: str, path: str) -> None:
    """Log fields of the key check; ``status`` is valid, unknown, not_allowed,
    missing or db_fail."""
    fields: dict[str, Any] = {"api_type": api_type, "api_path": path,
                              "api_key": redact_key(text) if status != "missing" else "none"}
    if status == "not_allowed":
        fields["api_key_allowed"] = False
    elif status == "unknown":
        fields["invalid_api_key"] = redact_key(text)
        fields["api_key"] = "none"
    elif status == "db_fail":
        fields["api_key_db_fail"] = True
    note(**fields)


def is_hit(found_accuracy: float | None, expected: str) -> bool:
    """Whether an answer is as precise as the query's data promised."""
    if found_accuracy is None or expected == "none":
        return False
    return ACCURACY_ORDER.index(accuracy_class(found_accuracy)) <= ACCURACY_ORDER.index(expected)


def _best_accuracy(results: Sequence[Any]) -> float | None:
    return min((r.accuracy for r in results), default=None)


def query_metrics(rt: Runtime, query: Query, raw_counts: dict[str, int],
                  tags: Iterable[str]) -> None:
    """``locate.query`` / ``region.query`` and the network counts of the log line."""
    fields: dict[str, Any] = {"has_ip": bool(query.ip)}
    query_tags = list(tags)
    for name, lookups in query.networks.items():
        fields[name] = raw_counts.get(name, 0)
        fields[f"{name}_valid"] = len(lookups)
        query_tags.append(f"{name}:{count_bucket(len(lookups))}")
    if not query.ip:
        query_tags.append("geoip:false")
    note(**fields)
    if query.api_key.valid_key:
        rt.metrics.incr(f"{query.api_type}.query", tags=query_tags)


def result_metrics(rt: Runtime, query: Query, best: Any, outcome: Any,
                   tags: Iterable[str]) -> None:
    """``locate.result`` and ``locate.source`` (or ``region.*``), and the
    matching log fields: accuracy, accuracy_min, result_status, source_*."""
    expected = query.expected_accuracy
    hit = best is not None and is_hit(best.accuracy, expected)
    fields: dict[str, Any] = {"accuracy_min": expected,
                              "result_status": "hit" if hit else "miss"}
    if best is not None:
        fields["accuracy"] = accuracy_class(best.accuracy)
    allowed = query.api_key.can_fallback()
    fields["fallback_allowed"] = allowed
    base = list(tags) + [f"accuracy:{expected}"] + (["fallback_allowed:true"] if allowed else [])
    per_source = []
    for name, results in outcome.source_results.items():
        found = _best_accuracy(results)
        source_hit = is_hit(found, expected)
        fields[f"source_{name}_accuracy_min"] = expected
        fields[f"source_{name}_status"] = "hit" if source_hit else "miss"
        if found is not None:
            fields[f"source_{name}_accuracy"] = accuracy_class(found)
        per_source.append(base + [f"source:{name}", f"status:{'hit' if source_hit else 'miss'}"])
    note(**fields)
    if not query.api_key.valid_key or expected == "none":
        return
    result_tags = base + [f"status:{'hit' if hit else 'miss'}"]
    if hit:
        result_tags.append(f"source:{best.source}")
    rt.metrics.incr(f"{query.api_type}.result", tags=result_tags)
    for source_tags in per_source:
        rt.metrics.incr(f"{query.api_type}.source", tags=source_tags)
