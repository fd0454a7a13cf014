"""The ``ichnaea`` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from ichnaea_host.core.log import configure_logging
from ichnaea_host.core.settings import ConfigError, Settings

BOOL = click.Choice(["true", "false"])


class Context:
    """Settings and runtime, built lazily so that ``--help`` costs nothing."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._runtime: Any = None
        #: the plugin host built to find a plugin's command, reused by its runtime
        self.plugins: Any = None
        #: why the plugins' commands could not be added, if they could not
        self.plugin_commands_error: str | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env()
            configure_logging(self._settings.logging_level)
        return self._settings

    def runtime(self, *, probe: bool = True, **overrides: Any) -> Any:
        """The command's runtime; with ``probe``, a database that cannot be
        reached or refuses the login stops the command (see
        :func:`~ichnaea_host.cli.backends.probe_database`)."""
        from ichnaea_host.plugins.runtime import Runtime

        if self._runtime is None:
            settings = self.settings
            if probe:
                from ichnaea_host.cli.backends import probe_database

                probe_database(settings)
            if overrides:
                import dataclasses

                settings = dataclasses.replace(settings, **overrides)
            self._runtime = Runtime(settings, None if overrides else self.plugins)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def current_runtime() -> Any:
    """The runtime of the ``ichnaea`` command running now (what a plugin's
    command gets from its :class:`~ichnaea_host.CommandContext`)."""
    return click.get_current_context().find_root().ensure_object(Context).runtime()


def fail(message: str, code: int = 2) -> None:
    click.echo(f"ichnaea: {message}", err=True)
    sys.exit(code)


class IchnaeaGroup(click.Group):
    """Adds the plugins' commands on first lookup; turns configuration errors
    and backends that cannot be used (unreachable, refusing, unmigrated) into
    one clear line."""

    _plugins_loaded = False

    def _load_plugin_commands(self, ctx: click.Context) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        obj = ctx.ensure_object(Context)
        try:
            from ichnaea_host.api.submissions import submit_reports
            from ichnaea_host.plugins.manager import build_plugin_host

            obj.plugins = build_plugin_host(obj.settings)
            obj.plugins.register_commands(self, current_runtime, submit_reports)
        except Exception as exc:  # noqa: BLE001 - the host's own commands still work
            obj.plugin_commands_error = f"{type(exc).__name__}: {exc}"
            click.echo(f"ichnaea: the plugins' commands are not available: "
                       f"{obj.plugin_commands_error}", err=True)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None:
            self._load_plugin_commands(ctx)
            command = super().get_command(ctx, name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands(ctx)
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        from ichnaea_host.plugins.manager import PluginLoadError

        ctx.ensure_object(Context)  # also when the group is invoked again in one process
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            fail(f"configuration error: {exc}")
        except PluginLoadError as exc:
            fail(str(exc))
        except Exception as exc:
            from ichnaea_host.cli.backends import describe

            message = describe(exc, ctx.ensure_object(Context).settings)
            if message is None:
                raise
            fail(message, code=1)
        finally:
            obj = ctx.find_object(Context)
            if obj is not None:
                obj.close()


@click.group(cls=IchnaeaGroup)
@click.version_option(package_name="ichnaea", prog_name="ichnaea")  # importlib.metadata
def cli() -> None:
    """Ichnaea, a self-hostable geolocation service.

    Configuration comes from environment variables (see README); with none
    set, everything runs on embedded defaults under ./var.
    """


# ---------------------------------------------------------------------------
# processes


@cli.command()
@click.option("--host", default=None, help="listen address (default ICHNAEA_HOST)")
@click.option("--port", type=int, default=None, help="port (default ICHNAEA_PORT, 8000)")
@pass_ctx
def run(obj: Context, host: str | None, port: int | None) -> None:
    """Run everything in one process: web, worker and scheduler."""
    from ichnaea_host.cli.serve import run_all

    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port))
                                 if v is not None}
    run_all(obj.runtime(**overrides))


@cli.command()
@click.option("--host", default=None, help="listen address (default ICHNAEA_HOST)")
@click.option("--port", type=int, default=None, help="port (default ICHNAEA_PORT, 8000)")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="web processes sharing the port")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="threads per process (default ICHNAEA_WEB_THREADS)")
@pass_ctx
def serve(obj: Context, host: str | None, port: int | None, workers: int,
          threads: int | None) -> None:
    """Run the web service only (waitress)."""
    from ichnaea_host.cli.serve import serve as serve_web
    from ichnaea_host.plugins.runtime import Runtime

    settings = obj.settings
    serve_web(lambda: Runtime(settings), host or settings.host, port or settings.port,
              workers, threads or settings.web_threads)


