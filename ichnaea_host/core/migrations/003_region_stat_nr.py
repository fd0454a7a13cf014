"""region_stat gets an ``nr`` column: 5G NR cells per region, which the
original's table had no column for."""

import peewee as pw


def migrate(migrator, database, fake=False, **kwargs):
    migrator.add_fields("region_stat", nr=pw.IntegerField(null=True))


def rollback(migrator, database, fake=False, **kwargs):
    migrator.remove_fields("region_stat", "nr")
