"""Moving station rows between hand-made shard tables and one table per radio.

The radio plugins' migrations use these: the sixteen ``<radio>_shard_<x>``
tables of a MAC radio became one ``<radio>`` table keyed by the MAC
(DESIGN.md §6). The move is resumable: rows go over in chunks of the key's
order, on MySQL each chunk committed on its own (SQLite runs a migration in
one transaction), and a shard table is dropped once all of its rows are
over; a move stopped halfway goes on where it stopped when the migration
runs again (the rows of a shard table copied twice are skipped).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import peewee

from ichnaea_host.core.log import get_logger

log = get_logger("ichnaea.migrate")

#: rows per chunk of a move
CHUNK = 5000


def _q(database: peewee.Database, name: str) -> str:
    return f"{database.quote[0]}{name}{database.quote[1]}"


def merge_shards(database: peewee.Database, table: str, shards: Iterable[str],
                 columns: Sequence[str], key: str = "mac", chunk: int | None = None) -> int:
    """Move every row of the ``shards`` tables (those that exist) into ``table``
    (which exists, with the same ``columns``), ``chunk`` rows (default
    :data:`CHUNK`) a transaction,
    and drop each shard table once it is empty of new rows; return the rows moved."""
    chunk = chunk or CHUNK
    mysql = isinstance(database, peewee.MySQLDatabase)
    insert = "INSERT IGNORE" if mysql else "INSERT OR IGNORE"
    names = ", ".join(_q(database, c) for c in columns)
    k, param = _q(database, key), database.param
    existing = set(database.get_tables())
    moved = 0
    for shard in shards:
        if shard not in existing:
            continue
        source = _q(database, shard)
        low: bytes | None = None
        while True:
            after = f"{k} > {param}" if low is not None else "1 = 1"
            args: list[object] = [] if low is None else [low]
            row = database.execute_sql(
                f"SELECT {k} FROM {source} WHERE {after} ORDER BY {k} "
                f"LIMIT 1 OFFSET {chunk - 1}", args).fetchone()
            high = None if row is None else bytes(row[0])
            upto = "" if high is None else f" AND {k} <= {param}"
            cursor = database.execute_sql(
                f"{insert} INTO {_q(database, table)} ({names}) SELECT {names} FROM {source} "
                f"WHERE {after}{upto}", args + ([] if high is None else [high]))
            moved += max(cursor.rowcount, 0)
            if mysql:
                database.commit()
            if high is None:
                break
            low = high
        database.execute_sql(f"DROP TABLE {source}")
        log.info("station_shard_merged", table=table, shard=shard)
    return moved


def split_into_shards(database: peewee.Database, table: str, shards: dict[str, str],
                      columns: Sequence[str], key: str = "mac") -> None:
    """The way back: copy the rows of ``table`` into the shard tables
    (``{partition hex digit: shard table}``, which exist), by the fifth hex
    digit of their key."""
    names = ", ".join(_q(database, c) for c in columns)
    k = _q(database, key)
    for digit, shard in shards.items():
        database.execute_sql(
            f"INSERT INTO {_q(database, shard)} ({names}) SELECT {names} "
            f"FROM {_q(database, table)} WHERE LOWER(SUBSTR(HEX({k}), 5, 1)) = {database.param}",
            [digit])
