"""The cell tables: ``cell_gsm``, ``cell_wcdma``, ``cell_lte``, ``cell_nr`` and ``cell_area``.

Each radio's table has the station columns every network kind has, keyed by
the 13-byte cell id, plus the cell's identity as plain columns (radio, mcc,
mnc, lac, cid, psc), as in the public cell export, and the last known
channel (``arfcn``); the cell id encodes the
identity, so a look-up by identity or by area is one by the primary key.
``cell_area`` keeps one row per location area, computed from its cells.
"""

from __future__ import annotations

from typing import Any

import peewee

from ichnaea_host import BaseModel, BinaryKeyField, station_fields

from .cells import AREAID_BYTES, CELLID_BYTES, RADIOS


class CellIdField(BinaryKeyField):
    LENGTH = CELLID_BYTES


class AreaIdField(BinaryKeyField):
    LENGTH = AREAID_BYTES


def identity_fields() -> dict[str, peewee.Field]:
    return {
        "radio": peewee.SmallIntegerField(),
        "mcc": peewee.SmallIntegerField(),
        "mnc": peewee.SmallIntegerField(),
        "lac": peewee.IntegerField(),
        "cid": peewee.BigIntegerField(),
        "psc": peewee.SmallIntegerField(null=True),
        # the last known channel (ARFCN, UARFCN, EARFCN, NR-ARFCN): not part
        # of the identity, nor of the public cell export
        "arfcn": peewee.IntegerField(null=True),
    }


def cell_model(radio: str) -> type[peewee.Model]:
    table = f"cell_{radio}"
    attrs: dict[str, Any] = {
        "cellid": CellIdField(primary_key=True),
        **identity_fields(),
        **station_fields(),
        "__module__": __name__,
    }
    attrs["Meta"] = type("Meta", (), {
        "table_name": table,
        # no index on the identity columns: the primary key encodes them
        "indexes": ((("lat", "lon"), False),),
    })
    return type(f"Cell_{radio}", (BaseModel,), attrs)


CELL_MODELS: dict[str, Any] = {radio: cell_model(radio) for radio in RADIOS}


class CellArea(BaseModel):
    areaid = AreaIdField(primary_key=True)
    radio = peewee.SmallIntegerField()
    mcc = peewee.SmallIntegerField()
    mnc = peewee.SmallIntegerField()
    lac = peewee.IntegerField()
    lat = peewee.DoubleField(null=True)
    lon = peewee.DoubleField(null=True)
    created = peewee.DateTimeField(null=True, index=True)
    modified = peewee.DateTimeField(null=True, index=True)
    radius = peewee.IntegerField(null=True)
    region = peewee.CharField(max_length=2, null=True)
    avg_cell_radius = peewee.IntegerField(null=True)
    num_cells = peewee.IntegerField(null=True)
    last_seen = peewee.DateField(null=True)

    class Meta:
        table_name = "cell_area"
        indexes = (
            (("radio", "mcc", "mnc", "lac"), True),
            (("region", "radio"), False),
            (("lat", "lon"), False),
        )
