"""api_key gets an ``allow_raw`` column: keys whose geolocate answers list the
networks used, with their positions (microG's ``raw``). Off for every key."""

import peewee as pw


def migrate(migrator, database, fake=False, **kwargs):
    migrator.add_fields("api_key", allow_raw=pw.BooleanField(null=True, default=False))


def rollback(migrator, database, fake=False, **kwargs):
    migrator.remove_fields("api_key", "allow_raw")
