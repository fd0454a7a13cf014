"""The Flask app factory."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from . import monitor
from .api import schemas
from .api.errors import APIError, ServiceUnavailable
from .api.keys import KeyCache, client_ip
from .api.views import bp as api_bp
from .log import get_logger, redact_key
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


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the web app; ``runtime`` (settings, plugins, database, Redis) is
    created from the environment when not given."""
    rt = runtime or Runtime(settings)
    app = Flask(__name__)
    app.config["SECRET_KEY"] = rt.settings.secret_key or None
    app.extensions["ichnaea"] = rt
    app.extensions["ichnaea.keys"] = KeyCache()
    frags = [cls() for cls in rt.plugins.report_fragments()]
    app.extensions["ichnaea.fragments"] = frags
    app.extensions["ichnaea.schema.locate"] = schemas.locate_schema(frags)
    app.extensions["ichnaea.schema.region"] = app.extensions["ichnaea.schema.locate"]
    app.extensions["ichnaea.schema.submit"] = schemas.submit_schema(frags)
    app.url_map.strict_slashes = False
    app.register_blueprint(api_bp)
    app.register_blueprint(monitor.bp)

    @app.before_request
    def start_request() -> None:
        g.start = time.perf_counter()
        g.client_ip = client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if response.mimetype == "text/html":
            response.headers.update(HTML_HEADERS)
        _log_request(response.status_code)
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
            return Response("<h1>404 Not Found</h1>", status=404, mimetype="text/html")
        return exc

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("request_failed", path=request.path, error=type(exc).__name__)
        if request.path.startswith(API_PREFIXES):
            return ServiceUnavailable().response()
        return Response("<h1>500 Internal Server Error</h1>", status=500,
                        mimetype="text/html")

    return app


def _log_request(status: int) -> None:
    if request.path.startswith("/static/"):
        return
    fields: dict[str, Any] = {
        "http_method": request.method,
        "http_path": request.path,
        "http_status": status,
        "duration_ms": round((time.perf_counter() - g.get("start", time.perf_counter()))
                             * 1000, 2),
    }
    if request.path.startswith(API_PREFIXES):
        fields.update({
            "api_key": redact_key(g.get("api_key")),
            "api_key_status": g.get("api_key_status"),
            "api_type": g.get("api_type"),
            "has_ip": bool(g.get("client_ip")),
            "result_status": g.get("result_status"),
            "result_source": g.get("result_source"),
            "source_status": g.get("source_status"),
            "networks": g.get("query_networks"),
            "reports": g.get("reports"),
        })
        fields = {k: v for k, v in fields.items() if v is not None}
    log.info("request", **fields)
