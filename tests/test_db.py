"""Storage: migrations on both databases, the dialect-aware upsert, binary keys."""

from __future__ import annotations

import pytest

from ichnaea_host.core import migrate
from ichnaea_host.core.db import excluded, insert_ignore, long_read, upsert
from ichnaea_host.core.models import ExportConfig, Stat


def test_migrations_create_every_table(runtime):
    tables = set(runtime.db.rw.get_tables())
    assert {"api_key", "export_config", "stat", "region_stat"} <= tables
    assert {"wifi", "blue", "cell_gsm", "cell_wcdma", "cell_lte", "cell_nr"} <= tables
    assert not [t for t in tables if "_shard_" in t]  # one table per radio type
    status = {s.namespace: s for s in migrate.status(runtime.db.rw,
                                                      runtime.plugins.migration_dirs)}
    assert status["host"].done[0] == "001_initial" and status["host"].pending == []
    assert status["wifi"].done[:2] == ["001_initial", "002_one_table"]
    assert status["wifi"].done[-1] == "004_ssid_hash" and status["wifi"].pending == []
    assert migrate.upgrade(runtime.db.rw, runtime.plugins.migration_dirs) == []


def test_api_key_has_every_column_of_the_original(runtime):
    columns = {c.name for c in runtime.db.rw.get_columns("api_key")}
    assert columns == {
        "valid_key", "maxreq", "allow_fallback", "allow_locate", "allow_region",
        "fallback_name", "fallback_schema", "fallback_url", "fallback_ratelimit",
        "fallback_ratelimit_interval", "fallback_cache_expire", "store_sample_locate",
        "store_sample_submit",
        "allow_raw",  # ours: microG's raw answers (migration host 005)
    }


def test_upsert_adds_on_conflict(runtime):
    import datetime

    day = datetime.date(2026, 11, 1)
    upsert(Stat, [{"key": 3, "time": day, "value": 5}], conflict_target=[Stat.key, Stat.time],
           update={Stat.value: Stat.value + excluded(Stat, Stat.value)})
    upsert(Stat, [{"key": 3, "time": day, "value": 7}, {"key": 4, "time": day, "value": 1}],
           conflict_target=[Stat.key, Stat.time],
           update={Stat.value: Stat.value + excluded(Stat, Stat.value)})
    values = {(s.key, s.value) for s in Stat.select()}
    assert values == {(3, 12), (4, 1)}


def test_insert_ignore_keeps_the_first(runtime):
    insert_ignore(ExportConfig, [{"name": "a", "batch": 1, "schema": "dummy"}])
    insert_ignore(ExportConfig, [{"name": "a", "batch": 9, "schema": "internal"},
                                 {"name": "b", "batch": 2, "schema": "dummy"}])
    assert {(e.name, e.batch) for e in ExportConfig.select()} == {("a", 1), ("b", 2)}


def test_mac_keys_round_trip(runtime):
    from ichnaea_wifi.models import MODEL

    model = MODEL
    model.insert(mac="0123456789ab", lat=1.5, lon=2.5).execute()
    row = model.get(model.mac == "0123456789ab")
    assert (row.mac, row.lat) == ("0123456789ab", 1.5)
    raw = runtime.db.rw.execute_sql("SELECT mac FROM wifi").fetchone()[0]
    assert bytes(raw) == bytes.fromhex("0123456789ab")


@pytest.mark.parametrize("errno", [1213, 1205, 9007, 8002, 8022])
def test_lock_and_write_conflicts_are_retried_and_logged(errno):
    """MySQL deadlocks (and Galera certification failures, which MariaDB
    reports as deadlocks), lock timeouts and TiDB's write conflicts are
    retried; each retry is logged with its error number."""
    import peewee
    from structlog.testing import capture_logs

    from ichnaea_host.core.db import retry_on_lock

    calls, seen = [], []

    def write():
        calls.append(1)
        if len(calls) < 3:
            raise peewee.OperationalError(errno, "conflict, try again")
        return "written"

    with capture_logs() as logs:
        assert retry_on_lock(write, on_retry=seen.append) == "written"
    assert seen == [errno, errno]
    assert [(e["event"], e["errno"]) for e in logs if e["event"] == "db_retry"] == \
        [("db_retry", errno)] * 2


def test_other_database_errors_are_not_retried():
    import peewee

    from ichnaea_host.core.db import retry_on_lock

    calls = []

    def write():
        calls.append(1)
        raise peewee.OperationalError(1054, "unknown column")

    with pytest.raises(peewee.OperationalError):
        retry_on_lock(write)
    assert calls == [1]


def test_an_api_key_row_gives_the_api_key_of_every_column(runtime):
    import dataclasses

    from ichnaea_host.core.answers import ApiKey
    from ichnaea_host.core.models import ApiKeyRow

    assert set(ApiKeyRow._meta.fields) == {f.name for f in dataclasses.fields(ApiKey)}
    row = ApiKeyRow.create(valid_key="every-column", maxreq=5, allow_fallback=True,
                           fallback_name="fb", fallback_url="http://127.0.0.1:9/",
                           fallback_ratelimit=10, fallback_ratelimit_interval=60,
                           store_sample_locate=0)
    value = ApiKeyRow.get_by_id("every-column").as_value()
    assert isinstance(value, ApiKey) and value.valid_key == row.valid_key
    assert (value.maxreq, value.fallback_name, value.store_sample_locate) == (5, "fb", 0)
    assert value.can_fallback() and not value.store_sample("locate")


def test_long_read_waits_longer_than_the_pool(runtime):
    """A daily job's whole-table read (issue 31: minutes at 30M stations) runs on a
    connection of its own with its own read timeout, not the pool's 30 s."""
    import peewee

    Stat.create(key=3, time="2026-01-02", value=7)
    db = runtime.db.rw
    assert long_read(db, "SELECT value FROM stat", []) == [(7,)]
    if not isinstance(db, peewee.MySQLDatabase):
        return
    assert long_read(db, "SELECT SLEEP(1.5)", [], timeout=5) == [(0,)]
    with pytest.raises(Exception, match="timed out"):
        long_read(db, "SELECT SLEEP(3)", [], timeout=1)
