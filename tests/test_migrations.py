"""Host migrations run on a database holding rows of an older schema, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import peewee
import pytest

from ichnaea_host.core import migrate
from ichnaea_host.core.db import Database, make_database
from ichnaea_host.core.models import RegionStat
from ichnaea_host.site.data import region_rows

#: region_stat as 003_region_stat_nr left it: one column per radio; NULLs where
#: a region had none of a kind (rows written before 003 have no ``nr``)
OLD_ROWS = [
    ("DE", 2, 1, None, None, None, 4),
    ("GB", 0, 0, 3, 1, 1, 1),
    ("KR", None, None, 1, 2, None, None),
    ("QQ", 0, 0, 5, 0, 0, 0),
]
OLD_COLUMNS = ("region", "gsm", "wcdma", "lte", "nr", "blue", "wifi")


@pytest.fixture
def old_database(backend: str, backend_uris: tuple[str, str], tmp_path: Any
                 ) -> Iterator[tuple[str, peewee.Database]]:
    """An empty database of its own (not the tests' shared one), to migrate step by step."""
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'old.sqlite'}"
    else:
        uri = backend_uris[0].split("?")[0] + "_migration"
    database = make_database(uri, create=True)
    if backend != "sqlite":
        database.execute_sql("DROP TABLE IF EXISTS region_stat, region_stat_wide, "
                             "region_stat_kinds, migratehistory_host")
    yield uri, database
    if backend != "sqlite":
        database.execute_sql(f"DROP DATABASE `{database.database}`")
    database.close()


def test_region_stat_rows_of_one_column_per_radio_become_rows_per_kind(old_database):
    uri, database = old_database
    router = migrate.NamespacedRouter(database, "host", migrate.HOST_MIGRATIONS.path)
    assert router.run("003_region_stat_nr")[-1] == "003_region_stat_nr"
    marks = ", ".join(["%s" if isinstance(database, peewee.MySQLDatabase) else "?"] * 7)
    for row in OLD_ROWS:
        database.execute_sql(f"INSERT INTO region_stat ({', '.join(OLD_COLUMNS)}) "
                             f"VALUES ({marks})", row)

    assert migrate.upgrade(database, []) == ["host:004_region_stat_kinds",
                                             "host:005_api_key_allow_raw"]
    assert {c.name for c in database.get_columns("region_stat")} == {"region", "kind", "count"}
    assert "region_stat_wide" not in database.get_tables()
    with database.bind_ctx([RegionStat]):
        stored = {(r.region, r.kind, r.count) for r in RegionStat.select()}
        expected = {(row[0], kind, value) for row in OLD_ROWS
                    for kind, value in zip(OLD_COLUMNS[1:], row[1:], strict=True)
                    if value is not None}
        assert stored == expected
        with pytest.raises(peewee.IntegrityError), database.atomic():
            RegionStat.insert(region="DE", kind="gsm", count=9).execute()

    # the regions page reads the same figures as before
    rows = region_rows(SimpleNamespace(db=Database(uri)))
    figures = {row["code"]: row["values"] for row in rows}
    assert figures["DE"] == {"gsm": 2, "wcdma": 1, "lte": 0, "nr": 0, "blue": 0, "wifi": 4}
    assert figures["KR"] == {"gsm": 0, "wcdma": 0, "lte": 1, "nr": 2, "blue": 0, "wifi": 0}
    assert [row["code"] for row in rows] == ["DE", "GB", "QQ", "KR"]  # most networks first


def test_region_stat_rows_per_kind_roll_back_to_columns(old_database):
    _, database = old_database
    router = migrate.NamespacedRouter(database, "host", migrate.HOST_MIGRATIONS.path)
    router.run("004_region_stat_kinds")
    with database.bind_ctx([RegionStat]):
        RegionStat.insert_many([{"region": "DE", "kind": "gsm", "count": 2},
                                {"region": "DE", "kind": "wifi", "count": 4},
                                {"region": "FR", "kind": "nr", "count": 1},
                                {"region": "FR", "kind": "zigbee", "count": 3}]).execute()
    router.rollback()
    assert router.done[-1] == "003_region_stat_nr"
    rows = database.execute_sql(f"SELECT {', '.join(OLD_COLUMNS)} FROM region_stat "
                                "ORDER BY region").fetchall()
    # a kind without a column of the old table is dropped
    assert [tuple(row) for row in rows] == [("DE", 2, 0, 0, 0, 0, 4), ("FR", 0, 0, 0, 1, 0, 0)]


def test_each_latest_migration_applies_on_the_release_before_it(old_database):
    """An upgrade from the release before: every migration but the last of each
    namespace is applied, then ``upgrade`` applies the last. peewee-migrate
    first replays the applied ones without a database (``fake``), so none may
    read or write there."""
    from ichnaea_host.core.settings import Settings
    from ichnaea_host.plugins.manager import build_plugin_host

    _, database = old_database
    dirs = build_plugin_host(Settings.from_env({})).migration_dirs
    migrate.upgrade(database, dirs)
    latest = []
    for router in migrate._routers(database, dirs):
        if len(router.done) >= 2:
            latest.append(f"{router.namespace}:{router.done[-1]}")
            router.rollback()  # the schema as the release before left it
    assert latest, "no namespace has two migrations yet"
    assert sorted(migrate.upgrade(database, dirs)) == sorted(latest)
    assert migrate.pending(database, dirs) == []
