"""Bulk loading of the cell tables for a large import (MySQL).

Each new row of an import costs the server one B-tree insert per index, and
once a table's indexes outgrow the buffer pool most of those inserts wait on
the disk. When an import is large compared with a table, the table's
secondary indexes are therefore dropped before the load and rebuilt after
it: InnoDB builds an index by sorting, in one pass over the table.

The rule: a table is loaded in bulk when the import has at least
:data:`BULK_MIN_ROWS` lines and more lines than the table has rows (InnoDB's
estimate). During the load the table keeps its primary key, which is all a
locate needs; the export and the region counts scan the table meanwhile.

The indexes always come back. The load holds a lock in Redis
(:class:`~ichnaea_host.ExpiringLock`, one per database) from before
the drop to after the rebuild; it is seen by imports on every host and
database node (MySQL's ``GET_LOCK`` is local to one server, one node of a
Galera cluster), and it expires a minute after its process dies. Whoever
takes the lock next (the next import, the worker's hourly check :func:`run`,
or ``ichnaea cells restore-indexes``) first restores every index the models
declare that a table lacks. An import that finds the lock taken by another
import neither drops nor restores anything and loads row by row.

On Galera (``wsrep_on``) an import never drops or rebuilds indexes: schema
changes there run on every node at once and stop the cluster's writes
(total order isolation), so a large import loads row by row like a small
one. SQLite databases are never changed.
"""

from __future__ import annotations

import gzip
import io
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichnaea_host import ExpiringLock, HostContext, get_logger

from .models import CELL_MODELS

log = get_logger("ichnaea.cell")

#: the smallest import loaded in bulk, in lines
BULK_MIN_ROWS = 100_000
#: the Redis lock a bulk load holds (per database: the name ends with the database's)
LOCK = "ichnaea_cell_bulk_load:"
#: seconds the lock outlives a process that died holding it
LOCK_TTL = 60.0
#: seconds a schema change waits for the transactions under way on its table
LOCK_WAIT = 30
#: the periodic job that restores what a killed bulk load left dropped
JOB_NAME = "cell_restore_indexes"
INTERVAL = 3600.0


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool

    def definition(self) -> str:
        columns = ", ".join(f"`{c}`" for c in self.columns)
        return f"{'UNIQUE ' if self.unique else ''}INDEX `{self.name}` ({columns})"


def declared_indexes(model: Any) -> list[Index]:
    """The secondary indexes the model declares."""
    return [Index(index._name, tuple(f.column_name for f in index._expressions),
                  bool(index._unique))
            for index in model._meta.fields_to_index()]


TABLES = {model._meta.table_name: model for model in CELL_MODELS.values()}


def count_lines(paths: Iterable[Path]) -> int:
    """Lines of the files (gunzipped); a file that cannot be read to its end
    counts up to about where it breaks (the import stops there too)."""
    lines = 0
    for path in paths:
        with open(path, "rb") as raw:
            gzipped = raw.peek(2)[:2] == b"\x1f\x8b"
            stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw) if gzipped else raw
            try:
                while block := stream.read(1 << 16):
                    lines += block.count(b"\n")
            except (EOFError, OSError, zlib.error):
                pass
    return lines


class IndexKeeper:
    """The bulk-load lock and the cell tables' secondary indexes, on a
    connection of its own (without the pool's read timeout: an index build
    takes minutes on a large table)."""

    def __init__(self, db: Any, redis: Any) -> None:
        self.db = db
        self.conn = self.connect()
        self._lock = ExpiringLock(redis, f"lock:{LOCK}{db.database}", LOCK_TTL)

    def connect(self) -> Any:
        import pymysql

        params = {**self.db.connect_params, "read_timeout": None, "write_timeout": None}
        conn = pymysql.connect(database=self.db.database, autocommit=True, **params)
        self.execute(f"SET SESSION lock_wait_timeout = {LOCK_WAIT}", conn=conn)
        return conn

    def execute(self, sql: str, *args: Any, conn: Any = None) -> list[tuple[Any, ...]]:
        with (conn or self.conn).cursor() as cursor:
            cursor.execute(sql, args or None)
            return list(cursor.fetchall())

    def lock(self) -> bool:
        """Take the bulk-load lock; False when another import holds it."""
        return self._lock.acquire()

    def close(self) -> None:
        self._lock.release()
        self.conn.close()

    def galera(self) -> bool:
        """Whether the server is a node of a Galera cluster (``wsrep_on``)."""
        rows = self.execute("SHOW VARIABLES LIKE 'wsrep_on'")
        return bool(rows) and str(rows[0][1]).upper() == "ON"

    def table_rows(self) -> dict[str, int]:
        """{table: estimated rows} of the cell tables."""
        rows = self.execute("SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES"
                            " WHERE TABLE_SCHEMA = DATABASE()")
        return {name: int(count or 0) for name, count in rows if name in TABLES}

    def indexes(self, table: str) -> dict[str, tuple[str, ...]]:
        """{name: columns} of the table's secondary indexes."""
        columns: dict[str, list[str]] = {}
        for row in self.execute(f"SHOW INDEX FROM `{table}`"):
            key_name, column = row[2], row[4]
            if key_name != "PRIMARY":
                columns.setdefault(key_name, []).append(column)
        return {name: tuple(names) for name, names in columns.items()}

    def missing(self, table: str) -> list[Index]:
        present = set(self.indexes(table).values())
        return [index for index in declared_indexes(TABLES[table])
                if index.columns not in present]

    def drop(self, table: str) -> int:
        """Drop the table's declared secondary indexes; how many were dropped."""
        declared = {index.columns for index in declared_indexes(TABLES[table])}
        names = [name for name, columns in self.indexes(table).items() if columns in declared]
        if names:
            self.execute(f"ALTER TABLE `{table}` "
                         + ", ".join(f"DROP INDEX `{name}`" for name in names))
        return len(names)

    def restore(self, tables: Iterable[str] = TABLES) -> dict[str, int]:
        """Add the declared indexes the tables lack; {table: indexes added}.

        Each table's are built in one pass over it, the tables' at once (on
        connections of their own): the server sorts on every core."""
        missing = {table: self.missing(table) for table in tables}
        missing = {table: indexes for table, indexes in missing.items() if indexes}
        with ThreadPoolExecutor(max(len(missing), 1), "cell-indexes") as threads:
            for done in [threads.submit(self._add, table, indexes)
                         for table, indexes in missing.items()]:
                done.result()
        return {table: len(indexes) for table, indexes in missing.items()}

    def _add(self, table: str, indexes: list[Index]) -> None:
        conn = self.connect()
        try:
            self.execute(f"ALTER TABLE `{table}` "
                         + ", ".join(f"ADD {index.definition()}" for index in indexes)
                         + ", ALGORITHM=INPLACE, LOCK=NONE", conn=conn)
        finally:
            conn.close()
        log.info("cell_indexes_restored", table=table, indexes=len(indexes))


