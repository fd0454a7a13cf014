"""Prometheus metrics as an operator scrapes them: ``ichnaea serve --workers 2``
and ``ichnaea worker`` as real processes on MariaDB and Redis, real traffic,
then ``/metrics`` parsed with prometheus_client's own parser."""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from ichnaea_host.core.metrics import PROMETHEUS
from tests.servers import Processes, eventually, free_port, wait_port

MYSQL = os.environ.get("ICHNAEA_TEST_MYSQL_URI", "mysql+pymysql://root@127.0.0.1:3306/ichnaea_test")
REDIS = os.environ.get("ICHNAEA_TEST_REDIS_URI", "redis://127.0.0.1:6379/6")
#: this module's database, named after the test URI's (``ichnaea_test_f_metrics``)
DATABASE = f"{MYSQL.rsplit('/', 1)[1].split('?', 1)[0]}_f_metrics"
README = Path(__file__).resolve().parent.parent / "README.md"
KEY = "metrics-key"
LONDON = {"X-Forwarded-For": "81.2.69.160"}
FALLBACK_KEY = "metrics-fallback"
BURST_KEY = "metrics-burst"
#: geolocate requests per key (and a window of 10**6 s, that no test run crosses)
KEY_LIMIT = 30
#: documented metrics of task runs that fail: read from a worker whose
#: database is unreachable (test_task_failures_on_an_unreachable_database)
FAILURES = {"ichnaea_task_failures_total", "ichnaea_task_backend_errors_total"}
#: documented metrics that need an event the traffic below does not make (the
#: accuracy gauges: tests/test_calibration.py)
RARE = FAILURES | {"ichnaea_accuracy_samples", "ichnaea_accuracy_error_meters",
                   "ichnaea_accuracy_inside_ratio"}


#: the gauges read when scraped
SCRAPED = ("ichnaea_backend_up", "ichnaea_queue_length", "ichnaea_queue_oldest_seconds",
           "ichnaea_locate_sample_rate_percent", "ichnaea_accuracy_samples",
           "ichnaea_accuracy_error_meters", "ichnaea_accuracy_inside_ratio")


class Peer(BaseHTTPRequestHandler):
    """A fallback provider that knows nothing (404) and a geosubmit target
    that takes everything (200)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        found = self.path.startswith("/fallback")
        body = b'{"error": {"code": 404}}' if found else b"{}"
        self.send_response(404 if found else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _servers() -> tuple[str, Any]:
    import pymysql
    import redis

    base = MYSQL.rsplit("/", 1)[0]
    host_port = base.split("@", 1)[1]
    host, port = host_port.split(":")
    try:
        conn = pymysql.connect(host=host, port=int(port), user="root", connect_timeout=2)
        client = redis.Redis.from_url(REDIS, socket_timeout=2)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("ICHNAEA_TEST_REQUIRE_SERVICES"):
            raise
        pytest.skip(f"MariaDB or Redis not reachable: {exc}")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cur.execute(f"CREATE DATABASE {DATABASE}")
    conn.close()
    client.flushdb()
    return f"{base}/{DATABASE}", client


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of ``url`` as {sample name: {sorted labels: value}}."""
    from prometheus_client.parser import text_string_to_metric_families

    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def exposed(samples: dict[str, Any]) -> set[str]:
    """The metric names as documented: counters with ``_total``, histograms bare."""
    names = set()
    for name in samples:
        if name.startswith("ichnaea_"):
            names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for key, v in samples.get(name, {}).items()
               if set(labels.items()) <= set(key))


def worker_reaches(procs: Processes, url: str, name: str, least: float,
                   **labels: str) -> Any:
    """The worker's samples once ``name`` (with ``labels``) counts ``least``."""
    def check() -> Any:
        samples = scrape(url)
        return samples if value(samples, name, **labels) >= least else None

    try:
        return eventually(check, timeout=60)
    except AssertionError:
        raise AssertionError(f"{name} not at {least}:\n{procs.logs()}") from None


