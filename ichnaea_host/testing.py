"""pytest fixtures for the service's tests and for plugin authors.

Installed as a pytest plugin (entry point ``pytest11``), so a plugin package's
tests can use them without a conftest:

``backend``
    ``"sqlite"`` (a file database and an embedded Redis) or ``"mysql"``
    (MariaDB and Redis servers, from ``ICHNAEA_TEST_MYSQL_URI`` and
    ``ICHNAEA_TEST_REDIS_URI``). Tests that use a runtime run on both; a
    missing server skips, or fails with ``ICHNAEA_TEST_REQUIRE_SERVICES=1``.
    ``ICHNAEA_TEST_BACKENDS=sqlite`` limits the set.
``make_runtime``
    builds a :class:`~ichnaea_host.plugins.runtime.Runtime` on a migrated, empty
    database, with every installed plugin loaded strictly; keyword arguments
    override settings (``plugins_disabled=["geoip"]`` ...).
``runtime``, ``app``, ``client``
    the default runtime, its Flask app and a test client.
``api_key``
    a key created in the database (``"test"``), with the CLI's defaults.
``drain``
    runs the whole pipeline synchronously (``ichnaea process``).
``plugin_host``
    the runtime's loaded plugins (:class:`~ichnaea_host.plugins.manager.PluginHost`).
``immediate_worker``
    the host's Huey tasks running synchronously in the test (``huey.immediate``).
``local_http_server``
    starts a real HTTP server on 127.0.0.1 whose answers a test controls.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306/ichnaea_test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"


def _require_services() -> bool:
    return os.environ.get("ICHNAEA_TEST_REQUIRE_SERVICES", "") in ("1", "true", "yes")


def _backends() -> list[str]:
    wanted = os.environ.get("ICHNAEA_TEST_BACKENDS", "sqlite,mysql")
    return [b.strip() for b in wanted.split(",") if b.strip()]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class _Servers:
    """Session-wide servers: one embedded Redis and the configured real ones."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.embedded: Any = None
        self.migrated: set[str] = set()

    def embedded_url(self) -> str:
        if self.embedded is None:
            from ichnaea_host.core.queues import EmbeddedRedis

            self.embedded = EmbeddedRedis(self.tmp / "redis")
        return self.embedded.url()

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.shutdown(force=True)  # the test session's own server


@pytest.fixture(autouse=True)
def _ichnaea_logging() -> Iterator[None]:
    """Each test starts with the logging configuration it found: a command run
    in-process (``LOGGING_LEVEL=WARNING``) must not hide the next test's lines."""
    import structlog

    from ichnaea_host.core import log

    config, level, configured = structlog.get_config(), log._level, log._configured
    yield
    structlog.configure(**config)
    log._level, log._configured = level, configured