@cli.command()
@click.option("--scheduler", is_flag=True, help="also run the scheduler (exactly one worker)")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="task threads (default ICHNAEA_WORKER_THREADS)")
@pass_ctx
def worker(obj: Context, scheduler: bool, threads: int | None) -> None:
    """Run a Huey consumer for the data pipeline."""
    from ichnaea_host.cli.serve import run_worker

    # a worker starts without its database and waits for it, as the web tier does
    run_worker(obj.runtime(probe=False), scheduler=scheduler,
               threads=threads or obj.settings.worker_threads)


@cli.command()
@pass_ctx
def process(obj: Context) -> None:
    """Drain every queue now, synchronously, and exit."""
    from ichnaea_host.core.queues import Liveness
    from ichnaea_host.pipeline.tasks import drain, export_configs
    from ichnaea_host.plugins.runtime import INCOMING_QUEUE

    rt = obj.runtime()
    rt.redis.ping()  # Redis down: one line naming it (IchnaeaGroup), before anything logs
    with Liveness(rt.redis, role="process"):  # its claims come back soon if it is killed
        runs = drain(rt)
    if runs:
        click.echo("processed: " + ", ".join(f"{k} x{v}" for k, v in sorted(runs.items())))
    else:
        click.echo("processed: nothing waiting")
    waiting = rt.queue(INCOMING_QUEUE).size()
    if waiting and not export_configs(rt):
        click.echo(f"{waiting} incoming reports kept: there is no export to send them to "
                   "(add one: ichnaea export add internal --schema internal)")


# ---------------------------------------------------------------------------
# database


@cli.group()
def db() -> None:
    """Database migrations of the host and every plugin."""


@db.command("upgrade")
@click.option("--no-internal-export", is_flag=True,
              help="do not create the internal export when there is no export "
                   "(a relay that only forwards reports to other exports)")
@pass_ctx
def db_upgrade(obj: Context, no_internal_export: bool) -> None:
    """Apply every pending migration, then run the plugins' upgrade jobs
    (such as restoring indexes a killed bulk import left dropped). When no
    export exists, create the internal one: the workers learn from reports."""
    from ichnaea_host.cli.serve import create_internal_export
    from ichnaea_host.core import migrate

    rt = obj.runtime()
    applied = migrate.upgrade(rt.db.rw, rt.plugins.migration_dirs)
    for name in applied:
        click.echo(f"applied {name}")
    click.echo(f"database is up to date ({len(applied)} migration(s) applied)")
    if not no_internal_export and create_internal_export():
        click.echo("created the export 'internal': the workers learn stations from the "
                   "reports (not wanted: --no-internal-export)")
    failed = []
    for job in sorted(rt.plugins.periodic_jobs.values(), key=lambda job: job.name):
        if job.upgrade:
            click.echo(f"running {job.name} ...")
            try:
                rt.run_job(job)
            except Exception as exc:  # noqa: BLE001 - said, and the exit status tells
                from ichnaea_host.cli.backends import describe

                reason = describe(exc, obj.settings) or f"{type(exc).__name__}: {exc}"
                click.echo(f"ichnaea: {job.name} failed: {reason}", err=True)
                failed.append(job.name)
    if failed:
        sys.exit(1)


@db.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def db_status(obj: Context, as_json: bool) -> None:
    """Show applied and pending migrations per namespace."""
    from ichnaea_host.core import migrate

    rt = obj.runtime()
    status = migrate.status(rt.db.rw, rt.plugins.migration_dirs)
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in status], indent=2))
        return
    for s in status:
        click.echo(f"{s.namespace}: {len(s.done)} applied, {len(s.pending)} pending")
        for name in s.pending:
            click.echo(f"  pending {name}")
    pending = sum(len(s.pending) for s in status)
    if pending:
        from ichnaea_host.cli.backends import database_name

        fail(f"{database_name(obj.settings.readwrite_uri)} needs {pending} migration(s): "
             "run 'ichnaea db upgrade'", code=1)


# ---------------------------------------------------------------------------
# API keys