def documented() -> dict[str, str]:
    """The README's metrics table: {metric: its type}."""
    rows = re.findall(r"^\| `(ichnaea_[a-z_]+)` \| (\w+) \|", README.read_text(), re.M)
    return dict(rows)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    uri, redis_client = _servers()
    web, worker = free_port(), free_port()
    peer = ThreadingHTTPServer(("127.0.0.1", 0), Peer)
    threading.Thread(target=peer.serve_forever, daemon=True).start()
    peer_url = f"http://127.0.0.1:{peer.server_address[1]}"
    procs = Processes(tmp_path_factory.mktemp("metrics"), {
        "DB_READWRITE_URI": uri, "REDIS_URI": REDIS, "ICHNAEA_METRICS": "on",
        "ICHNAEA_WORKER_METRICS_PORT": str(worker), "ICHNAEA_LOCATE_LIMIT_WINDOW": "1000000",
        "ICHNAEA_LOCATE_LIMIT_KEY": str(KEY_LIMIT)})
    procs.cli("db", "upgrade")
    procs.cli("apikey", "create", KEY, "--maxreq", "0", "--store-sample-submit", "100")
    procs.cli("apikey", "create", BURST_KEY)
    procs.cli("apikey", "create", FALLBACK_KEY, "--allow-fallback", "true",
              "--fallback-name", "acme", "--fallback-schema", "ichnaea/v1",
              "--fallback-ratelimit", "0", "--fallback-ratelimit-interval", "60",
              "--fallback-url", f"{peer_url}/fallback")
    procs.cli("export", "add", "internal", "--schema", "internal", "--batch", "1")
    procs.cli("export", "add", "peer", "--schema", "geosubmit", "--batch", "1",
              "--url", f"{peer_url}/submit")
    procs.spawn("web", "serve", "--port", str(web), "--workers", "2")
    procs.spawn("worker", "worker", "--scheduler")
    try:
        wait_port(web)
        wait_port(worker)
        yield procs, f"http://127.0.0.1:{web}", f"http://127.0.0.1:{worker}/metrics"
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop()
        peer.shutdown()
        redis_client.flushdb()


