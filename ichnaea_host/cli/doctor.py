"""``ichnaea doctor``: checks a deployment in one go.

Each check gives one :class:`~ichnaea_host.core.checks.CheckResult`: ``ok``,
``warning`` (it works, but worth knowing) or ``FAIL`` with the fix. The host
checks its settings, database, exports, Redis, scheduler, workers and queue
backlogs; plugins add their own with the ``ichnaea_doctor_checks`` hook.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from ichnaea_host.cli.backends import BACKEND_ERRORS, database_name, describe, probe_database
from ichnaea_host.core import migrate
from ichnaea_host.core.checks import FAIL, OK, WARNING, CheckResult
from ichnaea_host.core.settings import Settings
from ichnaea_host.pipeline import worker as pipeline_worker
from ichnaea_host.pipeline.tasks import export_configs, export_partitions, parked
from ichnaea_host.plugins.manager import PluginHost
from ichnaea_host.plugins.runtime import INCOMING_BATCH, INCOMING_QUEUE, Runtime

#: incoming reports waiting beyond this many are a backlog worth a warning
BACKLOG_WARNING = 10 * INCOMING_BATCH
ADD_INTERNAL = "ichnaea export add internal --schema internal"


def run_checks(settings: Settings, plugins: PluginHost | None = None) -> list[CheckResult]:
    """Every check of the deployment configured by ``settings``."""
    results = [check_secret_key(settings)]
    try:
        probe_database(settings)
    except BACKEND_ERRORS as exc:
        results.append(CheckResult("database", FAIL, describe(exc, settings) or str(exc),
                                   fix="start the database server, or correct DB_READWRITE_URI"))
        # the other checks run without it (a runtime on a real database would
        # log its own warning about it)
        settings = dataclasses.replace(settings, db_readwrite_uri="sqlite:///:memory:",
                                       db_readonly_uri="")
    rt = Runtime(settings, plugins)
    migrated = False
    try:
        if results[-1].name != "database":
            results.append(_guarded("database", lambda: check_database(rt), rt))
            migrated = results[-1].status == OK
            if migrated:
                results.append(_guarded("exports", lambda: check_exports(rt), rt))
            else:
                results.append(CheckResult("exports", WARNING,
                                           "not checked: the database is not ready"))
        try:
            rt.redis.ping()
        except BACKEND_ERRORS as exc:
            results.append(CheckResult("redis", FAIL, describe(exc, rt.settings) or str(exc),
                                       fix="start Redis, or correct REDIS_URI"))
            results.append(CheckResult("scheduler", WARNING, "not checked: Redis unreachable"))
        else:
            results.append(_guarded("redis", lambda: check_redis(rt), rt))
            results.append(_guarded("scheduler", lambda: check_scheduler(rt), rt))
            if hasattr(pipeline_worker, "live_workers"):
                results.append(_guarded("workers", lambda: check_workers(rt), rt))
            results.append(_guarded("queues", lambda: check_queues(rt, migrated), rt))
        results.extend(plugin_checks(rt))
    finally:
        rt.close()
    return results


def _guarded(name: str, check: Callable[[], CheckResult], rt: Runtime) -> CheckResult:
    """A check's result, or a FAIL naming the backend that broke it."""
    try:
        return check()
    except BACKEND_ERRORS as exc:
        return CheckResult(name, FAIL, describe(exc, rt.settings) or str(exc),
                           fix="see the message")


def check_secret_key(settings: Settings) -> CheckResult:
    if settings.secret_key:
        return CheckResult("secret_key", OK, "SECRET_KEY is set")
    return CheckResult("secret_key", WARNING,
                       "SECRET_KEY is not set: client address hashes in Redis can be recomputed",
                       fix="set SECRET_KEY to a long random value, the same in every process")


def check_database(rt: Runtime) -> CheckResult:
    """Reachable (already probed) and every namespace at its latest migration."""
    where = database_name(rt.settings.readwrite_uri)
    pending = migrate.pending(rt.db.rw, rt.plugins.migration_dirs)
    if pending:
        return CheckResult("database", FAIL,
                           f"{where} needs {len(pending)} migration(s) ({', '.join(pending[:3])}"
                           f"{' ...' if len(pending) > 3 else ''})",
                           fix="ichnaea db upgrade")
    version = migrate.version(rt.db.rw, rt.plugins.migration_dirs)
    return CheckResult("database", OK, f"{where} is reachable and migrated ({version})")


def check_exports(rt: Runtime) -> CheckResult:
    configs = export_configs(rt)
    if not configs:
        return CheckResult("exports", FAIL,
                           "no export: nothing is learned, reports wait in Redis",
                           fix=ADD_INTERNAL)
    known = rt.plugins.exporters()
    unknown = [c.name for c in configs if c.schema not in known]
    if unknown:
        return CheckResult("exports", FAIL,
                           f"no installed plugin sends the export(s) {', '.join(unknown)}",
                           fix="install the exporter's plugin, or replace the export")
    names = ", ".join(f"{c.name} ({c.schema})" for c in configs)
    if not any(c.schema == "internal" for c in configs):
        return CheckResult("exports", WARNING,
                           f"{names}: no internal export, nothing is learned here "
                           "(fine for a relay)", fix=ADD_INTERNAL)
    return CheckResult("exports", OK, names)


