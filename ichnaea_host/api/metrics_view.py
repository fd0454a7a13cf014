"""Prometheus metrics: ``GET /metrics`` on the web port, or a port of their own.

What a scrape shows: the counters and histograms the process (or, under
``ichnaea serve --workers N``, every web process, summed through
``prometheus_client``'s multiprocess folder) counted through
:class:`~ichnaea_host.core.metrics.Metrics`, and gauges read at scrape time:
whether each backend answers, the length of every queue, the age of the
oldest item in every data queue and the locate sample rate. The scrape-time
reads are a heartbeat and two Redis pipelines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app

from ichnaea_host.api import monitor, queueing
from ichnaea_host.core import metrics
from ichnaea_host.core.calibration import Calibration
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.queues import REDIS_ERRORS
from ichnaea_host.plugins.runtime import Runtime

log = get_logger("ichnaea.metrics")

bp = Blueprint("metrics", __name__)


class ServiceCollector:
    """Gauges read when scraped: backends up, queue lengths and oldest
    items' ages, locate sample rate."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("ichnaea_backend_up",
                               "1 when the backend answers its heartbeat check, else 0",
                               labels=["backend"])
        # the connections this scrape's thread opens go back to the pool
        with self.rt.db.session():
            status = monitor.heartbeat_status(self.rt)
        for name, found in status.items():
            up.add_metric([name], 1.0 if found.get("up") else 0.0)
        yield up
        try:
            yield from self._queues()
        except REDIS_ERRORS as exc:  # Redis down: ichnaea_backend_up says so
            log.warning("metrics_queues_unavailable", error=type(exc).__name__)

    def _queues(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from ichnaea_host.pipeline import monitoring  # the worker's modules, loaded late

        sizes = monitoring.queue_sizes(self.rt)
        tags = monitoring.queue_tags(self.rt)
        length = GaugeMetricFamily("ichnaea_queue_length", "items waiting in each queue",
                                   labels=["queue", "queue_type", "data_type"])
        for name, size in sorted(sizes.items()):
            found = dict(t.split(":", 1) for t in tags.get(name, ["queue_type:task"]))
            length.add_metric([name, found.get("queue_type", ""), found.get("data_type", "")],
                              float(size))
        yield length
        yield self._queue_ages(tags)
        yield GaugeMetricFamily("ichnaea_locate_sample_rate_percent",
                                "share of locate queries kept as data (rate controller)",
                                value=queueing.global_locate_sample_rate(self.rt))
        yield from self._accuracy()

    def _accuracy(self) -> Iterator[Any]:
        """The measured accuracy per kind of answer (only kinds with samples)."""
        from prometheus_client.core import GaugeMetricFamily

        summaries = self.rt.source(Calibration).summaries()
        if not summaries:
            return
        samples = GaugeMetricFamily(
            "ichnaea_accuracy_samples", "located reports measuring the accuracy, last days",
            labels=["kind"])
        error = GaugeMetricFamily(
            "ichnaea_accuracy_error_meters", "measured error of the answers (quantiles)",
            labels=["kind", "quantile"])
        inside = GaugeMetricFamily(
            "ichnaea_accuracy_inside_ratio",
            "share of measured answers whose answered circle held the true position",
            labels=["kind"])
        for kind, summary in sorted(summaries.items()):
            samples.add_metric([kind], float(summary.samples))
            for share in (0.5, 0.9):
                value = summary.error_quantile(share)
                if value is not None:
                    error.add_metric([kind, str(share)], value)
            if summary.share_inside is not None:
                inside.add_metric([kind], summary.share_inside)
        yield samples
        yield error
        yield inside

    def _queue_ages(self, tags: dict[str, list[str]]) -> Any:
        """The oldest waiting item's age in each data queue (Huey's task
        queue has none), in one pipeline; the lists ``update_incoming`` is
        spread over count as one queue."""
        from prometheus_client.core import GaugeMetricFamily

        from ichnaea_host.core.queues import oldest_of, queue_ages
        from ichnaea_host.plugins.runtime import INCOMING_QUEUE

        incoming = self.rt.incoming_keys()
        names = [name for name in tags if name != INCOMING_QUEUE]
        ages = queue_ages(self.rt.redis, names + incoming)
        ages[INCOMING_QUEUE] = oldest_of(ages[key] for key in incoming)
        oldest = GaugeMetricFamily(
            "ichnaea_queue_oldest_seconds",
            "seconds since the oldest item waiting in each data queue was queued",
            labels=["queue", "queue_type", "data_type"])
        for name in sorted(tags):
            age = ages.get(name)
            if age is not None:  # items all queued by an older version: unknown
                found = dict(t.split(":", 1) for t in tags[name])
                oldest.add_metric([name, found.get("queue_type", ""),
                                   found.get("data_type", "")], age)
        return oldest


class _OwnMetrics:
    """This process's counters and histograms (without multiprocess mode)."""

    def collect(self) -> Iterator[Any]:
        for metric in metrics.collectors():
            yield from metric.collect()


def registry(rt: Runtime) -> Any:
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    found = CollectorRegistry(auto_describe=False)
    if metrics.multiprocess():
        MultiProcessCollector(found)
    else:
        found.register(_OwnMetrics())  # type: ignore[arg-type]
    found.register(ServiceCollector(rt))  # type: ignore[arg-type]
    return found


@bp.route("/metrics", methods=["GET"], strict_slashes=True)
def metrics_page() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("ichnaea.metrics")
    if found is None:
        found = app.extensions["ichnaea.metrics"] = registry(app.extensions["ichnaea"])
    return Response(generate_latest(found), headers={"Content-Type": CONTENT_TYPE_LATEST})


def start_server(rt: Runtime, host: str, port: int) -> Callable[[], None]:
    """Serve the metrics on ``host:port`` in a thread; returns what stops it."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, host, registry=registry(rt))
    print(f"ichnaea: metrics on http://{host}:{port}/metrics", flush=True)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
