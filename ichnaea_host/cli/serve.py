"""Running the processes: the web server, the worker, and everything in one.

``serve`` runs waitress; with several workers the parent opens the listening
socket and forks one waitress process per worker on it. ``run_all`` is the
one-command service: web, worker threads and scheduler in one process, on
the embedded defaults unless servers are configured. Ctrl-C (or SIGTERM)
stops everything cleanly, the embedded Redis included.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ichnaea_host.api import metrics_view
from ichnaea_host.app import create_app
from ichnaea_host.core import migrate
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.metrics import use_multiprocess_dir
from ichnaea_host.core.models import ApiKeyRow, ExportConfig
from ichnaea_host.pipeline.worker import EmbeddedConsumer, Scheduler, Worker
from ichnaea_host.plugins.runtime import Runtime

log = get_logger("ichnaea.serve")

DEMO_KEY_PREFIX = "demo-"


class Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGINT/SIGTERM. A KeyboardInterrupt, so
    that waitress's loop lets it through: it catches every Exception raised
    while it handles a connection event, and would swallow the stop."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def install_stop_handlers() -> None:
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)


def _waitress(app: Any, sock: socket.socket | None, host: str, port: int, threads: int) -> Any:
    """Waitress with the request deadlines, connection and body limits of
    ``webserver`` (read from the app's settings), on ``sock`` or on a socket
    opened on host:port."""
    from ichnaea_host.cli.webserver import create_server

    if sock is None:
        sock = listen(host, port)
    return create_server(app, sock, app.extensions["ichnaea"].settings, threads)


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def serve(make_runtime: Callable[[], Runtime], host: str, port: int, workers: int,
          threads: int) -> None:
    """The web service only. Several workers share one listening socket and,
    on embedded defaults, one embedded Redis: this process starts it before
    the workers and stops it after them. SIGINT and SIGTERM stop cleanly."""
    sock = listen(host, port)
    print(f"ichnaea: serving on http://{host}:{port} with {workers} process(es)", flush=True)
    if workers <= 1:
        _serve_one(make_runtime, sock, threads, own_metrics=True)
        return
    keeper = make_runtime()
    say_plugin_checks(keeper)
    # the web processes count into files of one folder, summed when scraped
    metrics_dir = use_multiprocess_dir() if keeper.settings.metrics != "off" else None
    if keeper.settings.embedded_redis:
        keeper.redis_url()  # started here, so that the workers find it running
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # child: its own runtime, database and Redis connections
            try:
                _serve_one(make_runtime, sock, threads)
            finally:
                os._exit(0)
        children.append(pid)
    install_stop_handlers()
    stop_metrics = _metrics_server(keeper, keeper.settings.metrics_port)
    try:
        while children:
            pid, _ = os.wait()
            if pid in children:
                children.remove(pid)
    except Stop:
        pass
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        stop_metrics()
        keeper.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve_one(make_runtime: Callable[[], Runtime], sock: socket.socket, threads: int,
               own_metrics: bool = False) -> None:
    install_stop_handlers()
    rt = make_runtime()
    if own_metrics:  # the only web process: no keeper said them
        say_plugin_checks(rt)
    rt.metrics.prometheus = rt.settings.metrics != "off"
    server = _waitress(create_app(runtime=rt), sock, "", 0, threads)
    stop_metrics = _metrics_server(rt, rt.settings.metrics_port if own_metrics else 0)
    try:
        server.run()
    except (KeyboardInterrupt, Stop):
        pass
    finally:
        stop_metrics()
        server.close()
        rt.close()


def say_plugin_checks(rt: Runtime) -> None:
    """At start-up, one log line per plugin check that is not ok (what
    ``ichnaea doctor`` would warn about: the GeoIP demo database, a
    ``GEOIP_PATH`` that is missing or not a City database, ...). The service
    starts anyway: a plugin's problem only takes away that plugin's answers."""
    from ichnaea_host.cli.doctor import plugin_checks

    for result in plugin_checks(rt):
        if result.status != "ok":
            log.warning("plugin_check", check=result.name, status=result.status,
                        message=result.message, fix=result.fix)


def _metrics_server(rt: Runtime, port: int) -> Callable[[], None]:
    """Serve the Prometheus metrics on a port of their own (none when 0);
    returns what stops it."""
    if not port:
        return lambda: None
    return metrics_view.start_server(rt, rt.settings.metrics_host, port)


def first_start(rt: Runtime) -> str:
    """Migrate; on first start create a demo API key and an internal export.

    Returns the demo key.
    """
    applied = migrate.upgrade(rt.db.rw, rt.plugins.migration_dirs)
    if applied:
        log.info("database_migrated", migrations=len(applied))
    demo = (ApiKeyRow.select().where(ApiKeyRow.valid_key.startswith(DEMO_KEY_PREFIX))
            .order_by(ApiKeyRow.valid_key).first())
    if demo is None:
        demo = ApiKeyRow.create(valid_key=DEMO_KEY_PREFIX + secrets.token_hex(6), maxreq=0,
                             allow_fallback=False, allow_locate=True, allow_region=True,
                             store_sample_locate=100, store_sample_submit=100)
    create_internal_export()
    return demo.valid_key


def create_internal_export() -> bool:
    """Create the ``internal`` export (the workers learn stations from the
    reports) when no export exists at all; return whether it did. Without
    any export the incoming reports wait in Redis (see ``update_incoming``)."""
    if ExportConfig.select().exists():
        return False
    ExportConfig.create(name="internal", batch=1, schema="internal")
    log.info("export_created", export="internal")
    return True


def run_all(rt: Runtime) -> None:
    """Web, worker and scheduler in this process, until Ctrl-C."""
    settings = rt.settings
    rt.metrics.prometheus = settings.metrics != "off"
    key = first_start(rt)
    say_plugin_checks(rt)
    worker = Worker(rt)
    consumer = EmbeddedConsumer(worker.huey, workers=settings.worker_threads, periodic=False,
                                worker_type="thread")
    scheduler = Scheduler(worker)
    server = _waitress(create_app(runtime=rt), None, settings.host, settings.port,
                       settings.web_threads)
    install_stop_handlers()
    stop_metrics = _metrics_server(rt, settings.metrics_port)
    consumer.start()
    scheduler.start()
    web = threading.Thread(target=server.run, name="ichnaea-web", daemon=True)
    web.start()
    url = f"http://{settings.host}:{settings.port}"
    print(f"ichnaea: running on {url}", flush=True)
    print(f"ichnaea: demo API key: {key}", flush=True)
    print(f"ichnaea: try  curl '{url}/v1/geolocate?key={key}' "
          "-H 'X-Forwarded-For: 81.2.69.160'", flush=True)
    print("ichnaea: press Ctrl-C to stop", flush=True)
    try:
        while web.is_alive():
            time.sleep(0.5)
    except (KeyboardInterrupt, Stop):
        print("ichnaea: stopping", flush=True)
    finally:
        scheduler.stop()
        server.close()
        stop_metrics()
        consumer.stop(graceful=True)
        rt.close()
        print("ichnaea: stopped", flush=True)
        sys.stdout.flush()


def run_worker(rt: Runtime, *, scheduler: bool, threads: int) -> None:
    rt.metrics.prometheus = rt.settings.worker_metrics_port > 0
    say_plugin_checks(rt)
    worker = Worker(rt)
    consumer = EmbeddedConsumer(worker.huey, workers=threads, periodic=False,
                                worker_type="thread")
    sched = Scheduler(worker) if scheduler else None
    install_stop_handlers()
    stop_metrics = _metrics_server(rt, rt.settings.worker_metrics_port)
    consumer.start()
    if sched is not None:
        sched.start()
    print(f"ichnaea: worker running with {threads} thread(s)"
          + (" and the scheduler" if sched else ""), flush=True)
    try:
        while True:
            time.sleep(0.5)
    except (KeyboardInterrupt, Stop):
        pass
    finally:
        if sched is not None:
            sched.stop()
        stop_metrics()
        consumer.stop(graceful=True)
        rt.close()