@pytest.fixture(scope="session")
def _ichnaea_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Servers]:
    servers = _Servers(tmp_path_factory.mktemp("ichnaea-servers"))
    yield servers
    servers.close()


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def backend_uris(backend: str, _ichnaea_servers: _Servers,
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(database URI, Redis URI) of the backend under test."""
    if backend == "sqlite":
        db = _ichnaea_servers.tmp / "ichnaea.sqlite"
        return f"sqlite:///{db}", _ichnaea_servers.embedded_url()
    mysql = os.environ.get("ICHNAEA_TEST_MYSQL_URI", DEFAULT_MYSQL)
    redis_uri = os.environ.get("ICHNAEA_TEST_REDIS_URI", DEFAULT_REDIS)
    from urllib.parse import urlparse

    for uri, default_port in ((mysql, 3306), (redis_uri, 6379)):
        if "+cluster://" in uri:  # a Redis Cluster: its first node
            uri = uri.split(",", 1)[0].replace("+cluster", "")
        parts = urlparse(uri)
        if not _reachable(parts.hostname or "127.0.0.1", parts.port or default_port):
            message = f"{parts.scheme} server at {parts.hostname}:{parts.port} is not reachable"
            if _require_services():
                pytest.fail(message)
            pytest.skip(message)
    return mysql, redis_uri


def _empty_tables(rt: Any) -> None:
    db = rt.db.rw
    with db.atomic():
        for table in db.get_tables():
            if not table.startswith("migratehistory"):
                quoted = f"`{table}`" if rt.db.is_mysql else f'"{table}"'
                db.execute_sql(f"DELETE FROM {quoted}")


@pytest.fixture
def make_runtime(backend_uris: tuple[str, str], _ichnaea_servers: _Servers,
                 tmp_path: Path) -> Iterator[Callable[..., Any]]:
    from ichnaea_host.core import migrate
    from ichnaea_host.core.queues import flush_redis
    from ichnaea_host.core.settings import Settings
    from ichnaea_host.plugins.manager import build_plugin_host
    from ichnaea_host.plugins.runtime import Runtime

    db_uri, redis_uri = backend_uris
    made: list[Any] = []
    state = {"flushed": False}

    def factory(*, entry_points: bool = True, extra: tuple[Any, ...] = (),
                **overrides: Any) -> Any:
        values = {"db_readwrite_uri": db_uri, "redis_uri": redis_uri,
                  "var_dir": str(tmp_path / "var"), "strict_plugins": True, **overrides}
        settings = Settings.from_env({}, **values)
        plugins = build_plugin_host(settings, entry_points=entry_points, extra=extra)
        rt = Runtime(settings, plugins)
        key = f"{db_uri}|{sorted(d.namespace for d in plugins.migration_dirs)}"
        if key not in _ichnaea_servers.migrated:
            migrate.upgrade(rt.db.rw, plugins.migration_dirs)
            _ichnaea_servers.migrated.add(key)
        if not state["flushed"]:
            _empty_tables(rt)
            flush_redis(rt.redis)
            state["flushed"] = True  # later runtimes of the same test share the state
        made.append(rt)
        return rt

    yield factory
    for rt in made:
        rt.close()


@pytest.fixture
def runtime(make_runtime: Callable[..., Any]) -> Any:
    return make_runtime()


@pytest.fixture
def app(runtime: Any) -> Any:
    from ichnaea_host.app import create_app

    application = create_app(runtime=runtime)
    application.testing = True
    return application


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def api_key(runtime: Any) -> str:
    from ichnaea_host.core.models import ApiKeyRow

    ApiKeyRow.create(valid_key="test", maxreq=0, allow_fallback=False, allow_locate=True,
                  allow_region=True, store_sample_locate=100, store_sample_submit=100)
    return "test"


@pytest.fixture
def api_key_factory() -> Callable[..., str]:
    """Creates API keys in the current runtime's database: ``factory(name, **columns)``."""
    from ichnaea_host.core.models import ApiKeyRow

    def factory(name: str = "test", **columns: Any) -> str:
        values = {"maxreq": 0, "allow_fallback": False, "allow_locate": True,
                  "allow_region": True, "store_sample_locate": 100, "store_sample_submit": 100}
        values.update(columns)
        ApiKeyRow.insert(valid_key=name, **values).on_conflict_replace().execute()
        return name

    return factory


@pytest.fixture
def internal_export(runtime: Any) -> str:
    from ichnaea_host.core.models import ExportConfig

    ExportConfig.create(name="internal", batch=0, schema="internal")
    return "internal"


@pytest.fixture
def drain(runtime: Any) -> Callable[[], dict[str, int]]:
    from ichnaea_host.pipeline.tasks import drain as run_drain

    return lambda: run_drain(runtime)


@pytest.fixture
def plugin_host(runtime: Any) -> Any:
    return runtime.plugins


@pytest.fixture
def immediate_worker(runtime: Any) -> Any:
    """The host's tasks (``update_incoming``, ``export_reports``, ``update_stations``,
    ``periodic``) bound to the runtime; calling one runs it at once."""
    from ichnaea_host.pipeline.worker import Worker

    worker = Worker(runtime)
    worker.huey.immediate = True
    return worker


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LocalHTTPServer:
    """A real HTTP server on 127.0.0.1. Set ``respond`` to a function of the
    recorded request returning (status, headers, body); requests are kept in
    ``requests``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.respond: Callable[[Recorded], tuple[int, dict[str, str], bytes | str | Any]] = (
            lambda req: (200, {"Content-Type": "application/json"}, b"{}"))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                rec = Recorded(self.command, self.path, dict(self.headers.items()),
                               self.rfile.read(length) if length else b"")
                outer.requests.append(rec)
                status, headers, body = outer.respond(rec)
                if not isinstance(body, (bytes, str)):
                    body = json.dumps(body)
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_http_server() -> Iterator[LocalHTTPServer]:
    server = LocalHTTPServer()
    yield server
    server.close()


def radio_part(radio: type, family: str, context: Any = None, settings: Any = None) -> Any:
    """One of the objects the host derives from a radio class, built by hand
    for a test: ``radio_part(WifiRadio, "station_updaters")``; the families
    are ``report_fragments``, ``station_updaters``, ``position_sources`` and
    ``region_sources``. Without a context, only what needs no storage works."""
    from ichnaea_host.stations.adapters import derive

    return derive(radio)[family](context, settings)
