"""The SQL of the station tables, written out rather than built by peewee.

Reading and writing station rows on MySQL without peewee's query objects:
building and converting them cost more than running the statements. The
updater reads the rows of a batch's keys locked (:func:`read_rows`) and
writes them back in one statement (:func:`write_rows`); the search reads the
stations of a query in one keyed ``IN`` statement (:func:`search_statement`,
:func:`search_row_reader`).
"""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import peewee
from pymysql.converters import escape_string

from ichnaea_host.core.db import BinaryKeyField, is_mysql, select_for_update
from ichnaea_host.stations.columns import Station

# ---------------------------------------------------------------------------
# reading and writing station rows on MySQL, without peewee's query objects
# (building and converting them cost more than running the statements)


def _quote(db: Any, name: str) -> str:
    return f"{db.quote[0]}{name}{db.quote[1]}"


def _key_literal(value: Any) -> str:
    """A binary key (hex text, as the models show it) as a MySQL literal."""
    raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    return f"X'{raw.hex()}'"


#: what stands for NULL in a packed row (no column's text is empty: the
#: region codes are two letters, every other column a number, a date or a key)
_PACKED_NULL = ""


@functools.cache
def _packed_reader(model: type[peewee.Model]) -> tuple[str, Any, list[Any], int] | None:
    """How to read a model's rows on MySQL as one packed text value each:
    the ``CONCAT_WS`` expression, the named tuple, the text -> value function
    of every column and the key's index; None when a column's type has no
    such function.

    pymysql decodes every value of every row in Python, a date or a time
    dearly: with one comma-separated text value split here, reading a row
    costs about half as much. MySQL writes a DOUBLE's shortest exact text,
    so the floats come back unchanged.
    """
    db = model._meta.database
    fields = model._meta.sorted_fields
    parts = []
    converters: list[Any] = []
    for field in fields:
        column = _quote(db, field.column_name)
        kind = type(field)
        convert: Callable[[str], Any]
        if isinstance(field, BinaryKeyField):  # lowercase hex, as the models show keys
            column, convert = f"LOWER(HEX({column}))", str
        elif kind in (peewee.FloatField, peewee.DoubleField):
            convert = float
        elif kind in (peewee.IntegerField, peewee.BigIntegerField, peewee.SmallIntegerField):
            convert = int
        elif kind is peewee.DateTimeField:
            convert = datetime.fromisoformat
        elif kind is peewee.DateField:
            convert = date.fromisoformat
        elif kind is peewee.CharField:
            convert = str
        else:
            return None
        parts.append(f"IFNULL({column}, '{_PACKED_NULL}')")
        converters.append(convert)
    row_type = collections.namedtuple(f"{model.__name__}Row",  # type: ignore[misc]
                                      [f.name for f in fields])
    key_index = fields.index(model._meta.primary_key)
    return f"CONCAT_WS(',', {', '.join(parts)})", row_type, converters, key_index


def read_rows(model: type[peewee.Model], key_field: peewee.Field,
              keys: list[str]) -> dict[str, Any]:
    """The rows of these keys as named tuples by key, locked until the
    transaction ends."""
    reader = _packed_reader(model) if is_mysql(model) else None
    if reader is None or not isinstance(key_field, BinaryKeyField) \
            or key_field is not model._meta.primary_key:
        query = select_for_update(model.select().where(key_field.in_(keys)))
        return {getattr(r, key_field.name): r for r in query.namedtuples()}
    db = model._meta.database
    packed, row_type, converters, key_index = reader
    cursor = db.execute_sql(
        f"SELECT {packed} FROM {_quote(db, model._meta.table_name)} "
        f"WHERE {_quote(db, key_field.column_name)} IN "
        f"({', '.join(map(_key_literal, keys))}) FOR UPDATE")
    rows = {}
    for (text,) in cursor.fetchall():
        row = row_type._make([None if value == _PACKED_NULL else convert(value)
                              for convert, value in zip(converters, text.split(","),
                                                        strict=True)])
        rows[row[key_index]] = row
    return rows


def write_rows(model: type[peewee.Model], key_field: peewee.Field,
               rows: list[dict[str, Any]], chunk: int = 500) -> None:
    """Insert the station rows, replacing every column of the existing ones.

    The same statement as :func:`ichnaea_host.core.db.upsert` with every column
    preserved, written out directly: building it through peewee's query
    objects cost more than running it.
    """
    db = model._meta.database
    fields = model._meta.sorted_fields
    table = _quote(db, model._meta.table_name)
    names = [_quote(db, f.column_name) for f in fields]
    others = [n for f, n in zip(fields, names, strict=True) if f is not key_field]
    mysql = is_mysql(model)
    if mysql:
        conflict = "ON DUPLICATE KEY UPDATE " + ", ".join(f"{n} = VALUES({n})" for n in others)
    else:
        conflict = (f"ON CONFLICT ({_quote(db, key_field.column_name)}) DO UPDATE SET "
                    + ", ".join(f"{n} = excluded.{n}" for n in others))
    insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES "
    if mysql:  # literals: pymysql's own escaping is the slowest part
        literals = _column_literals(model)
        for start in range(0, len(rows), chunk):
            rendered = ", ".join(
                "(" + ", ".join([_NULL if (value := row.get(name)) is None else literal(value)
                                 for name, literal in literals]) + ")"
                for row in rows[start:start + chunk])
            db.execute_sql(f"{insert}{rendered} {conflict}")
        return
    placeholders = "(" + ", ".join([db.param] * len(fields)) + ")"
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        params = [None if row.get(f.name) is None else f.db_value(row[f.name])
                  for row in part for f in fields]
        db.execute_sql(f"{insert}{', '.join([placeholders] * len(part))} {conflict}", params)


