"""region_stat becomes one row per (region, kind) instead of one column per
radio: the kinds are whatever the station updaters count, so a new radio type
needs no migration of the host. Every figure of the old rows is kept (a NULL,
which the regions page showed as 0, is dropped)."""

import peewee as pw

#: the columns of the old table (001_initial and 003_region_stat_nr)
WIDE_COLUMNS = {"gsm": pw.IntegerField, "wcdma": pw.IntegerField, "lte": pw.IntegerField,
                "nr": pw.IntegerField, "blue": pw.BigIntegerField, "wifi": pw.BigIntegerField}
CHUNK = 500


def _narrow_model(database, table_name="region_stat"):
    class Meta:
        primary_key = pw.CompositeKey("region", "kind")

    Meta.table_name = table_name
    model = type("RegionStatKind", (pw.Model,), {
        "region": pw.CharField(max_length=2),
        "kind": pw.CharField(max_length=32),
        "count": pw.BigIntegerField(),
        "Meta": Meta,
        "__module__": __name__,
    })
    model.bind(database)
    return model


def _wide_model(database):
    class Meta:
        table_name = "region_stat"

    attrs = {"region": pw.CharField(max_length=2, primary_key=True), "Meta": Meta,
             "__module__": __name__}
    for column, field in WIDE_COLUMNS.items():
        attrs[column] = field(null=True)
    model = type("RegionStatWide", (pw.Model,), attrs)
    model.bind(database)
    return model


def _insert(model, rows):
    for start in range(0, len(rows), CHUNK):
        model.insert_many(rows[start:start + CHUNK]).execute()


def _to_kinds(database):
    database.execute_sql("ALTER TABLE region_stat RENAME TO region_stat_wide")
    kinds = [c.name for c in database.get_columns("region_stat_wide") if c.name != "region"]
    old = pw.Table("region_stat_wide", ("region", *kinds)).bind(database)
    rows = []
    for region, *values in old.select(old.region, *(getattr(old, k) for k in kinds)).tuples():
        for kind, value in zip(kinds, values, strict=True):
            if value is not None:
                rows.append({"region": region, "kind": kind, "count": int(value)})
    new = _narrow_model(database)
    new.create_table()
    _insert(new, rows)
    database.execute_sql("DROP TABLE region_stat_wide")


def _to_columns(database):
    database.execute_sql("ALTER TABLE region_stat RENAME TO region_stat_kinds")
    old = _narrow_model(database, "region_stat_kinds")
    wide: dict = {}
    for region, kind, count in old.select(old.region, old.kind, old.count).tuples():
        if kind in WIDE_COLUMNS:
            wide.setdefault(region, {})[kind] = count
    new = _wide_model(database)
    new.create_table()
    _insert(new, [{"region": region, **{c: values.get(c, 0) for c in WIDE_COLUMNS}}
                  for region, values in sorted(wide.items())])
    database.execute_sql("DROP TABLE region_stat_kinds")


def migrate(migrator, database, fake=False, **kwargs):
    migrator.run(_to_kinds, database)


def rollback(migrator, database, fake=False, **kwargs):
    migrator.run(_to_columns, database)
