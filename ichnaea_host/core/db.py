"""The database layer: one peewee proxy for MySQL (pymysql) and SQLite.

Models (the host's and the plugins') subclass :class:`BaseModel`, which is
bound to :data:`database`, a :class:`peewee.DatabaseProxy` for the read-write
connection. The web tier runs its selects on the read-only connection with
:meth:`Database.read`. Dialect differences (upserts, binary keys) are kept
here, so that models and updaters read the same on both databases.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

import peewee
from peewee import EXCLUDED, fn
from playhouse.pool import PooledMySQLDatabase

from ichnaea_host.core.log import get_logger

log = get_logger("ichnaea.db")

database = peewee.DatabaseProxy()

T = TypeVar("T")

#: error numbers worth a retry: MySQL/MariaDB deadlock (also Galera's
#: certification failure) and lock wait timeout; TiDB's write conflict (9007),
#: its conflicting SELECT ... FOR UPDATE (8002) and its failed transaction
#: retry (8022)
RETRY_ERRNOS = (1213, 1205, 9007, 8002, 8022)

#: error numbers of a server that cannot be reached or a connection that broke:
#: can't connect (2002, 2003), server gone away (2006), lost connection (2013,
#: 2055), too many connections (1040), server shutting down (1053), connection
#: killed (1927), closed by the server for inactivity (4031)
CONNECTION_ERRNOS = (2002, 2003, 2006, 2013, 2055, 1040, 1053, 1927, 4031)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class BinaryKeyField(peewee.Field):
    """A fixed-length binary key shown as lowercase hex: ``BINARY(n)`` on MySQL,
    a blob on SQLite. Subclass it with ``LENGTH`` set (MAC addresses: 6)."""

    field_type = "BINARY"
    LENGTH = 6

    def get_modifiers(self) -> list[int]:
        return [self.LENGTH]

    def db_value(self, value: Any) -> Any:
        if value is None or isinstance(value, bytes):
            return value
        return bytes.fromhex(value)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - depends on driver
            return value
        return bytes(value).hex()


class MacField(BinaryKeyField):
    LENGTH = 6


def _parse_mysql(uri: str) -> tuple[str, dict[str, Any]]:
    parts = urlparse(uri)
    name = parts.path.lstrip("/")
    options: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "charset": "utf8mb4",
    }
    for key, values in parse_qs(parts.query).items():
        options[key] = values[-1]
    return name, options


def make_database(uri: str, *, create: bool = False) -> peewee.Database:
    """Build a peewee database from a ``mysql+pymysql://`` or ``sqlite:///`` URI.

    With ``create``, a missing SQLite folder or MySQL database is created.
    """
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):]
        if path != ":memory:" and create:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return peewee.SqliteDatabase(
            path,
            pragmas={"journal_mode": "wal", "busy_timeout": 15000, "synchronous": "normal"},
            timeout=15,
            check_same_thread=False,
        )
    name, options = _parse_mysql(uri)
    if create:
        _create_mysql_database(name, options)
    return PooledMySQLDatabase(
        name,
        max_connections=32,
        stale_timeout=300,
        timeout=10,
        connect_timeout=3,
        read_timeout=30,
        write_timeout=30,
        **options,
    )


def _create_mysql_database(name: str, options: dict[str, Any]) -> None:
    """Create a missing MySQL database. A server that cannot be reached is not
    an error here: the web tier must start, and keep answering, without it."""
    import pymysql

    try:
        conn = pymysql.connect(
            **{k: v for k, v in options.items() if k in ("host", "port", "user", "password")},
            connect_timeout=3,
        )
    except pymysql.err.OperationalError as exc:
        log.warning("database_unreachable", host=options.get("host"), port=options.get("port"),
                    error=exc.args[0] if exc.args else None)
        return
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
    finally:
        conn.close()


class Database:
    """The read-write and read-only connections of one process."""

    def __init__(self, readwrite_uri: str, readonly_uri: str | None = None,
                 *, create: bool = False) -> None:
        self.readwrite_uri = readwrite_uri
        self.rw = make_database(readwrite_uri, create=create)
        if readonly_uri and readonly_uri != readwrite_uri:
            self.ro = make_database(readonly_uri)
        else:
            self.ro = self.rw
        database.initialize(self.rw)

    @property
    def is_mysql(self) -> bool:
        return isinstance(self.rw, peewee.MySQLDatabase)

    @property
    def dialect(self) -> str:
        return "mysql" if self.is_mysql else "sqlite"

    def read(self, query: Any) -> Any:
        """Bind a select to the read-only connection."""
        return query.bind(self.ro)

    def ping(self) -> None:
        self.ro.execute_sql("SELECT 1").fetchone()

    def _databases(self) -> list[peewee.Database]:
        return list({id(self.rw): self.rw, id(self.ro): self.ro}.values())

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """One unit of work of a long-running thread (a worker's task, a
        scheduler tick): the connections it opens in this thread go back to
        the pool at its end, and the pool pings a connection before handing it
        out again. A connection broken by a server restart is so dropped, never
        used again (peewee keeps a thread's connection until it is closed, and
        a dead one fails every query with ``InterfaceError: (0, '')``).

        A connection already open when the session starts (a test's, an
        enclosing transaction's) is left open, unless it broke."""
        open_before = {id(db) for db in self._databases() if not db.is_closed()}
        broken = False
        try:
            yield
        except Exception as exc:
            broken = is_connection_error(exc)
            raise
        finally:
            for db in self._databases():
                if (broken or id(db) not in open_before) and not db.in_transaction():
                    release_connection(db)

    def close(self) -> None:
        for db in {id(self.rw): self.rw, id(self.ro): self.ro}.values():
            if isinstance(db, PooledMySQLDatabase):
                db.close_all()
            elif not db.is_closed():
                db.close()


#: seconds a whole-table read of a periodic job may take (the pool's connections
#: give up after 30 s: at 30 million stations one grouped read takes minutes)
LONG_READ_TIMEOUT = 3600


def long_read(db: peewee.Database, sql: str, params: Sequence[Any],
              timeout: int = LONG_READ_TIMEOUT) -> list[tuple[Any, ...]]:
    """The rows of one long read, such as a daily job's whole-table
    aggregate: on MySQL over a connection of its own whose reads wait up to
    ``timeout`` seconds (the pooled ones give up after 30 s, and the server
    would go on with the abandoned query); elsewhere over ``db`` itself."""
    if isinstance(db, peewee.DatabaseProxy):
        db = db.obj
    if not isinstance(db, peewee.MySQLDatabase):
        return list(db.execute_sql(sql, params).fetchall())
    import pymysql

    options = {**db.connect_params, "read_timeout": timeout, "write_timeout": timeout}
    conn = pymysql.connect(database=db.database, **options)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())
    finally:
        conn.close()