def _restore_leftovers(keeper: IndexKeeper, notify: Callable[[str], Any]) -> dict[str, int]:
    added = keeper.restore()
    if added:
        notify("restored the indexes an interrupted bulk load had dropped: "
               + ", ".join(f"{table} ({n})" for table, n in added.items()))
    return added


def restore_indexes(context: HostContext,
                    notify: Callable[[str], Any]) -> dict[str, int] | None:
    """Restore the indexes a stopped bulk load left dropped; {table: indexes
    added}, or None when a bulk load is under way (it restores them itself)."""
    if not context.db.is_mysql:
        return {}
    keeper = IndexKeeper(context.db.rw, context.redis)
    try:
        if not keeper.lock():
            notify("a bulk load of the cell tables is under way: its import restores "
                   "their indexes")
            return None
        return _restore_leftovers(keeper, notify)
    finally:
        keeper.close()


def run(context: HostContext) -> bool:
    """The periodic job, also run by ``ichnaea db upgrade``: restore the
    indexes a killed bulk load left dropped, unless a bulk load is under way
    (MySQL; nothing to do on SQLite)."""
    restore_indexes(context, lambda message: log.info("cell_indexes_check", message=message))
    return False


@contextmanager
def bulk_load(context: HostContext, lines: int,
              notify: Callable[[str], Any]) -> Iterator[list[str]]:
    """Around an import of ``lines`` lines: the tables loaded in bulk.

    Restores what a stopped bulk load left dropped, drops the secondary
    indexes of the tables the import is large for, and rebuilds them when
    the import ends, whether it succeeded or not."""
    if not context.db.is_mysql:
        yield []
        return
    keeper = IndexKeeper(context.db.rw, context.redis)
    try:
        if not keeper.lock():
            if lines >= BULK_MIN_ROWS:
                notify("another import is loading the cell tables in bulk: this one "
                       "writes row by row")
            yield []
            return
        _restore_leftovers(keeper, notify)
        tables = [] if lines < BULK_MIN_ROWS else sorted(
            table for table, rows in keeper.table_rows().items() if lines > rows)
        if tables and keeper.galera():
            notify(f"Galera cluster: this import ({lines} lines) writes row by row and keeps "
                   "the indexes (dropping and rebuilding them would stop the whole cluster's "
                   "writes)")
            log.info("cell_bulk_load_skipped", lines=lines, reason="galera")
            tables = []
        if tables:
            dropped = sum(keeper.drop(table) for table in tables)
            notify(f"bulk load ({lines} lines, more than these tables hold): the secondary "
                   f"indexes of {', '.join(tables)} are dropped for the import and rebuilt "
                   "after it")
            log.info("cell_bulk_load", lines=lines, tables=tables, dropped=dropped)
        try:
            yield tables
        finally:
            if tables:
                notify(f"rebuilding the indexes of {', '.join(tables)} (if this is stopped, "
                       "the next import or 'ichnaea cells restore-indexes' finishes it) ...")
                start = time.monotonic()
                try:
                    keeper.restore(tables)
                except Exception as exc:
                    notify(f"ichnaea: rebuilding the indexes failed ({exc}); "
                           "'ichnaea cells restore-indexes' tries again")
                    raise
                notify(f"rebuilt the indexes in {time.monotonic() - start:.1f} s")
    finally:
        keeper.close()
