"""The Flask app factory."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from . import monitor, site
from .api import schemas
from .api.errors import APIError, ServiceUnavailable
from .api.keys import KeyCache, client_ip
from .api.observe import metric_path, noted
from .api.views import bp as api_bp
from .log import get_logger
from .runtime import Runtime
from .settings import Settings

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
#: paths that get neither a log line nor request metrics
STATIC_PATHS = ("/static/", "/robots.txt", "/favicon.ico", "/apple-touch-icon-precomposed.png")


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the web app; ``runtime`` (settings, plugins, database, Redis) is
    created from the environment when not given."""
    rt = runtime or Runtime(settings)
    app = Flask(__name__, static_folder=None)  # the site serves /static
    app.config["SECRET_KEY"] = rt.settings.secret_key or None
    app.extensions["ichnaea"] = rt
    app.extensions["ichnaea.keys"] = KeyCache()
    frags = [cls() for cls in rt.plugins.report_fragments()]
    app.extensions["ichnaea.fragments"] = frags
    app.extensions["ichnaea.schema.locate"] = schemas.locate_schema(frags)
    for version in ("v2", "v1", "v0"):
        app.extensions[f"ichnaea.schema.submit.{version}"] = schemas.submit_schema(frags, version)
    app.url_map.strict_slashes = False
    app.register_blueprint(api_bp)
    app.register_blueprint(monitor.bp)
    app.register_blueprint(site.bp)

    @app.before_request
    def start_request() -> None:
        g.start = time.perf_counter()
        g.client_ip = client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if response.mimetype == "text/html":
            for name, value in HTML_HEADERS.items():  # the site sets its own CSP
                response.headers.setdefault(name, value)
        _observe_request(rt, response.status_code)
        return response

    @app.teardown_request
    def close_connections(exc: BaseException | None) -> None:
        for db in {id(rt.db.rw): rt.db.rw, id(rt.db.ro): rt.db.ro}.values():
            if not db.is_closed():
                db.close()

    @app.errorhandler(APIError)
    def api_error(exc: APIError) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code == 404:
            if not request.path.startswith(API_PREFIXES):
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


def _observe_request(rt: Runtime, status: int) -> None:
    """The request's canonical log line and its ``request`` metrics.

    Static files get neither; requests the router refused (unknown path,
    method not allowed) get no metrics. The line never holds a client
    address or a full API key (see :mod:`ichnaea_host.api.observe`).
    """
    if request.path.startswith(STATIC_PATHS):
        return
    duration = time.perf_counter() - g.get("start", time.perf_counter())
    fields: dict[str, Any] = {
        "http_method": request.method,
        "http_path": request.path,
        "http_status": status,
        "duration_s": round(duration, 3),
    }
    fields.update(noted())
    log.info("request", **fields)
    if request.routing_exception is not None:
        return
    path, method = metric_path(request.path), request.method.lower()
    rt.metrics.incr("request", tags=[f"path:{path}", f"method:{method}", f"status:{status}"])
    rt.metrics.timing("request.timing", duration * 1000, tags=[f"path:{path}", f"method:{method}"])
