"""The wifi and blue migrations 002: the rows of the sixteen shard tables move
into one table per radio type, and are located from there, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import peewee
import pytest

from ichnaea_host.app import create_app
from ichnaea_host.core import migrate
from ichnaea_host.core.db import make_database
from ichnaea_host.core.models import ApiKeyRow
from ichnaea_host.stations import merge

SHARDS = "0123456789abcdef"
FIELD = {"wifi": "wifiAccessPoints", "blue": "bluetoothBeacons"}


@pytest.fixture
def old_database(backend: str, backend_uris: tuple[str, str], tmp_path: Any
                 ) -> Iterator[tuple[str, peewee.Database]]:
    """An empty database of its own, to migrate step by step."""
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'stations.sqlite'}"
    else:
        uri = backend_uris[0].split("?")[0] + "_stations"
    database = make_database(uri, create=True)
    if backend != "sqlite":
        name = database.database
        database.execute_sql(f"DROP DATABASE IF EXISTS `{name}`")
        database.execute_sql(f"CREATE DATABASE `{name}`")
        database.execute_sql(f"USE `{name}`")
    yield uri, database
    if backend != "sqlite":
        database.execute_sql(f"DROP DATABASE `{database.database}`")
    database.close()


def _old_rows(macs: list[str]) -> list[tuple[Any, ...]]:
    now = datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003 - naive UTC columns
    rows = []
    for i, mac in enumerate(macs):
        lat, lon = 51.5 + (i % 4) * 2e-4, -0.1
        rows.append((bytes.fromhex(mac), lat, lon, lat, lat, lon, lon, now - timedelta(days=30),
                     now, 40, 50, 3, 10.0, now.date(), "GB"))
    return rows


COLUMNS = ("mac", "lat", "lon", "max_lat", "min_lat", "max_lon", "min_lon", "created",
           "modified", "radius", "samples", "source", "weight", "last_seen", "region")


@pytest.mark.parametrize("radio", ["wifi", "blue"])
def test_rows_of_the_shard_tables_move_into_one_table_and_locate(
        radio, make_runtime, old_database, monkeypatch):
    dirs = make_runtime().plugins.migration_dirs  # (empties the shared database, not this)
    uri, database = old_database
    router = migrate.NamespacedRouter(database, radio,
                                      {d.namespace: d for d in dirs}[radio].path)
    assert router.run("001_initial") == ["001_initial"]
    assert {f"{radio}_shard_{s}" for s in SHARDS} <= set(database.get_tables())
    # five networks in shard 3 (more than one chunk of two), one in each of three others
    macs = [f"c0ff3e00000{i}" for i in range(5)] + ["c0ff0e000010", "c0ffae000011",
                                                    "c0fffe000012"]
    mark = "%s" if isinstance(database, peewee.MySQLDatabase) else "?"
    for mac, row in zip(macs, _old_rows(macs), strict=True):
        database.execute_sql(
            f"INSERT INTO {radio}_shard_{mac[4]} ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(COLUMNS))})", row)
    monkeypatch.setattr(merge, "CHUNK", 2)

    applied = migrate.upgrade(database, dirs)
    assert f"{radio}:002_one_table" in applied
    rt = make_runtime(db_readwrite_uri=uri)
    tables = set(database.get_tables())
    assert radio in tables and not {f"{radio}_shard_{s}" for s in SHARDS} & tables
    moved = database.execute_sql(
        f"SELECT {', '.join(COLUMNS)} FROM {radio} ORDER BY mac").fetchall()
    assert sorted(bytes(r[0]).hex() for r in moved) == sorted(macs)
    assert {(bytes(r[0]).hex(), r[1], r[9], r[10], r[14]) for r in moved} == {
        (bytes(r[0]).hex(), r[1], r[9], r[10], r[14]) for r in _old_rows(macs)}

    ApiKeyRow.create(valid_key="moved", maxreq=0, allow_fallback=False, allow_locate=True,
                     allow_region=True, store_sample_locate=0, store_sample_submit=0)
    client = create_app(runtime=rt).test_client()
    body = {"considerIp": False, FIELD[radio]: [{"macAddress": m} for m in macs]}
    response = client.post("/v1/geolocate?key=moved", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert abs(data["location"]["lat"] - 51.5003) < 0.001
    assert abs(data["location"]["lng"] + 0.1) < 0.001


def test_the_way_back_splits_the_table_into_shards(make_runtime, old_database):
    dirs = {d.namespace: d for d in make_runtime().plugins.migration_dirs}
    uri, database = old_database
    router = migrate.NamespacedRouter(database, "wifi", dirs["wifi"].path)
    router.run("002_one_table")
    macs = ["c0ff3e000001", "c0ff7e000002", "c0ff7e000003"]
    mark = "%s" if isinstance(database, peewee.MySQLDatabase) else "?"
    for row in _old_rows(macs):
        database.execute_sql(f"INSERT INTO wifi ({', '.join(COLUMNS)}) "
                             f"VALUES ({', '.join([mark] * len(COLUMNS))})", row)
    router.rollback()
    assert router.done == ["001_initial"]
    assert "wifi" not in database.get_tables()
    found = {shard: sorted(bytes(r[0]).hex() for r in database.execute_sql(
        f"SELECT mac FROM wifi_shard_{shard}").fetchall()) for shard in "37"}
    assert found == {"3": ["c0ff3e000001"], "7": ["c0ff7e000002", "c0ff7e000003"]}