KEY_OPTIONS: list[tuple[str, Any, str]] = [
    ("maxreq", int, "daily request limit per API path (0: unlimited)"),
    ("allow-fallback", BOOL, "may use the external fallback provider"),
    ("allow-locate", BOOL, "may call /v1/geolocate"),
    ("allow-region", BOOL, "may call /v1/country"),
    ("fallback-name", str, "fallback provider name (rate limit and metrics)"),
    ("fallback-schema", str, "fallback wire format, e.g. ichnaea/v1"),
    ("fallback-url", str, "fallback provider URL"),
    ("fallback-ratelimit", int, "provider calls per interval (0: unlimited)"),
    ("fallback-ratelimit-interval", int, "rate limit interval in seconds"),
    ("fallback-cache-expire", int, "seconds to cache provider answers (0: no cache)"),
    ("store-sample-locate", click.IntRange(0, 100), "percent of locate queries kept as data"),
    ("store-sample-submit", click.IntRange(0, 100), "percent of submissions kept"),
    ("allow-raw", BOOL, "geolocate answers list the networks used, with their positions "
                        "(microG's raw); never for keys given to the public"),
]
KEY_DEFAULTS = {"maxreq": 100, "allow_fallback": False, "allow_locate": True,
                "allow_region": True, "store_sample_locate": 100, "store_sample_submit": 100,
                "allow_raw": False}


def key_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for name, kind, help_text in reversed(KEY_OPTIONS):
        func = click.option(f"--{name}", type=kind, default=None, help=help_text)(func)
    return func


