"""The cell tables: cell_gsm, cell_wcdma, cell_lte, cell_nr (keyed by a 13-byte
cell id) and cell_area (keyed by an 8-byte area id)."""

import peewee as pw

from ichnaea_host import BinaryKeyField

RADIOS = ("gsm", "wcdma", "lte", "nr")


class CellIdField(BinaryKeyField):
    LENGTH = 13


class AreaIdField(BinaryKeyField):
    LENGTH = 8


def _cell_table(radio):
    class Meta:
        table_name = f"cell_{radio}"
        indexes = ((("lat", "lon"), False), (("radio", "mcc", "mnc", "lac", "cid"), True))

    attrs = {
        "cellid": CellIdField(primary_key=True),
        "radio": pw.SmallIntegerField(),
        "mcc": pw.SmallIntegerField(),
        "mnc": pw.SmallIntegerField(),
        "lac": pw.IntegerField(),
        "cid": pw.BigIntegerField(),
        "psc": pw.SmallIntegerField(null=True),
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
    return type(f"Cell{radio.title()}", (pw.Model,), attrs)


def migrate(migrator, database, fake=False, **kwargs):
    for radio in RADIOS:
        migrator.create_model(_cell_table(radio))

    @migrator.create_model
    class CellArea(pw.Model):
        areaid = AreaIdField(primary_key=True)
        radio = pw.SmallIntegerField()
        mcc = pw.SmallIntegerField()
        mnc = pw.SmallIntegerField()
        lac = pw.IntegerField()
        lat = pw.DoubleField(null=True)
        lon = pw.DoubleField(null=True)
        created = pw.DateTimeField(null=True, index=True)
        modified = pw.DateTimeField(null=True, index=True)
        radius = pw.IntegerField(null=True)
        region = pw.CharField(max_length=2, null=True)
        avg_cell_radius = pw.IntegerField(null=True)
        num_cells = pw.IntegerField(null=True)
        last_seen = pw.DateField(null=True)

        class Meta:
            table_name = "cell_area"
            indexes = (
                (("radio", "mcc", "mnc", "lac"), True),
                (("region", "radio"), False),
                (("lat", "lon"), False),
            )


def rollback(migrator, database, fake=False, **kwargs):
    migrator.remove_model("cell_area")
    for radio in RADIOS:
        migrator.remove_model(f"cell_{radio}")
