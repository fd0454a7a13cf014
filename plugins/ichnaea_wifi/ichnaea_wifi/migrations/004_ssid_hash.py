"""The wifi stations get an ``ssid_hash`` column: the first 4 bytes of the
SHA-256 of the name (SSID) a network was last seen with, never the name
itself; the WiFi dump keys its networks by it (``ichnaea_wifi.ssid``).
Empty for every station until a report names it again.

On MariaDB a nullable column added at the end of the table is an instant
change, however many rows the table holds.
"""

import peewee as pw

TABLE = "wifi"
COLUMN = "ssid_hash"


def _has_column(database):
    return any(c.name == COLUMN for c in database.get_columns(TABLE))


def migrate(migrator, database, fake=False, **kwargs):
    if fake:  # replayed to learn the schema before a later migration: reads nothing
        return
    if _has_column(database):
        return
    if isinstance(database, pw.MySQLDatabase):
        migrator.sql(f"ALTER TABLE `{TABLE}` ADD COLUMN `{COLUMN}` BINARY(4) NULL")
    else:
        migrator.sql(f'ALTER TABLE "{TABLE}" ADD COLUMN "{COLUMN}" BINARY(4)')


def rollback(migrator, database, fake=False, **kwargs):
    if fake:  # replayed to learn the schema before a later migration: reads nothing
        return
    if not _has_column(database):
        return
    q = "`" if isinstance(database, pw.MySQLDatabase) else '"'
    migrator.sql(f"ALTER TABLE {q}{TABLE}{q} DROP COLUMN {q}{COLUMN}{q}")
