"""The Flask app factory."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, Response, g, request
from playhouse.pool import PooledMySQLDatabase
from werkzeug.exceptions import HTTPException

from ichnaea_host import site
from ichnaea_host.api import metrics_view, monitor, schemas
from ichnaea_host.api.errors import APIError, ServiceUnavailable
from ichnaea_host.api.keys import KeyCache, UsageCounts, client_ip
from ichnaea_host.api.observe import metric_path
from ichnaea_host.api.views import bp as api_bp
from ichnaea_host.core.log import enabled_for, get_logger
from ichnaea_host.core.settings import Settings
from ichnaea_host.plugins.runtime import Runtime

log = get_logger("ichnaea.request")

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
}
HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
}
API_PREFIXES = ("/v1/", "/v2/")
#: where an unknown path answers the original's plain 404 page, not the site's
PLAIN_404_PREFIXES = (*API_PREFIXES, "/__")
#: a request thread idle for longer hands its database connection back to the
#: pool (which checks it before reuse) instead of trusting it blindly
KEEP_IDLE_SECONDS = 10.0
#: paths that get neither a log line nor request metrics
#: files, and the coverage vector tiles (a map asks dozens at a time): no
#: request line, no per-path metric
STATIC_PATHS = ("/static/", "/robots.txt", "/favicon.ico", "/apple-touch-icon-precomposed.png",
                "/tiles/coverage/")


class App(Flask):
    """Flask, remembering which view and hook functions are coroutines
    (Flask asks ``inspect`` four times per request). Functions made per
    request (``after_this_request``) are not remembered past a few hundred."""

    def ensure_sync(self, func: Any) -> Any:
        known: dict[Any, Any] = self.__dict__.setdefault("_sync_functions", {})
        sync = known.get(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if len(known) < 500:
                known[func] = sync
        return sync


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the web app; ``runtime`` (settings, plugins, database, Redis) is
    created from the environment when not given."""
    rt = runtime or Runtime(settings)
    app = App(__name__, static_folder=None)  # the site serves /static
    app.config["SECRET_KEY"] = rt.settings.secret_key or None
    app.extensions["ichnaea"] = rt
    app.extensions["ichnaea.keys"] = KeyCache()
    app.extensions["ichnaea.usage"] = UsageCounts(rt)
    frags = rt.fragments()
    app.extensions["ichnaea.fragments"] = frags
    app.extensions["ichnaea.schema.locate"] = schemas.locate_schema(frags)
    for version in ("v2", "v1", "v0"):
        app.extensions[f"ichnaea.schema.submit.{version}"] = schemas.submit_schema(frags, version)
    app.url_map.strict_slashes = False  # the site's pages; API and monitor routes are strict
    app.register_blueprint(api_bp)
    app.register_blueprint(monitor.bp)
    app.register_blueprint(site.bp)
    if rt.settings.metrics == "on":  # else /metrics is the site's 404
        app.register_blueprint(metrics_view.bp)

    @app.before_request
    def start_request() -> None:
        g.start = time.perf_counter()
        released = getattr(kept, "released", None)
        if released is not None and time.monotonic() - released > KEEP_IDLE_SECONDS:
            for db in databases:  # back to the pool, which pings it before reuse
                if not db.is_closed():
                    db.close()
        g.client_ip = client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if response.mimetype == "text/html":
            for name, value in HTML_HEADERS.items():  # the site sets its own CSP
                response.headers.setdefault(name, value)
        _observe_request(rt, response.status_code)
        return response

    databases = list({id(rt.db.rw): rt.db.rw, id(rt.db.ro): rt.db.ro}.values())
    kept = threading.local()

    @app.teardown_request
    def release_connections(exc: BaseException | None) -> None:
        for db in databases:
            if not db.is_closed() and not (exc is None and _can_keep(db)):
                db.close()
        kept.released = time.monotonic()

    @app.errorhandler(APIError)
    def api_error(exc: APIError) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code == 404:
            if not request.path.startswith(PLAIN_404_PREFIXES):
                return site.not_found()
            return Response("<h1>404 Not Found</h1>", status=404, mimetype="text/html")
        return exc

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("request_failed", http_path=request.path, error=type(exc).__name__)
        if request.path.startswith(API_PREFIXES):
            return ServiceUnavailable().response()
        return Response("<h1>500 Internal Server Error</h1>", status=500,
                        mimetype="text/html")

    return app


def _can_keep(db: Any) -> bool:
    """Whether this thread may keep its database connection for its next request.

    A pooled MySQL connection is kept while it is healthy and outside a
    transaction: giving it back to the pool after every request costs a
    ``ROLLBACK`` at check-in and a ``PING`` at check-out, two round trips
    that used to double a locate's time in the database. SQLite connections
    are closed as before.
    """
    if not isinstance(db, PooledMySQLDatabase) or db.in_transaction():
        return False
    return bool(db.connection().open)  # False once the driver saw the connection fail


def _observe_request(rt: Runtime, status: int) -> None:
    """The request's canonical log line and its ``request`` metrics.

    Static files get neither; requests the router refused (unknown path,
    method not allowed) get no metrics. The line never holds a client
    address or a full API key (see :mod:`ichnaea_host.api.observe`). Neither
    is built when it would not be written (a level above INFO, no statsd).
    """
    req = request._get_current_object()  # type: ignore[attr-defined]
    path = req.path
    if path.startswith(STATIC_PATHS):
        return
    writes_line = enabled_for(logging.INFO)
    if not writes_line and not rt.metrics.enabled:
        return
    context = g._get_current_object()  # type: ignore[attr-defined]
    duration = time.perf_counter() - context.get("start", time.perf_counter())
    if writes_line:
        fields: dict[str, Any] = {
            "http_method": req.method,
            "http_path": path,
            "http_status": status,
            "duration_s": round(duration, 3),
        }
        fields.update(context.get("log_fields") or {})
        log.info("request", **fields)
    if req.routing_exception is not None or not rt.metrics.enabled:
        return
    name, method = metric_path(path), req.method.lower()
    # Prometheus labels the route (bounded), not the path, and the key's class
    rule = req.url_rule.rule if req.url_rule is not None else ""
    key_tags = context.get("key_tags")
    key = key_tags[0].split(":", 1)[1] if key_tags else ""
    rt.metrics.incr("request", tags=[f"path:{name}", f"method:{method}", f"status:{status}"],
                    labels={"path": rule, "key": key})
    rt.metrics.timing("request.timing", duration * 1000, tags=[f"path:{name}", f"method:{method}"],
                      labels={"path": rule})
