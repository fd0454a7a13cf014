"""Metrics: statsd with the original service's names and tags, and Prometheus.

statsd lines go over UDP in the DogStatsD format (``name:value|type|#tag:v,...``)
under the prefix ``location.``, as the original's markus setup did. Without
``STATSD_HOST`` nothing is sent.

With Prometheus on, the same calls also feed ``prometheus_client`` metrics:
:data:`PROMETHEUS` maps a statsd name to a Prometheus metric (a counter for
``incr``, a histogram in seconds for ``timing``) and picks a bounded set of
its tags as labels. A tag ``key`` never becomes a key: its label says only
``keyed``, ``keyless`` or ``invalid``. Names without an entry stay statsd
only; entries marked ``statsd=False`` are Prometheus only. The metrics are
created on first use, so that :func:`use_multiprocess_dir` can still switch
``prometheus_client`` to its multiprocess mode (``ichnaea serve --workers N``).

A metric is never allowed to fail a request.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PREFIX = "location"
#: buckets of the duration histograms, in seconds
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
           30.0, 60.0, 300.0)


@dataclasses.dataclass(frozen=True)
class Spec:
    """The Prometheus metric a statsd name feeds."""

    name: str
    kind: str  # "counter" (from incr) or "histogram" (from timing, in seconds)
    labels: tuple[str, ...]
    help: str
    #: label name -> the statsd tag it is read from, where they differ
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: whether the name is also sent to statsd
    statsd: bool = True


def _radio(name: str, help: str) -> Spec:
    return Spec(name, "counter", ("radio",), help, {"radio": "type"})


PROMETHEUS: dict[str, Spec] = {
    "request": Spec("ichnaea_http_requests_total", "counter",
                    ("path", "method", "status", "key"),
                    "HTTP requests by route, method, status and key class"),
    "request.timing": Spec("ichnaea_http_request_duration_seconds", "histogram",
                           ("path", "method"), "HTTP request durations by route and method"),
    "locate.result": Spec("ichnaea_locate_results_total", "counter",
                          ("status", "source", "accuracy"),
                          "keyed geolocate answers: hit or miss, the source of a hit, the "
                          "accuracy class the query's data promised"),
    "locate.source": Spec("ichnaea_locate_source_results_total", "counter",
                          ("source", "status", "accuracy"),
                          "keyed geolocate lookups per source: hit or miss per accuracy class"),
    "region.result": Spec("ichnaea_region_results_total", "counter", ("status", "source"),
                          "keyed country answers: hit or miss, the source of a hit"),
    "locate.ratelimit": Spec("ichnaea_locate_ratelimit_refusals_total", "counter",
                             ("limit", "key"), "geolocate requests refused by a rate limit"),
    "locate.fallback.lookup": Spec("ichnaea_fallback_lookups_total", "counter",
                                   ("fallback_name", "status"),
                                   "calls to fallback providers by provider name and HTTP "
                                   "status (or timeout, error, ratelimited)"),
    "locate.fallback.lookup.timing": Spec("ichnaea_fallback_lookup_duration_seconds",
                                          "histogram", ("fallback_name",),
                                          "durations of calls to fallback providers"),
    "locate.fallback.cache": Spec("ichnaea_fallback_cache_total", "counter",
                                  ("fallback_name", "status"),
                                  "fallback cache look-ups: hit, notfound, miss, bypassed, "
                                  "inconsistent or failure"),
    "data.batch.upload": Spec("ichnaea_submit_batches_total", "counter", ("key",),
                              "submitted batches queued"),
    "data.report.upload": Spec("ichnaea_pipeline_reports_total", "counter", (),
                               "reports taken into the internal export"),
    "data.report.drop": Spec("ichnaea_pipeline_reports_dropped_total", "counter", (),
                             "reports dropped by the internal export"),
    "data.observation.upload": _radio("ichnaea_pipeline_observations_total",
                                      "observations made from reports, per radio"),
    "data.observation.drop": _radio("ichnaea_pipeline_observations_dropped_total",
                                    "observations dropped from reports, per radio"),
    "data.observation.insert": _radio("ichnaea_observations_applied_total",
                                      "observations applied to stations, per radio"),
    "data.station.new": _radio("ichnaea_stations_new_total", "stations learned, per radio"),
    "data.station.confirm": _radio("ichnaea_stations_confirmed_total",
                                   "stations confirmed or changed, per radio"),
    "data.station.blocklist": _radio("ichnaea_stations_blocked_total",
                                     "stations blocked, per radio"),
    "data.station.moving": _radio("ichnaea_stations_moving_total",
                                  "stations seen moving, per radio"),
    "data.export.batch": Spec("ichnaea_export_batches_total", "counter", ("export",),
                              "batches sent by external exports", {"export": "key"}),
    "data.export.upload.timing": Spec("ichnaea_export_upload_duration_seconds", "histogram",
                                      ("export",), "durations of external export uploads",
                                      {"export": "key"}),
    "task": Spec("ichnaea_task_duration_seconds", "histogram", ("task",),
                 "durations of worker task runs"),
    "task.failure": Spec("ichnaea_task_failures_total", "counter", ("task",),
                         "worker task runs that raised", statsd=False),
    "task.backend_error": Spec("ichnaea_task_backend_errors_total", "counter",
                               ("backend", "task"),
                               "worker task runs stopped by an unreachable backend"),
}


#: per statsd name: the label position of each tag read, and of each label
_POSITIONS = {
    name: ({spec.tags.get(label, label): at for at, label in enumerate(spec.labels)},
           {label: at for at, label in enumerate(spec.labels)})
    for name, spec in PROMETHEUS.items()
}


def key_class(tag: str) -> str:
    """The ``key`` label of a ``key`` tag value, never the key itself: keyed,
    keyless or invalid (empty: a request without a key check)."""
    if tag in ("", "none", "invalid"):
        return "keyless" if tag == "none" else tag
    return "keyed"


_collectors: dict[str, Any] = {}
_collectors_lock = threading.Lock()


def _collector(spec: Spec) -> Any:
    metric = _collectors.get(spec.name)
    if metric is None:
        with _collectors_lock:
            metric = _collectors.get(spec.name)
            if metric is None:
                metric = _collectors[spec.name] = _make(spec)
    return metric


_children: dict[tuple[str, tuple[str, ...]], Any] = {}


def _child(spec: Spec, values: tuple[str, ...]) -> Any:
    """The metric of ``spec`` with these label values (cached: ``labels()``
    costs more than the count)."""
    child = _children.get((spec.name, values))
    if child is None:
        metric = _collector(spec)
        child = metric.labels(*values) if values else metric
        _children[spec.name, values] = child
    return child


def _make(spec: Spec) -> Any:
    import prometheus_client

    prometheus_client.disable_created_metrics()
    if spec.kind == "histogram":
        return prometheus_client.Histogram(spec.name, spec.help, spec.labels, registry=None,
                                           buckets=BUCKETS)
    return prometheus_client.Counter(spec.name, spec.help, spec.labels, registry=None)


def collectors() -> list[Any]:
    """The Prometheus metrics of this process that have been used."""
    return list(_collectors.values())


def use_multiprocess_dir() -> Path:
    """Make a fresh folder for ``prometheus_client``'s multiprocess mode and
    point this process and the processes it forks at it. Call it before a
    metric is first used; the caller removes the folder when done."""
    path = Path(tempfile.mkdtemp(prefix="ichnaea-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    if "prometheus_client.values" in sys.modules:  # imported already: choose again
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[misc]
    return path


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """statsd (to ``host`` when given) and, with ``prometheus`` (which the
    commands that serve metrics turn on), the Prometheus metrics."""

    def __init__(self, host: str = "", port: int = 8125, prefix: str = PREFIX, *,
                 prometheus: bool = False) -> None:
        self.prefix = prefix
        self.address = (host, port) if host else None
        self.prometheus = prometheus
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether metrics go anywhere (statsd or Prometheus)."""
        return self.address is not None or self.prometheus

    def _send(self, name: str, value: float, kind: str, tags: Iterable[str] | None) -> None:
        if self.address is None:
            return
        line = f"{self.prefix}.{name}:{value:g}|{kind}"
        tags = [t for t in (tags or ()) if t]
        if tags:
            line += "|#" + ",".join(tags)
        try:
            with self._lock:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._sock.sendto(line.encode(), self.address)
        except OSError:
            pass

    def _record(self, name: str, value: float, tags: Iterable[str] | None,
                labels: Mapping[str, str] | None) -> bool:
        """Feed the Prometheus metric of ``name``; False when statsd must not
        get the name (a Prometheus-only metric)."""
        spec = PROMETHEUS.get(name)
        if spec is None:
            return True
        if not self.prometheus:
            return spec.statsd
        try:
            from_tag, from_label = _POSITIONS[name]
            values = [""] * len(spec.labels)
            for tag in tags or ():
                tag_name, _, tag_value = tag.partition(":")
                at = from_tag.get(tag_name)
                if at is not None:
                    values[at] = tag_value
            for label, label_value in (labels or {}).items():
                values[from_label[label]] = label_value
            if "key" in from_label:
                at = from_label["key"]
                values[at] = key_class(values[at])
            child = _child(spec, tuple(values))
            if spec.kind == "histogram":
                child.observe(value / 1000)
            else:
                child.inc(value)
        except Exception:  # noqa: BLE001, S110 - a metric never fails a request
            pass
        return spec.statsd

    def incr(self, name: str, value: float = 1, tags: Iterable[str] | None = None,
             labels: Mapping[str, str] | None = None) -> None:
        """Count; ``labels`` are Prometheus label values statsd never gets."""
        if self._record(name, value, tags, labels):
            self._send(name, value, "c", tags)

    def gauge(self, name: str, value: float, tags: Iterable[str] | None = None) -> None:
        self._send(name, value, "g", tags)

    def timing(self, name: str, ms: float, tags: Iterable[str] | None = None,
               labels: Mapping[str, str] | None = None) -> None:
        if self._record(name, ms, tags, labels):
            self._send(name, round(ms, 3), "ms", tags)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


NULL = Metrics()
