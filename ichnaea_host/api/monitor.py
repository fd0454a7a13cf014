"""Monitoring endpoints: /__lbheartbeat__, /__heartbeat__, /__version__, /contribute.json."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import peewee
from flask import Blueprint, Response, current_app, jsonify

from ichnaea_host import __version__
from ichnaea_host.core import migrate
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.queues import REDIS_ERRORS, ping_nodes
from ichnaea_host.plugins.runtime import Runtime

bp = Blueprint("monitor", __name__)
log = get_logger("ichnaea.monitor")

METHODS = ["GET", "HEAD", "POST"]


#: what a check answers when its backend cannot be reached, as the original
DOWN: dict[str, Any] = {"up": False, "time": 0}
#: what a check answers when it failed in an unexpected way, as the original
BROKEN: dict[str, Any] = {"up": None, "time": -1}


class BackendDown(Exception):
    """Raised by a check whose backend cannot be reached."""


def _timed(check: Callable[[], dict[str, Any]], down: dict[str, Any] = DOWN) -> dict[str, Any]:
    """Run one check: its answer with the time it took in whole ms, ``down``
    when it raised :class:`BackendDown`, :data:`BROKEN` for any other error."""
    start = time.perf_counter()
    try:
        result = check()
    except BackendDown as exc:
        log.warning("heartbeat_backend_down", error=str(exc))
        return dict(down)
    except Exception as exc:  # noqa: BLE001 - a failing check must not fail the heartbeat
        log.warning("heartbeat_check_failed", error=f"{type(exc).__name__}: {exc}")
        return dict(BROKEN)
    result.setdefault("time", int((time.perf_counter() - start) * 1000))
    return result


def heartbeat_status(rt: Runtime) -> dict[str, dict[str, Any]]:
    def database() -> dict[str, Any]:
        start = time.perf_counter()
        try:
            rt.db.ping()
        except (peewee.PeeweeException, OSError) as exc:
            raise BackendDown(f"{type(exc).__name__}: {exc}") from exc
        took = int((time.perf_counter() - start) * 1000)
        version = migrate.version(rt.db.ro, rt.plugins.migration_dirs)
        return {"up": True, "time": took, "alembic_version": version}

    def redis_check() -> dict[str, Any]:
        # on a cluster every node is pinged; up only when each answers
        try:
            answers = ping_nodes(rt.redis)
        except REDIS_ERRORS as exc:
            raise BackendDown(f"{type(exc).__name__}: {exc}") from exc
        down = sorted(name for name, up in answers.items() if not up)
        if down:
            raise BackendDown(f"no answer from {len(down)} of {len(answers)} nodes: "
                              + ", ".join(down))
        return {"up": True}

    status = {
        "database": _timed(database, {**DOWN, "alembic_version": "unknown"}),
        "redis": _timed(redis_check),
    }
    for cls in rt.plugins.heartbeat_checks():
        status[cls.PLUGIN_NAME] = _timed(rt.source(cls).check)
    return status


@bp.route("/__heartbeat__", methods=METHODS, provide_automatic_options=False,
          strict_slashes=True)
def heartbeat() -> Response:
    status = heartbeat_status(current_app.extensions["ichnaea"])
    response = jsonify(status)
    response.status_code = 200 if all(v.get("up") for v in status.values()) else 503
    return response


@bp.route("/__lbheartbeat__", methods=METHODS, provide_automatic_options=False,
          strict_slashes=True)
def lbheartbeat() -> Response:
    return jsonify({"status": "OK"})


@bp.route("/__version__", methods=METHODS, provide_automatic_options=False,
          strict_slashes=True)
def version() -> Response:
    rt: Runtime = current_app.extensions["ichnaea"]
    plugins = [
        {"name": p.name, "distribution": p.distribution, "version": p.version,
         "enabled": p.enabled}
        for p in rt.plugins.plugin_list()
    ]
    return jsonify({
        "source": "https://github.com/ichnaea-community/ichnaea",
        "version": __version__,
        "commit": current_app.config.get("ICHNAEA_COMMIT", "unknown"),
        "build": current_app.config.get("ICHNAEA_BUILD", "unknown"),
        "plugins": plugins,
    })


@bp.route("/contribute.json", methods=METHODS, provide_automatic_options=False,
          strict_slashes=True)
def contribute() -> Response:
    return jsonify({
        "name": "Ichnaea",
        "description": "A self-hostable geolocation service, compatible with the Mozilla "
                       "Location Service API.",
        "repository": {"license": "Apache 2.0", "type": "git"},
        "participate": {"docs": "README.md"},
        "keywords": ["geolocation", "python", "flask", "redis", "mysql"],
    })