def test_metrics_are_summed_over_the_web_processes_and_documented(service: Any) -> None:
    procs, base, worker_url = service
    hits, misses = 12, 5
    for _ in range(hits):  # a new connection each: both processes answer
        assert requests.get(f"{base}/v1/geolocate?key={KEY}", headers=LONDON,
                            timeout=10).status_code == 200
    wifi = {"considerIp": False, "wifiAccessPoints": [{"macAddress": "a0b1c2d3e401"},
                                                      {"macAddress": "a0b1c2d3e502"}]}
    for _ in range(misses):
        assert requests.post(f"{base}/v1/geolocate?key={KEY}", json=wifi,
                             timeout=10).status_code == 404
    assert requests.get(f"{base}/v1/country?key={KEY}", headers=LONDON,
                        timeout=10).status_code == 200
    assert requests.get(f"{base}/v1/geolocate?key=not-a-key", timeout=10).status_code == 400
    assert requests.post(f"{base}/v1/geolocate?key={KEY}", data=b"{not json",
                         timeout=10).status_code == 400
    report = {"items": [{"timestamp": 1_700_000_000_000,
                         "position": {"latitude": 51.5, "longitude": -0.1, "accuracy": 10},
                         "wifiAccessPoints": [{"macAddress": "a0b1c2d3e601"},
                                              {"macAddress": "a0b1c2d3e702"}]}]}
    assert requests.post(f"{base}/v2/geosubmit?key={KEY}", json=report,
                         timeout=10).status_code == 200
    assert requests.post(f"{base}/v2/geosubmit", json=report, timeout=10).status_code == 200
    assert requests.post(f"{base}/v1/geolocate?key={FALLBACK_KEY}", json=wifi,
                         timeout=10).status_code == 404
    burst = [requests.post(f"{base}/v1/geolocate?key={BURST_KEY}", json=wifi,
                           timeout=10).status_code for _ in range(KEY_LIMIT + 2)]
    assert burst == [404] * KEY_LIMIT + [429, 429]

    web = scrape(f"{base}/metrics")
    requests_total = "ichnaea_http_requests_total"
    assert value(web, requests_total, path="/v1/geolocate", key="keyed", status="200") == hits
    missed = misses + 1 + KEY_LIMIT  # the fallback key's and the burst's too
    assert value(web, requests_total, path="/v1/geolocate", key="keyed", status="404") == missed
    assert value(web, requests_total, path="/v1/geolocate", key="keyed", status="429") == 2
    assert value(web, requests_total, path="/v1/geolocate", key="invalid", status="400") == 1
    assert value(web, requests_total, path="/v1/geolocate", status="400") == 2
    assert value(web, requests_total, path="/v2/geosubmit", key="keyed") == 1
    assert value(web, requests_total, path="/v2/geosubmit", key="keyless") == 1
    assert value(web, "ichnaea_http_request_duration_seconds_count",
                 path="/v1/geolocate", method="get") == hits + 1
    results = "ichnaea_locate_results_total"
    assert value(web, results, status="hit", source="geoip") == hits
    assert value(web, results, status="miss") == missed
    assert value(web, "ichnaea_locate_source_results_total", source="geoip",
                 status="hit") == hits
    assert value(web, "ichnaea_region_results_total", status="hit") == 1
    assert value(web, "ichnaea_submit_batches_total", key="keyed") == 1
    assert value(web, "ichnaea_submit_batches_total", key="keyless") == 1
    assert value(web, "ichnaea_fallback_lookups_total", fallback_name="acme", status="404") == 1
    assert value(web, "ichnaea_fallback_lookup_duration_seconds_count", fallback_name="acme") == 1
    assert value(web, "ichnaea_fallback_cache_total", fallback_name="acme", status="bypassed") == 1
    assert value(web, "ichnaea_locate_ratelimit_refusals_total", limit="key", key="keyed") == 2
    assert value(web, "ichnaea_backend_up", backend="database") == 1
    assert value(web, "ichnaea_backend_up", backend="redis") == 1
    assert ("queue", "update_incoming") in {
        label for key in web["ichnaea_queue_length"] for label in key}
    ages = web["ichnaea_queue_oldest_seconds"]  # as labelled as the lengths
    assert set(ages) <= set(web["ichnaea_queue_length"]) and ages
    assert ("queue", "update_incoming") in {label for key in ages for label in key}
    assert all(0 <= age < 600 for age in ages.values())
    assert "metrics-" not in str(dict(web))  # no label names a key

    # the worker learns the two networks and says so on its own port
    worker = worker_reaches(procs, worker_url, "ichnaea_stations_new_total", 2, radio="wifi")
    assert value(worker, "ichnaea_pipeline_reports_total") == 2
    assert value(worker, "ichnaea_pipeline_observations_total", radio="wifi") == 4
    assert value(worker, "ichnaea_observations_applied_total", radio="wifi") == 4
    assert value(worker, "ichnaea_task_duration_seconds_count", task="update_incoming") >= 1
    assert value(worker, "ichnaea_queue_length", queue="update_incoming") == 0
    assert value(worker, "ichnaea_queue_oldest_seconds", queue="update_incoming") == 0
    worker = worker_reaches(procs, worker_url, "ichnaea_export_batches_total", 1,
                            export="peer")
    assert value(worker, "ichnaea_export_upload_duration_seconds_count", export="peer") >= 1

    # seen again where they were, one of them twice in its report, and a
    # report at 0, 0 (no usable position) ...
    again = report["items"][0]
    twice = {"macAddress": "a0b1c2d3e601", "signalStrength": -90}
    items = [{**again, "wifiAccessPoints": [*again["wifiAccessPoints"], twice]},
             {**again, "position": {"latitude": 0.0, "longitude": 0.0}}]
    assert requests.post(f"{base}/v2/geosubmit?key={KEY}", json={"items": items},
                         timeout=10).status_code == 200
    worker = worker_reaches(procs, worker_url, "ichnaea_stations_confirmed_total", 2,
                            radio="wifi")
    assert value(worker, "ichnaea_pipeline_reports_dropped_total") == 1
    assert value(worker, "ichnaea_pipeline_observations_dropped_total", radio="wifi") == 1
    # ... then 111 km away: they are blocked
    moved = {**again, "position": {"latitude": 52.5, "longitude": -0.1, "accuracy": 10}}
    assert requests.post(f"{base}/v2/geosubmit?key={KEY}", json={"items": [moved]},
                         timeout=10).status_code == 200
    worker = worker_reaches(procs, worker_url, "ichnaea_stations_blocked_total", 2,
                            radio="wifi")
    assert value(worker, "ichnaea_stations_moving_total", radio="wifi") == 0
    # two networks learnt here, then seen 3 km away (beyond
    # ICHNAEA_WIFI__MOVING_METERS, 2000 m, within the 5 km they may stray)
    # within ICHNAEA_WIFI__MOVING_HOURS: they travel
    here = {**again, "wifiAccessPoints": [{"macAddress": "a0b1c2d3e801"},
                                          {"macAddress": "a0b1c2d3e902"}]}
    assert requests.post(f"{base}/v2/geosubmit?key={KEY}", json={"items": [here]},
                         timeout=10).status_code == 200
    worker_reaches(procs, worker_url, "ichnaea_stations_new_total", 4, radio="wifi")
    there = {**here, "position": {"latitude": 51.527, "longitude": -0.1, "accuracy": 10}}
    assert requests.post(f"{base}/v2/geosubmit?key={KEY}", json={"items": [there]},
                         timeout=10).status_code == 200
    worker = worker_reaches(procs, worker_url, "ichnaea_stations_moving_total", 2,
                            radio="wifi")
    assert value(worker, "ichnaea_stations_blocked_total", radio="wifi") == 4

    table = documented()
    seen = exposed(web) | exposed(worker)
    assert seen - set(table) == set(), "exposed but not in the README"
    assert set(table) - seen - RARE == set(), "in the README but not exposed"
    declared = {spec.name for spec in PROMETHEUS.values()}
    assert declared | set(SCRAPED) == set(table)  # and the README lists what the code makes


