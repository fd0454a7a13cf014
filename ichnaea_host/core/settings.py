"""Typed settings read from environment variables.

The host's own settings keep the original service's variable names where they
exist (``DB_READWRITE_URI``, ``REDIS_URI``, ...) and use ``ICHNAEA_*`` for what
is new. Every plugin may declare a settings class of its own (a subclass of
:class:`PluginSettings`); its fields are read from
``ICHNAEA_<PLUGIN>__<FIELD>`` unless the field names another variable.

A value that cannot be used raises :class:`ConfigError`, whose message is one
line naming the variable, so that start-up stops with a clear reason.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union


class ConfigError(Exception):
    """A setting has a value the service cannot use."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def setting(
    default: Any,
    *,
    help: str,
    env: str | None = None,
    secret: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """Declare one setting: its default, a one-line description and, optionally,
    the exact environment variable it is read from."""
    return dataclasses.field(
        default=default,
        metadata={"help": help, "env": env, "secret": secret, "choices": choices},
    )


_T = TypeVar("_T", bound="BaseSettings")


def _convert(name: str, raw: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw.strip() == "":
            return None
        return _convert(name, raw, args[0])
    if kind is bool:
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(name, f"expected true or false, got {raw!r}")
    if kind is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if kind is float:
        try:
            return float(raw.strip())
        except ValueError:
            raise ConfigError(name, f"expected a number, got {raw!r}") from None
    if origin in (list, tuple) or kind in (list, tuple):
        items = [part.strip() for part in raw.split(",") if part.strip()]
        return tuple(items) if (origin is tuple or kind is tuple) else items
    return raw


class BaseSettings:
    """Shared loading logic for the host's and the plugins' settings dataclasses."""

    #: Prefix for variables of fields without an explicit ``env``.
    ENV_PREFIX = "ICHNAEA_"

    @classmethod
    def env_name(cls, f: dataclasses.Field[Any]) -> str:
        return f.metadata.get("env") or f"{cls.ENV_PREFIX}{f.name.upper()}"

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One entry per setting: name, variable, type, default and description."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            default = f.default
            if f.metadata.get("secret") and default:
                default = "***"
            out.append(
                {
                    "name": f.name,
                    "env": cls.env_name(f),
                    "type": getattr(hints[f.name], "__name__", str(hints[f.name])),
                    "default": default,
                    "help": f.metadata.get("help", ""),
                }
            )
        return out

    @classmethod
    def from_env(cls: type[_T], environ: Mapping[str, str] | None = None, **overrides: Any) -> _T:
        """Read every field from ``environ`` (default: the process environment).

        ``overrides`` win over the environment; they are how tests and the
        app factory pass values directly.
        """
        environ = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            name = cls.env_name(f)
            raw = environ.get(name)
            if raw is None:
                continue
            value = _convert(name, raw, hints[f.name])
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise ConfigError(name, f"expected one of {', '.join(choices)}, got {raw!r}")
            values[f.name] = value
        instance = cls(**values)
        instance.validate()
        return instance

    def validate(self) -> None:
        """Check values that need more than a type conversion; raise ConfigError."""

    def public_dict(self) -> dict[str, Any]:
        """The values with secrets masked, for listings and logs."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value:
                value = "***"
            out[f.name] = value
        return out


@dataclasses.dataclass(frozen=True)
class PluginSettings(BaseSettings):
    """Base class for a plugin's settings.

    Subclass it as a frozen dataclass and declare fields with :func:`setting`.
    Fields are read from ``ICHNAEA_<PLUGIN>__<FIELD>`` (the prefix is filled in
    by the host with the plugin's name).
    """


def plugin_env_prefix(plugin_name: str) -> str:
    return f"ICHNAEA_{plugin_name.upper()}__"


def load_plugin_settings(
    cls: type[PluginSettings], plugin_name: str, environ: Mapping[str, str] | None = None
) -> PluginSettings:
    bound: type[PluginSettings] = type(
        cls.__name__, (cls,), {"ENV_PREFIX": plugin_env_prefix(plugin_name)})
    return bound.from_env(environ)


DB_SCHEMES = ("mysql+pymysql://", "mysql://", "sqlite:///")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclasses.dataclass(frozen=True)
class Settings(BaseSettings):
    """The host's settings. Empty database and Redis URIs mean the embedded defaults."""

    db_readwrite_uri: str = setting(
        "",
        env="DB_READWRITE_URI",
        secret=True,
        help="database for the workers: mysql+pymysql://user:pw@host:port/db or sqlite:///path "
        "(empty: SQLite under the var folder)",
    )
    db_readonly_uri: str = setting(
        "",
        env="DB_READONLY_URI",
        secret=True,
        help="database for the web tier (empty: the read-write database)",
    )
    redis_uri: str = setting(
        "",
        env="REDIS_URI",
        help="redis://host:port/db, or redis+cluster://host:port[,host:port...]/ for a "
        "Redis Cluster (empty: an embedded Redis under the var folder)",
    )
    redis_cluster_nodes: list[str] = setting(
        (),
        env="REDIS_CLUSTER_NODES",
        help="host:port,... of Redis Cluster nodes (instead of a redis+cluster:// REDIS_URI)",
    )
    incoming_partitions: int = setting(
        0,
        help="lists the incoming reports are spread over (0: 1 on one Redis, 8 on a cluster)",
    )
    secret_key: str = setting("", env="SECRET_KEY", secret=True, help="secret for signatures")
    logging_level: str = setting(
        "INFO", env="LOGGING_LEVEL", choices=LOG_LEVELS, help="log level"
    )
    statsd_host: str = setting("", env="STATSD_HOST", help="statsd host (empty: no metrics)")
    statsd_port: int = setting(8125, env="STATSD_PORT", help="statsd port")
    metrics: str = setting(
        "off", help="Prometheus metrics of the web service: off, on (GET /metrics on the web "
                    "port) or a port number (a port of their own on ICHNAEA_METRICS_HOST)")
    metrics_host: str = setting(
        "127.0.0.1", help="address of the web service's own metrics port")
    worker_metrics_port: int = setting(
        0, help="port on ICHNAEA_METRICS_HOST where `ichnaea worker` serves its Prometheus "
                "metrics (0: none)")
    sentry_dsn: str = setting("", env="SENTRY_DSN", secret=True, help="Sentry DSN")
    asset_bucket: str = setting("", env="ASSET_BUCKET", help="S3 bucket for tiles and exports")
    asset_url: str = setting("", env="ASSET_URL", help="public URL of the asset bucket")
    mapbox_token: str = setting("", env="MAPBOX_TOKEN", secret=True, help="map token (optional)")
    var_dir: str = setting("var", help="folder for the embedded database, Redis and GeoIP files")
    host: str = setting("127.0.0.1", help="address the web server listens on")
    port: int = setting(8000, help="port the web server listens on")
    web_threads: int = setting(4, help="threads per web process")
    worker_threads: int = setting(2, help="worker threads per worker process")
    web_header_timeout: int = setting(
        10, help="seconds a client has to send a request's headers, from its first byte "
                 "(a new connection's: from its opening); a slower client is disconnected")
    web_request_timeout: int = setting(
        60, help="seconds a client has to send a whole request, headers and body")
    web_idle_timeout: int = setting(
        30, help="seconds a kept-alive connection may wait for its next request")
    web_connection_limit: int = setting(
        1000, help="open connections per web process; more wait in the listen backlog")
    web_connections_per_address: int = setting(
        50, help="open connections per client (peer) address and web process (0: no cap); "
                 "behind a reverse proxy every connection comes from the proxy: set 0")
    plugins: list[str] = setting(
        (), help="allow-list of plugin names to load (empty: every installed plugin)"
    )
    plugins_disabled: list[str] = setting((), help="plugin names not to load")
    strict_plugins: bool = setting(False, help="a plugin that fails to load stops start-up")
    trace_plugins: bool = setting(False, help="log every hook call")
    locate_sources: list[str] = setting(
        (), help="position sources in the order they run (empty: every source, default order)"
    )
    region_sources: list[str] = setting(
        (), help="region sources in the order they run (empty: every source, default order)"
    )
    locate_limit_window: int = setting(
        60, help="seconds of one window of the geolocate rate limits")
    locate_limit_key: int = setting(
        0, help="geolocate requests per API key and window (0: no limit; the key's "
                "daily maxreq applies as well)")
    locate_limit_ip: int = setting(
        600, help="geolocate requests per client address and window (0: no limit); "
                  "addresses are counted as keyed hashes, never logged")
    locate_limit_prefix: int = setting(
        64, help="distinct WiFi/Bluetooth networks looked up per address block and window "
                 "(0: no limit)")
    optout_limit: int = setting(
        10, help="owner requests (POST /optout) per client address and hour (0: no limit)")
    locate_limit_prefix_digits: int = setting(
        10, help="hex digits of a MAC address naming its block (10: blocks of 256)")
    calibration: bool = setting(
        True, help="measure the answers' accuracy on a sample of the GNSS-positioned reports "
                   "and answer accuracy (and ?confidence=) from it once there are enough")
    calibration_per_minute: int = setting(
        300, help="positioned reports the pipeline locates a minute to measure the accuracy "
                 "(0: none; what was measured still answers)")
    calibration_min_samples: int = setting(
        500, help="samples of one kind of answer (source) over ICHNAEA_CALIBRATION_DAYS before "
                  "its measured accuracy replaces the source's own")
    calibration_days: int = setting(
        7, help="days of samples the measured accuracy is made of")
    calibration_refresh: int = setting(
        60, help="seconds each process keeps the measured accuracy before reading it again")

    def validate(self) -> None:
        for name, value in (
            ("DB_READWRITE_URI", self.db_readwrite_uri),
            ("DB_READONLY_URI", self.db_readonly_uri),
        ):
            if value and not value.startswith(DB_SCHEMES):
                scheme = value.split("://", 1)[0] if "://" in value else value[:20]
                raise ConfigError(
                    name,
                    "expected mysql+pymysql://user:pw@host:port/db or sqlite:///path, "
                    f"got a value starting with {scheme!r}",
                )
        if self.redis_uri and not self.redis_uri.startswith(REDIS_SCHEMES):
            raise ConfigError("REDIS_URI", f"expected redis://host:port/db, got {self.redis_uri!r}")
        if self.redis_uri and self.redis_cluster_nodes:
            raise ConfigError("REDIS_CLUSTER_NODES", "set either REDIS_URI or REDIS_CLUSTER_NODES")
        for node in self.redis_cluster_nodes:
            host, sep, port = node.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ConfigError("REDIS_CLUSTER_NODES", f"expected host:port, got {node!r}")
        if self.incoming_partitions < 0:
            raise ConfigError("ICHNAEA_INCOMING_PARTITIONS",
                              f"expected 0 or more, got {self.incoming_partitions}")
        if not 0 < self.port < 65536:
            raise ConfigError("ICHNAEA_PORT", f"expected a port from 1 to 65535, got {self.port}")
        if not 0 < self.statsd_port < 65536:
            raise ConfigError("STATSD_PORT", f"expected a port, got {self.statsd_port}")
        if self.metrics not in ("off", "on") and not (
                self.metrics.isdigit() and 0 < int(self.metrics) < 65536):
            raise ConfigError("ICHNAEA_METRICS",
                              f"expected off, on or a port number, got {self.metrics!r}")
        if not 0 <= self.worker_metrics_port < 65536:
            raise ConfigError("ICHNAEA_WORKER_METRICS_PORT",
                              f"expected 0 or a port, got {self.worker_metrics_port}")
        for var, count in (("ICHNAEA_WEB_THREADS", self.web_threads),
                           ("ICHNAEA_WORKER_THREADS", self.worker_threads)):
            if count < 1:
                raise ConfigError(var, f"expected at least 1, got {count}")
        for var, number in (("ICHNAEA_WEB_HEADER_TIMEOUT", self.web_header_timeout),
                            ("ICHNAEA_WEB_REQUEST_TIMEOUT", self.web_request_timeout),
                            ("ICHNAEA_WEB_IDLE_TIMEOUT", self.web_idle_timeout),
                            ("ICHNAEA_WEB_CONNECTION_LIMIT", self.web_connection_limit)):
            if number < 1:
                raise ConfigError(var, f"expected at least 1, got {number}")
        cap = self.web_connections_per_address
        if cap < 0:
            raise ConfigError("ICHNAEA_WEB_CONNECTIONS_PER_ADDRESS",
                              f"expected 0 (no cap) or more, got {cap}")
        if self.locate_limit_window < 1:
            raise ConfigError("ICHNAEA_LOCATE_LIMIT_WINDOW",
                              f"expected at least 1 second, got {self.locate_limit_window}")
        for var, limit in (("ICHNAEA_LOCATE_LIMIT_KEY", self.locate_limit_key),
                           ("ICHNAEA_LOCATE_LIMIT_IP", self.locate_limit_ip),
                           ("ICHNAEA_LOCATE_LIMIT_PREFIX", self.locate_limit_prefix),
                           ("ICHNAEA_OPTOUT_LIMIT", self.optout_limit)):
            if limit < 0:
                raise ConfigError(var, f"expected 0 (no limit) or more, got {limit}")
        for var, number in (("ICHNAEA_CALIBRATION_PER_MINUTE", self.calibration_per_minute),
                            ("ICHNAEA_CALIBRATION_MIN_SAMPLES", self.calibration_min_samples),
                            ("ICHNAEA_CALIBRATION_REFRESH", self.calibration_refresh)):
            if number < 0:
                raise ConfigError(var, f"expected 0 or more, got {number}")
        if not 1 <= self.calibration_days <= 90:
            raise ConfigError("ICHNAEA_CALIBRATION_DAYS",
                              f"expected 1 to 90, got {self.calibration_days}")
        if not 1 <= self.locate_limit_prefix_digits <= 12:
            raise ConfigError("ICHNAEA_LOCATE_LIMIT_PREFIX_DIGITS",
                              f"expected 1 to 12, got {self.locate_limit_prefix_digits}")

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)

    @property
    def readwrite_uri(self) -> str:
        return self.db_readwrite_uri or f"sqlite:///{self.var_path / 'ichnaea.sqlite'}"

    @property
    def readonly_uri(self) -> str:
        return self.db_readonly_uri or self.readwrite_uri

    @property
    def metrics_port(self) -> int:
        """The web service's own metrics port (0: none)."""
        return int(self.metrics) if self.metrics.isdigit() else 0

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_uri and not self.redis_cluster_nodes

    @property
    def redis_url(self) -> str:
        """The configured Redis as one URI (empty: the embedded Redis)."""
        if self.redis_cluster_nodes:
            return "redis+cluster://" + ",".join(self.redis_cluster_nodes) + "/"
        return self.redis_uri
