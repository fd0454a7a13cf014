"""Submitted reports as the pipeline's ``update_incoming`` queue takes them:
the cleaning of a validated report, the queue's items, and
:func:`submit_reports` for importers (the plugin API), which queues reports
exactly as ``/v2/geosubmit`` does.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from ichnaea_host.api.errors import ParseError
from ichnaea_host.api.schemas import gather_position, load, now_ms, report_schema
from ichnaea_host.core.answers import ApiKey
from ichnaea_host.core.plugin_classes import HostContext, ReportFragment
from ichnaea_host.core.queues import INCOMING_QUEUE


def clean_report(report: dict[str, Any], fragments: Sequence[ReportFragment],
                 version: str) -> dict[str, Any] | None:
    """The report as queued, or None when it names no network.

    Missing values are left out, each fragment cleans its list, a missing or
    unusable timestamp becomes the time of arrival. A v2 report without a
    position gets ``"position": null``; v1 and v0 reports have none then.
    """
    out = gather_position({k: v for k, v in report.items() if v is not None}, version)
    for fragment in fragments:
        out[fragment.FIELD] = fragment.clean_report_entries(out.get(fragment.FIELD) or [], out)
    out.pop("radioType", None)  # the fragments have taken what they need from it
    if not any(out[fragment.FIELD] for fragment in fragments):
        return None
    if out.get("timestamp") is None:
        out["timestamp"] = now_ms()
    if version == "v2":
        out.setdefault("position", None)
    return out


def submission_items(key: ApiKey, reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``update_incoming`` items of cleaned, submitted reports: ``{"api_key":
    key or null, "source": report.position.source or "gnss", "report": ...}``."""
    return [{"api_key": key.valid_key,
             "source": (report.get("position") or {}).get("source") or "gnss",
             "report": report} for report in reports]


#: per runtime: its fragments and the schema of one v2 report
_REPORT_SCHEMAS: weakref.WeakKeyDictionary[Any, tuple[list[ReportFragment], Any]] = (
    weakref.WeakKeyDictionary())


def submit_reports(context: HostContext, reports: Sequence[dict[str, Any]]
                   ) -> list[dict[str, Any] | None]:
    """Queue reports as ``/v2/geosubmit`` would (for importers, e.g. of wardriving files).

    Each report is one item of a v2 geosubmit batch. It is validated by the
    same schema, cleaned by the same fragments and queued as the same
    ``update_incoming`` item as a submission without an API key, so that every
    rule of the pipeline applies to it as to a submitted one. Returns, per
    report, the report as queued, or None when the schema refused it (a value
    of the wrong type) or it names no network. Redis errors (``REDIS_ERRORS``)
    are raised; nothing of the call is queued then.
    """
    found = _REPORT_SCHEMAS.get(context)
    if found is None:
        frags = context.fragments()  # type: ignore[attr-defined]  # the host's runtime
        found = _REPORT_SCHEMAS[context] = (frags, report_schema(frags, "v2")())
    frags, schema = found
    queued: list[dict[str, Any] | None] = []
    for report in reports:
        try:
            queued.append(clean_report(load(schema, report), frags, "v2"))
        except ParseError:
            queued.append(None)
    items = submission_items(ApiKey(), [r for r in queued if r is not None])
    if items:
        context.enqueue(INCOMING_QUEUE, items)
    return queued
