"""The cell tables lose their unique index on (radio, mcc, mnc, lac, cid).

The 13-byte primary key ``cellid`` encodes exactly those columns, so the
index only doubled the work of every insert; the original service's cell
tables had none either (primary key, created, modified, (lat, lon) and
region). A look-up by identity or by area goes through the primary key.
"""

import peewee as pw

RADIOS = ("gsm", "wcdma", "lte", "nr")
COLUMNS = ["radio", "mcc", "mnc", "lac", "cid"]


def _identity_indexes(database, table):
    """The names of the table's indexes on exactly the identity columns."""
    return [index.name for index in database.get_indexes(table)
            if list(index.columns) == COLUMNS]


def migrate(migrator, database, fake=False, **kwargs):
    if fake:  # replayed to learn the schema before a later migration: reads nothing
        return
    mysql = isinstance(database, pw.MySQLDatabase)
    for radio in RADIOS:
        table = f"cell_{radio}"
        for name in _identity_indexes(database, table):
            migrator.sql(f"DROP INDEX `{name}` ON `{table}`" if mysql else f'DROP INDEX "{name}"')


def rollback(migrator, database, fake=False, **kwargs):
    if fake:  # replayed to learn the schema before a later migration: reads nothing
        return
    q = "`" if isinstance(database, pw.MySQLDatabase) else '"'
    for radio in RADIOS:
        table = f"cell_{radio}"
        if not _identity_indexes(database, table):
            migrator.sql(f"CREATE UNIQUE INDEX {q}{table}_radio_mcc_mnc_lac_cid{q} "
                         f"ON {q}{table}{q} ({', '.join(COLUMNS)})")