_NULL = "NULL"


@functools.cache
def _column_literals(model: type[peewee.Model]) -> list[tuple[str, Any]]:
    """(field name, value -> MySQL literal) of every column of a model."""
    out: list[tuple[str, Any]] = []
    for field in model._meta.sorted_fields:
        kind = type(field)
        literal: Any
        if isinstance(field, BinaryKeyField):
            literal = _key_literal
        elif kind in (peewee.FloatField, peewee.DoubleField):
            literal = _float_literal
        elif kind in (peewee.IntegerField, peewee.BigIntegerField, peewee.SmallIntegerField):
            literal = _int_literal
        else:
            # dates and region codes: a batch holds few different values
            literal = functools.lru_cache(maxsize=1024, typed=True)(
                functools.partial(_field_literal, field))
        out.append((field.name, literal))
    return out


def _float_literal(value: Any) -> str:
    """17 significant digits, which give back the same double, in exponent
    form: a DOUBLE literal, not a DECIMAL one (and half the time of ``repr``)."""
    text = f"{value:.16e}"
    if text[-1] in "fn":  # inf, nan
        raise ValueError(f"{text} cannot be stored")
    return text


def _int_literal(value: Any) -> str:
    return str(int(value))


def _field_literal(field: peewee.Field, value: Any) -> str:
    kind = type(value)
    if kind is datetime:
        return "'" + value.isoformat(" ") + "'"
    if kind is date:
        return "'" + value.isoformat() + "'"
    return mysql_literal(field.db_value(value))


def mysql_literal(value: Any) -> str:
    """A MySQL literal of a station column value (floats, ints, keys, dates, codes)."""
    kind = type(value)
    if value is None:
        return "NULL"
    if kind is float:
        text = repr(value)
        if "e" in text:
            return text
        if not math.isfinite(value):
            raise ValueError(f"{text} cannot be stored")
        return text + "e0"  # a DOUBLE literal, not a DECIMAL one
    if kind is int:
        return str(value)
    if kind is bytes:
        return f"X'{value.hex()}'"
    if kind is datetime:
        return f"'{value.isoformat(' ')}'"
    if kind is date:
        return f"'{value.isoformat()}'"
    if kind is bool:
        return "1" if value else "0"
    return "'" + escape_string(str(value)) + "'"



# ---------------------------------------------------------------------------
# reading the stations of a geolocate query


#: the columns a search reads, in the order of :class:`~.columns.Station`
COLUMNS = Station._fields


#: columns read as one comma-separated text value besides the key and the
#: position: the MySQL driver decodes every value of every row in Python, and
#: one text value split here costs a fraction of what the columns cost it (a
#: locate reads 10-20 rows)
PACKED = COLUMNS[3:]


@functools.cache
def search_statement(mysql: bool, quote: tuple[str, str], table: str, key: str = "mac") -> str:
    """``SELECT .. FROM table WHERE .. key IN``, for stations with a position;
    the caller appends the list of keys (``key``: the binary key column).

    On MySQL a row is one text value: the key in hex, then every other
    column of :class:`~.columns.Station` (MySQL writes a DOUBLE's shortest
    exact text, so the floats come back unchanged); on SQLite ``key, lat,
    lon`` and the packed columns."""
    q0, q1 = quote
    values = [f"IFNULL({q0}{c}{q1}, '')" for c in PACKED]
    if mysql:
        columns = (f"CONCAT_WS(',', LOWER(HEX({q0}{key}{q1})), {q0}lat{q1}, {q0}lon{q1}, "
                   f"{', '.join(values)})")
    else:
        packed = " || ',' || ".join(values)
        columns = f"{q0}{key}{q1}, {q0}lat{q1}, {q0}lon{q1}, {packed}"
    return (f"SELECT {columns} FROM {q0}{table}{q1} "
            f"WHERE {q0}lat{q1} IS NOT NULL AND {q0}lon{q1} IS NOT NULL AND {q0}{key}{q1} IN ")


def _mysql_row(row: tuple) -> Station:
    """A row of MySQL's: one text value, numbers and dates in its canonical forms."""
    (mac, lat, lon, radius, samples, created, modified, last_seen, block_last,
     block_count) = row[0].split(",")
    return Station(mac, float(lat), float(lon),
                   int(radius) if radius else None,
                   int(samples) if samples else None,
                   datetime.fromisoformat(created) if created else None,
                   datetime.fromisoformat(modified) if modified else None,
                   date.fromisoformat(last_seen) if last_seen else None,
                   date.fromisoformat(block_last) if block_last else None,
                   int(block_count) if block_count else None)


def search_row_reader(db: peewee.Database, model: type[peewee.Model],
                      key: str = "mac") -> Callable[[tuple], Station]:
    """Turns a row into a :class:`Station` (its key, in hex, as ``mac``):
    SQLite's text values go through the model's fields, which accept every
    form the tables may hold."""
    if isinstance(db, peewee.MySQLDatabase):
        return _mysql_row
    return _sqlite_reader(model, key)


@functools.cache
def _sqlite_reader(model: type[peewee.Model], key_name: str = "mac") -> Callable[[tuple], Station]:
    fields = model._meta.fields
    key = fields[key_name].python_value
    convert = [fields[name].python_value for name in PACKED]

    def read_sqlite(row: tuple) -> Station:
        mac, lat, lon, packed = row
        rest = [f(v) if v else None for f, v in zip(convert, packed.split(","), strict=True)]
        return Station(key(mac), float(lat), float(lon), *rest)
    return read_sqlite
