"""The backends of a command, named in one line when they fail.

Every ``ichnaea`` command answers a database or Redis it cannot use with one
line naming it (host:port and database, never a password) and a non-zero
exit: :func:`describe` turns the driver's error into that line.
"""

from __future__ import annotations

from urllib.parse import urlparse

import peewee
import pymysql
import redis
from redis.exceptions import RedisClusterException

from ichnaea_host.core.db import _parse_mysql
from ichnaea_host.core.settings import Settings

#: errors of the database drivers (peewee wraps pymysql's and sqlite3's)
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    peewee.OperationalError, peewee.InterfaceError, peewee.ProgrammingError,
    pymysql.err.OperationalError, pymysql.err.InterfaceError)
REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError, redis.TimeoutError, RedisClusterException)
BACKEND_ERRORS = DATABASE_ERRORS + REDIS_ERRORS

#: MySQL client errors of a server that cannot be reached
UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2055}
ACCESS_DENIED = {1044, 1045, 1698}
UNKNOWN_DATABASE = 1049
NO_SUCH_TABLE = 1146


def database_name(uri: str) -> str:
    """The database of a URI as the operator knows it, without its password."""
    if uri.startswith("sqlite:///"):
        return f"the SQLite database {uri[len('sqlite:///'):]}"
    name, options = _parse_mysql(uri)
    return f"the database '{name}' at {options['host']}:{options['port']}"


def redis_name(settings: Settings) -> str:
    if not settings.redis_url:
        return f"the embedded Redis under {settings.var_dir}"
    parts = urlparse(settings.redis_url)
    if "," in parts.netloc:  # redis+cluster://a:1,b:2/
        return f"the Redis Cluster at {parts.netloc.rsplit('@', 1)[-1]}"
    db = parts.path.strip("/") or "0"
    return f"Redis at {parts.hostname or '127.0.0.1'}:{parts.port or 6379} (db {db})"


def _errno(exc: BaseException) -> int | None:
    for err in (exc, exc.__cause__, exc.__context__):
        if err is not None and err.args and isinstance(err.args[0], int):
            return err.args[0]
    return None


def _reason(exc: BaseException) -> str:
    if len(exc.args) >= 2 and isinstance(exc.args[0], int):
        return str(exc.args[1])
    return str(exc) or type(exc).__name__


def describe(exc: BaseException, settings: Settings) -> str | None:
    """One line for a backend's error, or None when ``exc`` is no backend error."""
    if isinstance(exc, REDIS_ERRORS):
        return f"cannot use {redis_name(settings)}: {exc}"
    if not isinstance(exc, DATABASE_ERRORS):
        return None
    where = database_name(settings.readwrite_uri)
    errno = _errno(exc)
    if errno == NO_SUCH_TABLE or "no such table" in str(exc):
        return f"{where} is not migrated: run 'ichnaea db upgrade'"
    if errno in UNREACHABLE:
        return f"cannot reach {where}: {_reason(exc)}"
    if errno in ACCESS_DENIED:
        return f"{where} refused the login: {_reason(exc)} (check DB_READWRITE_URI)"
    if errno == UNKNOWN_DATABASE:
        return f"{where} does not exist: {_reason(exc)}"
    return f"{where} failed: {_reason(exc)}"


def probe_database(settings: Settings) -> None:
    """Log in to the configured MySQL server once; raise the driver's error
    when it cannot be reached or refuses. The runtime would only log a
    warning and go on (the web tier must start without its database); a
    command needs it. SQLite needs no probe."""
    uri = settings.readwrite_uri
    if not uri.startswith("mysql"):
        return
    _, options = _parse_mysql(uri)
    conn = pymysql.connect(**{k: v for k, v in options.items()
                              if k in ("host", "port", "user", "password")},
                           connect_timeout=3)
    conn.close()