def check_redis(rt: Runtime) -> CheckResult:
    """Reachable, and persistent: queued reports live only in Redis."""
    client = rt.redis
    if not rt.settings.redis_url:
        return CheckResult("redis", OK,
                           f"the embedded Redis under {rt.settings.var_dir} (fine for a demo; "
                           "give production a Redis server with AOF on, in REDIS_URI)")
    from ichnaea_host.cli.backends import redis_name

    where = redis_name(rt.settings)
    persistence = _persistence(client)
    if persistence is None:
        return CheckResult("redis", WARNING,
                           f"{where} is reachable; whether it persists is unknown "
                           "(CONFIG is not allowed)",
                           fix="make sure AOF (appendonly yes) or RDB snapshots are on")
    if not persistence:
        return CheckResult("redis", FAIL,
                           f"{where} keeps nothing on disk: queued reports are lost when it "
                           "restarts",
                           fix="set 'appendonly yes', or RDB snapshots ('save 60 1000')")
    return CheckResult("redis", OK, f"{where} is reachable and persistent ({persistence})")


def _persistence(client: Any) -> str | None:
    """``"AOF"``, ``"RDB"``, ``""`` (neither) or None (cannot tell)."""
    import redis

    try:
        config = {**client.config_get("appendonly"), **client.config_get("save")}
    except redis.ResponseError:  # CONFIG renamed or refused (managed services)
        info = client.info("persistence")
        return "AOF" if str(info.get("aof_enabled")) == "1" else None
    if str(config.get("appendonly", "")).lower() == "yes":
        return "AOF"
    if "save" not in config:
        return None
    return "RDB" if str(config["save"]).strip() else ""


def check_scheduler(rt: Runtime) -> CheckResult:
    seen = pipeline_worker.scheduler_last_seen(rt)
    if seen is None:
        return CheckResult("scheduler", FAIL,
                           f"no scheduler ticked in the last "
                           f"{pipeline_worker.SCHEDULER_MARK_SECONDS} s: queues are not worked",
                           fix="run 'ichnaea worker --scheduler' on exactly one host")
    return CheckResult("scheduler", OK, f"last tick {max(time.time() - seen, 0):.0f} s ago")


def check_workers(rt: Runtime) -> CheckResult:
    """Live workers (when the worker module can tell)."""
    found = getattr(pipeline_worker, "live_workers")(rt)  # noqa: B009 - not in every version
    count = found if isinstance(found, int) else len(found)
    if not count:
        return CheckResult("workers", FAIL, "no worker is alive: queued reports wait",
                           fix="run 'ichnaea worker' (one with --scheduler)")
    return CheckResult("workers", OK, f"{count} worker(s) alive")


def check_queues(rt: Runtime, migrated: bool) -> CheckResult:
    incoming = rt.queue(INCOMING_QUEUE).size()
    parts = [f"incoming {incoming}"]
    status, fix = OK, ""
    if incoming > BACKLOG_WARNING:
        status, fix = WARNING, "add workers ('ichnaea worker'), or check their logs"
    if migrated:
        for config in export_configs(rt):
            size = sum(rt.queue(p).size() for p in export_partitions(rt, config))
            parts.append(f"export {config.name} {size}")
        parked_reports = sum(count for _, count in parked(rt))
        if parked_reports:
            parts.append(f"parked {parked_reports}")
            status = WARNING
            fix = "ichnaea export failed, then ichnaea export replay NAME"
    return CheckResult("queues", status, ", ".join(parts), fix=fix)


def plugin_checks(rt: Runtime) -> list[CheckResult]:
    """The plugins' own checks, one plugin at a time: one that raises fails alone."""
    pm = rt.plugins.pm
    results: list[CheckResult] = []
    for impl in pm.hook.ichnaea_doctor_checks.get_hookimpls():
        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        call = pm.subset_hook_caller("ichnaea_doctor_checks", remove_plugins=others)
        try:
            settings = rt.plugins.settings_for(impl.plugin_name)
            answers = [r for found in call(context=rt, settings=settings) for r in found]
        except Exception as exc:  # noqa: BLE001 - reported as the plugin's failure
            results.append(CheckResult(impl.plugin_name, FAIL,
                                       f"the check failed: {type(exc).__name__}: {exc}"))
            continue
        for answer in answers:
            if isinstance(answer, CheckResult):
                results.append(answer)
            else:
                results.append(CheckResult(impl.plugin_name, FAIL,
                                           f"the check returned {answer!r}, not a CheckResult"))
    return results
