"""The cell tables gain ``arfcn``: the last known channel of a cell (ARFCN,
UARFCN, EARFCN or NR-ARFCN, as NeoStumbler and WiGLE files send it), beside
its last known ``psc``. Neither is part of the cell's identity (the 13-byte
key) nor of the public cell export; the two together recognise a neighbour
that a phone names only by its physical id on a channel.
"""

import peewee as pw

RADIOS = ("gsm", "wcdma", "lte", "nr")


def migrate(migrator, database, fake=False, **kwargs):
    for radio in RADIOS:
        migrator.add_fields(f"cell_{radio}", arfcn=pw.IntegerField(null=True))


def rollback(migrator, database, fake=False, **kwargs):
    for radio in RADIOS:
        migrator.remove_fields(f"cell_{radio}", "arfcn")
