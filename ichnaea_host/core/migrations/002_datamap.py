"""The datamap grid tables: datamap_ne, datamap_nw, datamap_se, datamap_sw."""

import peewee as pw

SHARDS = ("ne", "nw", "se", "sw")


class Grid(pw.Field):
    """BINARY(8) on MySQL, a blob on SQLite."""

    field_type = "BINARY"

    def get_modifiers(self):
        return [8]


def _table(shard):
    class Meta:
        table_name = f"datamap_{shard}"

    attrs = {
        "grid": Grid(primary_key=True),
        "created": pw.DateField(index=True),
        "modified": pw.DateField(index=True),
        "Meta": Meta,
        "__module__": __name__,
    }
    return type(f"DataMap{shard.upper()}", (pw.Model,), attrs)


def migrate(migrator, database, fake=False, **kwargs):
    for shard in SHARDS:
        migrator.create_model(_table(shard))


def rollback(migrator, database, fake=False, **kwargs):
    for shard in SHARDS:
        migrator.remove_model(f"datamap_{shard}")
