"""The sixteen wifi station shards, wifi_shard_0 .. wifi_shard_f."""

import peewee as pw

from ichnaea_host import MacField

SHARDS = "0123456789abcdef"


def _shard(table):
    class Meta:
        table_name = table
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
    return type(f"WifiShard{table[-1]}", (pw.Model,), attrs)


def migrate(migrator, database, fake=False, **kwargs):
    for shard in SHARDS:
        migrator.create_model(_shard(f"wifi_shard_{shard}"))


def rollback(migrator, database, fake=False, **kwargs):
    for shard in SHARDS:
        migrator.remove_model(f"wifi_shard_{shard}")