def test_task_failures_on_an_unreachable_database(service: Any, tmp_path: Path) -> None:
    """A worker (and scheduler) whose MariaDB port has nothing listening, on a
    Redis database of its own (the service's worker takes nothing of its, nor
    it of the service's): its task runs fail on the database and are counted
    so. After the service's test (``service``: the servers answer)."""
    import redis

    base, db = REDIS.rsplit("/", 1)
    own_redis = f"{base}/{(int(db or 0) + 1) % 16}"
    client = redis.Redis.from_url(own_redis, socket_timeout=2)
    client.flushdb()
    port = free_port()
    dead = f"mysql+pymysql://root@127.0.0.1:{free_port()}/{DATABASE}"
    procs = Processes(tmp_path, {"DB_READWRITE_URI": dead, "REDIS_URI": own_redis,
                                 "ICHNAEA_METRICS": "on",
                                 "ICHNAEA_WORKER_METRICS_PORT": str(port)})
    procs.spawn("worker", "worker", "--scheduler")
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/metrics"
        # the scheduler's periodic jobs (cleanup_stat, update_statcounter, ...)
        # run and fail; the scheduler's own look at the database fails too
        def failed() -> Any:
            samples = scrape(url)
            tasks = {dict(key)["task"] for key in samples["ichnaea_task_failures_total"]}
            # each failed run was the database's doing (counted just after)
            return samples if tasks and all(
                value(samples, "ichnaea_task_backend_errors_total", task=task,
                      backend="database") >= 1 for task in tasks) else None

        try:
            samples = eventually(failed, timeout=60)
        except AssertionError:
            raise AssertionError(f"no task failed on the database:\n{procs.logs()}") from None
        assert value(samples, "ichnaea_task_backend_errors_total", task="scheduler",
                     backend="database") >= 1
        assert value(samples, "ichnaea_task_backend_errors_total", backend="redis") == 0
        assert exposed(samples) >= FAILURES
        assert FAILURES <= set(documented())
    finally:
        procs.stop()
        client.flushdb()


def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    port = free_port()
    procs = Processes(tmp_path, {"DB_READWRITE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    procs.spawn("web", "serve", "--port", str(port))
    try:
        wait_port(port)
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 404
    finally:
        procs.stop()


def test_metrics_on_a_port_of_their_own(tmp_path: Path) -> None:
    """``ICHNAEA_METRICS=<port>``: the serve parent serves what its two
    processes counted; the web port has no /metrics."""
    web, port = free_port(), free_port()
    procs = Processes(tmp_path, {"DB_READWRITE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                                 "ICHNAEA_METRICS": str(port)})
    procs.spawn("web", "serve", "--port", str(web), "--workers", "2")
    try:
        wait_port(web)
        wait_port(port)
        for _ in range(10):
            assert requests.get(f"http://127.0.0.1:{web}/__lbheartbeat__",
                                timeout=10).status_code == 200
        assert requests.get(f"http://127.0.0.1:{web}/metrics", timeout=10).status_code == 404
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        assert value(samples, "ichnaea_http_requests_total", path="/__lbheartbeat__",
                     status="200") == 10
        assert value(samples, "ichnaea_backend_up", backend="database") == 1
    finally:
        procs.stop()