def _key_values(options: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for name, value in options.items():
        if value is None:
            continue
        values[name] = (value == "true") if value in ("true", "false") else value
    return values


def _check_schema(obj: Context, values: dict[str, Any]) -> None:
    schema = values.get("fallback_schema")
    if schema:
        known = obj.runtime().plugins.fallback_schemas()
        if schema not in known:
            fail(f"unknown fallback schema {schema!r} "
                 f"(installed: {', '.join(sorted(known)) or 'none'})")


def _migrated(obj: Context) -> Any:
    from ichnaea_host.core import migrate

    rt = obj.runtime()
    pending = migrate.pending(rt.db.rw, rt.plugins.migration_dirs)
    if pending:
        from ichnaea_host.cli.backends import database_name

        fail(f"{database_name(rt.settings.readwrite_uri)} needs {len(pending)} migration(s): "
             "run 'ichnaea db upgrade'")
    return rt


@cli.group()
def apikey() -> None:
    """Manage API keys."""


@apikey.command("create")
@click.argument("key", required=False)
@key_options
@pass_ctx
def apikey_create(obj: Context, key: str | None, **options: Any) -> None:
    """Create an API key (a random one when KEY is omitted)."""
    import uuid

    from ichnaea_host.api.keys import validated_key
    from ichnaea_host.core.models import ApiKeyRow

    _migrated(obj)
    key = key or str(uuid.uuid4())
    if validated_key(key) is None:
        fail(f"invalid API key {key!r}: use 4 to 40 letters, digits or '-'")
    values = {**KEY_DEFAULTS, **_key_values(options)}
    _check_schema(obj, values)
    if ApiKeyRow.get_or_none(ApiKeyRow.valid_key == key) is not None:
        fail(f"API key '{key}' exists", code=1)
    ApiKeyRow.create(valid_key=key, **values)
    _key_changed(obj)
    click.echo(f"Created API key: '{key}'")


@apikey.command("update")
@click.argument("key")
@key_options
@pass_ctx
def apikey_update(obj: Context, key: str, **options: Any) -> None:
    """Change columns of an existing API key."""
    from ichnaea_host.core.models import ApiKeyRow

    _migrated(obj)
    values = _key_values(options)
    _check_schema(obj, values)
    row = ApiKeyRow.get_or_none(ApiKeyRow.valid_key == key)
    if row is None:
        fail(f"API key '{key}' does not exist", code=1)
    if values:
        ApiKeyRow.update(**values).where(ApiKeyRow.valid_key == key).execute()
        _key_changed(obj)
    click.echo(f"Updated API key: '{key}'")


@apikey.command("delete")
@click.argument("key")
@pass_ctx
def apikey_delete(obj: Context, key: str) -> None:
    """Delete an API key: every web process refuses it within seconds."""
    from ichnaea_host.core.models import ApiKeyRow

    _migrated(obj)
    if ApiKeyRow.delete().where(ApiKeyRow.valid_key == key).execute() == 0:
        fail(f"API key '{key}' does not exist", code=1)
    _key_changed(obj)
    click.echo(f"Deleted API key: '{key}'")


def _key_changed(obj: Context) -> None:
    """Every web process drops its cached keys within about a second."""
    from ichnaea_host.api.keys import CACHE_TTL, announce_key_change

    if not announce_key_change(obj.runtime()):
        click.echo(f"ichnaea: Redis is unreachable: the web processes see this change "
                   f"within {CACHE_TTL / 60:.0f} minutes", err=True)


@apikey.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def apikey_list(obj: Context, as_json: bool) -> None:
    """List API keys."""
    from ichnaea_host.core.models import ApiKeyRow

    _migrated(obj)
    rows = list(ApiKeyRow.select().order_by(ApiKeyRow.valid_key))
    if as_json:
        click.echo(json.dumps([_key_dict(r) for r in rows], indent=2))
        return
    click.echo(f"{len(rows)} api keys.")
    if rows:
        click.echo(f"{'valid_key':<40} {'maxreq':>7} fallback locate region")
        for r in rows:
            click.echo(f"{r.valid_key:<40} {r.maxreq or 0:>7} {str(bool(r.allow_fallback)):<8} "
                       f"{str(bool(r.allow_locate)):<6} {bool(r.allow_region)}")


def _key_dict(row: Any) -> dict[str, Any]:
    from ichnaea_host.core.models import ApiKeyRow

    return {"valid_key": row.valid_key, **{c: getattr(row, c) for c in ApiKeyRow.COLUMNS}}


@apikey.command("show")
@click.argument("key")
@pass_ctx
def apikey_show(obj: Context, key: str) -> None:
    """Show every column of an API key."""
    from ichnaea_host.core.models import ApiKeyRow

    _migrated(obj)
    row = ApiKeyRow.get_or_none(ApiKeyRow.valid_key == key)
    if row is None:
        fail(f"API key '{key}' does not exist", code=1)
    for name, value in _key_dict(row).items():
        click.echo(f"{name}: {value}")


# ---------------------------------------------------------------------------
# exports


@cli.group()
def export() -> None:
    """Manage export targets (export_config)."""


@export.command("add")
@click.argument("name")
@click.option("--schema", required=True, help="exporter: internal, dummy, s3, geosubmit ...")
@click.option("--batch", type=click.IntRange(0), default=100, show_default=True)
@click.option("--url", default=None)
@click.option("--skip-keys", default=None, help="comma-separated API keys not exported")
@click.option("--skip-sources", default=None, help="comma-separated sources not exported")
@pass_ctx
def export_add(obj: Context, name: str, schema: str, batch: int, url: str | None,
               skip_keys: str | None, skip_sources: str | None) -> None:
    """Add or replace an export target."""
    from ichnaea_host.core.models import ExportConfig

    rt = _migrated(obj)
    known = rt.plugins.exporters()
    if schema not in known:
        fail(f"unknown export schema {schema!r} (installed: {', '.join(sorted(known))})")
    if len(name) > 40:
        fail("export name longer than 40 characters")
    ExportConfig.insert(name=name, schema=schema, batch=batch, url=url, skip_keys=skip_keys,
                        skip_sources=skip_sources).on_conflict_replace().execute()
    click.echo(f"Export '{name}' ({schema}, batch {batch}) saved")


@export.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def export_list(obj: Context, as_json: bool) -> None:
    """List export targets."""
    from ichnaea_host.core.models import ExportConfig

    _migrated(obj)
    rows = list(ExportConfig.select().order_by(ExportConfig.name))
    data = [{"name": r.name, "schema": r.schema, "batch": r.batch, "url": r.url,
             "skip_keys": r.skip_keys, "skip_sources": r.skip_sources} for r in rows]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{len(rows)} exports.")
    for d in data:
        click.echo(f"{d['name']:<20} {d['schema']:<10} batch={d['batch']} url={d['url'] or ''}")


def _known_export(name: str) -> None:
    from ichnaea_host.core.models import ExportConfig

    if ExportConfig.get_or_none(ExportConfig.name == name) is None:
        fail(f"export '{name}' does not exist", code=1)


@export.command("failed")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def export_failed(obj: Context, name: str | None, as_json: bool) -> None:
    """List the parked batches (reports that could not be delivered)."""
    from ichnaea_host.pipeline.tasks import failed_queue_name, parked

    rt = _migrated(obj)
    if name is not None:
        _known_export(name)
    found = parked(rt, name)
    if as_json:
        click.echo(json.dumps([{"export": p.export, "queue": p.key,
                                "parked": failed_queue_name(p.key), "reports": n}
                               for p, n in found], indent=2))
        return
    total = sum(n for _, n in found)
    click.echo(f"{total} parked reports.")
    for partition, count in found:
        click.echo(f"{partition.export:<20} {count:>8}  {failed_queue_name(partition.key)}")
    if total:
        click.echo("Send them again with: ichnaea export replay NAME")


@export.command("replay")
@click.argument("name")
@pass_ctx
def export_replay(obj: Context, name: str) -> None:
    """Move the parked batches of an export back to its queue."""
    from ichnaea_host.pipeline.tasks import replay

    rt = _migrated(obj)
    _known_export(name)
    moved = replay(rt, name)
    total = sum(moved.values())
    click.echo(f"Moved {total} parked reports of export '{name}' back to its queue; "
               "the workers send them with its next batch.")


# ---------------------------------------------------------------------------
# doctor


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def doctor(obj: Context, as_json: bool) -> None:
    """Check the deployment: database reachable and migrated, exports, Redis
    reachable and persistent, scheduler alive, queue backlogs, the plugins'
    own checks (GeoIP database), SECRET_KEY. One line per check; exits 1 when
    one failed."""
    from ichnaea_host.cli.doctor import run_checks

    settings = obj.settings
    if settings.logging_level.upper() in ("DEBUG", "INFO"):
        configure_logging("WARNING")  # the check lines, not the info lines of the checks
    results = run_checks(settings, obj.plugins)
    failed = [r.name for r in results if r.failed]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [r.as_dict() for r in results]},
                              indent=2))
    else:
        for result in results:
            click.echo(result.line())
    if failed:
        fail(f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}", code=1)


