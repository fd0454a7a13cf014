"""One blue station table, ``blue``, keyed by the MAC, instead of the sixteen
shard tables blue_shard_0 .. blue_shard_f; their rows move into it in chunks
(DESIGN.md §6: one logical table per radio type, which a distributed SQL
engine shards for us). The pipeline's queues update_blue_0 .. _f stay, as
work partitions writing into this table.
"""

import peewee as pw

from ichnaea_host import MacField, merge_shards, split_into_shards

SHARDS = "0123456789abcdef"
TABLE = "blue"


def _table(name):
    class Meta:
        table_name = name
        indexes = ((("lat", "lon"), False),)

    attrs = {
        "mac": MacField(primary_key=True),
        "lat": pw.DoubleField(null=True),
        "lon": pw.DoubleField(null=True),
        "max_lat": pw.DoubleField(null=True),
        "min_lat": pw.DoubleField(null=True),
        "max_lon": pw.DoubleField(null=True),
        "min_lon": pw.DoubleField(null=True),
        "created": pw.DateTimeField(null=True, index=True),
        "modified": pw.DateTimeField(null=True, index=True),
        "radius": pw.IntegerField(null=True),
        "region": pw.CharField(max_length=2, null=True, index=True),
        "samples": pw.BigIntegerField(null=True),
        "source": pw.SmallIntegerField(null=True),
        "weight": pw.DoubleField(null=True),
        "last_seen": pw.DateField(null=True),
        "block_first": pw.DateField(null=True),
        "block_last": pw.DateField(null=True),
        "block_count": pw.SmallIntegerField(null=True),
        "Meta": Meta,
        "__module__": __name__,
    }
    return type(f"Station_{name}", (pw.Model,), attrs)


def _columns(model):
    return [field.column_name for field in model._meta.sorted_fields]


def migrate(migrator, database, fake=False, **kwargs):
    if fake:  # replayed to learn the schema before a later migration: reads nothing
        return
    model = _table(TABLE)
    model._meta.database = database
    model.create_table(safe=True)  # safe: a move stopped halfway goes on
    migrator.run(merge_shards, database, TABLE, [f"{TABLE}_shard_{s}" for s in SHARDS],
                 _columns(model))


def rollback(migrator, database, fake=False, **kwargs):
    if fake:  # replayed to learn the schema before a later migration: reads nothing
        return
    model = _table(TABLE)
    shards = {s: _table(f"{TABLE}_shard_{s}") for s in SHARDS}
    for shard in shards.values():
        shard._meta.database = database
        shard.create_table(safe=True)
    split_into_shards(database, TABLE, {s: m._meta.table_name for s, m in shards.items()},
                      _columns(model))
    q = "`" if isinstance(database, pw.MySQLDatabase) else '"'
    migrator.sql(f"DROP TABLE {q}{TABLE}{q}")