def release_connection(db: peewee.Database) -> None:
    """Close this thread's connection (a pooled one goes back to the pool,
    which drops it when it is broken)."""
    if db.is_closed():
        return
    try:
        db.close()
    except peewee.PeeweeException as exc:  # the pool already dropped it
        log.debug("db_close_failed", error=type(exc).__name__)


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the database server could not be reached or the
    connection to it broke (not a wrong query, not a lock conflict)."""
    if isinstance(exc, peewee.InterfaceError):
        # pymysql's ``(0, '')`` on a connection it saw die; peewee's own
        # interface errors (an uninitialised database) are programming errors
        return bool(exc.args) and isinstance(exc.args[0], int)
    if isinstance(exc, peewee.OperationalError):
        return bool(exc.args) and exc.args[0] in CONNECTION_ERRNOS
    return False


def is_mysql(model: type[peewee.Model]) -> bool:
    db = model._meta.database
    if isinstance(db, peewee.DatabaseProxy):
        db = db.obj
    return isinstance(db, peewee.MySQLDatabase)


def excluded(model: type[peewee.Model], field: peewee.Field) -> Any:
    """The value an upsert tried to insert into ``field``, in either dialect."""
    if is_mysql(model):
        return fn.VALUES(field)
    return getattr(EXCLUDED, field.column_name)


def upsert(
    model: type[peewee.Model],
    rows: Sequence[dict[str, Any]],
    *,
    conflict_target: Sequence[peewee.Field],
    preserve: Sequence[peewee.Field] = (),
    update: dict[peewee.Field, Any] | None = None,
    chunk: int = 500,
) -> None:
    """Insert ``rows``; where the key exists, copy ``preserve`` and apply ``update``.

    MySQL renders ``ON DUPLICATE KEY UPDATE`` (no conflict target allowed),
    SQLite ``ON CONFLICT (...) DO UPDATE`` (target required).
    """
    mysql = is_mysql(model)
    for start in range(0, len(rows), chunk):
        query = model.insert_many(rows[start:start + chunk])
        if mysql:
            query = query.on_conflict(preserve=list(preserve), update=update)
        else:
            query = query.on_conflict(
                conflict_target=list(conflict_target), preserve=list(preserve), update=update
            )
        query.execute()


def insert_ignore(model: type[peewee.Model], rows: Sequence[dict[str, Any]],
                  chunk: int = 500) -> None:
    for start in range(0, len(rows), chunk):
        model.insert_many(rows[start:start + chunk]).on_conflict_ignore().execute()


def select_for_update(query: Any) -> Any:
    """Lock the selected rows on MySQL; SQLite locks the whole file on write."""
    if is_mysql(query.model):
        return query.for_update()
    return query


def retry_on_lock(func: Callable[[], T], attempts: int = 4, on_retry: Callable[[int], None]
                  | None = None) -> T:
    """Run ``func`` (one transaction), again after a MySQL deadlock or lock timeout."""
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except peewee.OperationalError as exc:
            errno = exc.args[0] if exc.args else None
            locked = errno in RETRY_ERRNOS or "database is locked" in str(exc)
            if not locked or attempt == attempts:
                raise
            log.warning("db_retry", errno=errno if isinstance(errno, int) else None,
                        attempt=attempt, error=str(exc)[:120])
            if on_retry is not None:
                on_retry(errno if isinstance(errno, int) else 0)
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
    raise AssertionError("unreachable")


def chunked(items: Iterable[T], size: int) -> Iterable[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