# ---------------------------------------------------------------------------
# plugins


@cli.group()
def plugins() -> None:
    """Inspect plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def plugins_list(obj: Context, as_json: bool) -> None:
    """Show installed plugins, versions, what they register and their settings."""
    import dataclasses

    from ichnaea_host.plugins.manager import build_plugin_host

    settings = dataclasses.replace(obj.settings, strict_plugins=False)
    host = build_plugin_host(settings)
    infos = host.plugin_list()
    for info in infos:  # the values in effect beside the defaults, secrets masked
        loaded = host.settings_for(info.name)
        for s in info.settings:
            value = getattr(loaded, s["name"], s["default"]) if loaded else s["default"]
            s["value"] = "***" if s["default"] == "***" or (
                value and _secret(loaded, s["name"])) else value
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], indent=2, default=str))
        return
    for info in infos:
        state = "enabled" if info.enabled else ("failed" if info.error else "disabled")
        click.echo(f"{info.name} ({info.distribution or '?'} {info.version or '?'}): {state}")
        if info.error:
            click.echo(f"  error: {info.error}")
        for family, names in sorted(info.registers.items()):
            click.echo(f"  {family}: {', '.join(names)}")
        for s in info.settings:
            click.echo(f"  setting {s['env']} = {s['value']!r}  (default {s['default']!r}; "
                       f"{s['help']})")
    click.echo("host: the geolocate rate limits (all host settings: ichnaea settings)")
    for s in host_settings(obj.settings):
        if s["name"].startswith("locate_limit_"):
            click.echo(f"  setting {s['env']} = {s['value']!r}  ({s['help']})")


def _secret(loaded: Any, name: str) -> bool:
    field = type(loaded).__dataclass_fields__.get(name) if loaded else None
    return bool(field and field.metadata.get("secret"))


def host_settings(settings: Settings) -> list[dict[str, Any]]:
    """The host's settings with their values in effect; secrets masked."""
    out = []
    for entry in Settings.describe():
        value = getattr(settings, entry["name"])
        secret = Settings.__dataclass_fields__[entry["name"]].metadata.get("secret")
        out.append({**entry, "value": "***" if secret and value else value})
    return out


@cli.command("settings")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def settings_show(obj: Context, as_json: bool) -> None:
    """Show the host's settings: variable, value in effect, default, meaning
    (secrets masked). Plugins' settings: ichnaea plugins list."""
    entries = host_settings(obj.settings)
    if as_json:
        click.echo(json.dumps(entries, indent=2, default=str))
        return
    for s in entries:
        click.echo(f"{s['env']} = {s['value']!r}  (default {s['default']!r}; {s['help']})")


def main() -> None:
    cli(prog_name="ichnaea")


if __name__ == "__main__":
    main()
