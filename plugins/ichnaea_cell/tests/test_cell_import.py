"""``ichnaea cells import`` on both backends: the original's and OpenCellID's
files, invalid and CDMA rows, newer rows winning, truncated files, then a
geolocate answered by an imported cell."""

from __future__ import annotations

import gzip
from datetime import datetime

import pytest
from click.testing import CliRunner

from ichnaea_cell.cells import encode_areaid, encode_cellid
from ichnaea_cell.models import CELL_MODELS
from ichnaea_cell.updater import AREA_QUEUE
from ichnaea_host.cli.commands import cli

HEADER = ("radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,"
          "averageSignal")
T0 = 1_700_000_000


@pytest.fixture
def invoke(runtime, backend_uris, tmp_path):
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
           "ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "WARNING"}
    return lambda *args: CliRunner().invoke(cli, list(args), env=env)


def write(path, lines, *, gz=True, eol="\r\n"):
    data = (eol.join(lines) + eol).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def cell(radio, mcc, mnc, lac, cid):
    model = CELL_MODELS[radio]
    return model.get_or_none(model.cellid == encode_cellid(radio, mcc, mnc, lac, cid).hex())


def count(radio):
    return CELL_MODELS[radio].select().count()


def test_import_original_export(runtime, invoke, tmp_path):
    path = write(tmp_path / "MLS-diff-cell-export-2026-05-04T130000.csv.gz", [
        HEADER,
        f"GSM,234,10,17,4711,,-0.1000000,51.5000000,1500,12,1,{T0},{T0 + 60},",
        f"UMTS,262,1,300,70000,0,13.4000000,52.5000000,250000,3,1,{T0},{T0},",
        f"LTE,234,10,5001,123456,250,-0.1200000,51.5100000,0,0,1,{T0},{T0},",
    ])
    result = invoke("cells", "import", path)
    assert result.exit_code == 0, result.output
    assert "3 new, 0 updated, 0 unchanged, 0 skipped (cdma), 0 invalid" in result.output
    gsm = cell("gsm", 234, 10, 17, 4711)
    assert (gsm.lat, gsm.lon, gsm.radius, gsm.samples, gsm.psc) == (51.5, -0.1, 1500, 12, None)
    assert gsm.created == datetime(2023, 11, 14, 22, 13, 20)
    assert gsm.modified == datetime(2023, 11, 14, 22, 14, 20)
    assert (gsm.max_lat, gsm.min_lon, gsm.region) == (51.5, -0.1, "GB")
    umts = cell("wcdma", 262, 1, 300, 70000)
    assert (umts.radius, umts.psc, umts.region) == (100000, 0, "DE")  # min(range, 100000)
    assert cell("lte", 234, 10, 5001, 123456).psc == 250
    queued = set(runtime.redis.lrange(AREA_QUEUE, 0, -1))
    assert encode_areaid("gsm", 234, 10, 17) in queued and len(queued) == 3


def test_import_opencellid_with_bad_rows(runtime, invoke, tmp_path):
    path = write(tmp_path / "cell_towers.csv", [
        HEADER,
        f"GSM,234,10,17,4711,,-0.1,51.5,1500,12,1,{T0},{T0},0",           # 2 ok
        f"CDMA,310,0,1,2,,-74.0,40.7,1000,1,1,{T0},{T0},0",               # 3 cdma
        f"NR,310,260,16000000,68000000000,1000,-74.0,40.7,800,4,1,{T0},{T0},0",  # 4 ok
        f"LTE,234,abc,1,1,,-0.1,51.5,1,1,1,{T0},{T0},0",                   # 5 bad mnc
        f"LTE,1000,1,1,1,,-0.1,51.5,1,1,1,{T0},{T0},0",                    # 6 bad mcc
        f"LTE,234,10,0,1,,-0.1,51.5,1,1,1,{T0},{T0},0",                    # 7 bad lac
        f"LTE,234,10,1,268435456,,-0.1,51.5,1,1,1,{T0},{T0},0",            # 8 bad cid
        f"LTE,234,10,1,1,,-0.1,91.0,1,1,1,{T0},{T0},0",                    # 9 bad lat
        f"WIMAX,234,10,1,1,,-0.1,51.5,1,1,1,{T0},{T0},0",                  # 10 bad radio
        f"CDMA,311,0,1,3,,-74.0,40.7,1000,1,1,{T0},{T0},0",               # 11 cdma
        f"LTE,234,10,1,1,,-0.1,nan,1,1,1,{T0},{T0},0",                     # 12 bad lat
        f"UMTS,234,10,1,1,600,-0.1,51.5,1,1,1,{T0},{T0}",                  # 13 ok, no avg
    ], gz=False, eol="\n")
    result = invoke("cells", "import", path)
    assert result.exit_code == 0, result.output
    assert ("3 new, 0 updated, 0 unchanged, 2 skipped (cdma), 7 invalid "
            "(lines 5, 6, 7, 8, 9, ...)") in result.output
    nr = cell("nr", 310, 260, 16000000, 68000000000)
    assert (nr.lat, nr.lon, nr.psc, nr.radius, nr.samples) == (40.7, -74.0, 1000, 800, 4)
    assert cell("wcdma", 234, 10, 1, 1).psc is None  # psc out of range: dropped, row kept
    assert count("lte") == 0


def test_newer_row_wins(runtime, invoke, tmp_path):
    first = write(tmp_path / "a.csv.gz", [
        HEADER,
        f"LTE,234,10,5001,1,1,-0.1,51.5,100,1,1,{T0},{T0 + 100},",
        f"LTE,234,10,5001,2,2,-0.1,51.5,100,1,1,{T0},{T0 + 100},",
    ])
    assert invoke("cells", "import", first).exit_code == 0
    second = write(tmp_path / "b.csv.gz", [
        HEADER,
        f"LTE,234,10,5001,1,7,0.5,52.0,200,9,1,{T0},{T0 + 200},",   # newer: wins
        f"LTE,234,10,5001,2,8,0.5,52.0,200,9,1,{T0},{T0 + 50},",    # older: ignored
        f"LTE,234,10,5001,3,3,0.5,52.0,200,9,1,{T0},{T0 + 50},",    # twice in one file
        f"LTE,234,10,5001,3,4,0.6,52.0,200,9,1,{T0},{T0 + 60},",
    ])
    result = invoke("cells", "import", second, "--batch", "2")
    assert result.exit_code == 0, result.output
    # the older row of cell 2 and the older duplicate of cell 3 are unchanged
    assert "1 new, 1 updated, 2 unchanged" in result.output
    one, two = cell("lte", 234, 10, 5001, 1), cell("lte", 234, 10, 5001, 2)
    assert (one.psc, one.lat, one.lon, one.radius, one.samples) == (7, 52.0, 0.5, 200, 9)
    assert (one.max_lat, one.min_lat) == (51.5, 51.5)  # bbox untouched by an update
    assert (two.psc, two.lat) == (2, 51.5)
    # the two rows of cell 3 share a batch: the newer one is written
    assert cell("lte", 234, 10, 5001, 3).psc == 4


def test_truncated_gzip_leaves_no_partial_batch(runtime, invoke, tmp_path):
    rows = [HEADER] + [f"GSM,234,10,17,{cid},,-0.1,51.5,100,1,1,{T0},{T0},"
                       for cid in range(1, 2001)]
    data = gzip.compress(("\r\n".join(rows) + "\r\n").encode())
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    result = invoke("cells", "import", str(path), "--batch", "500")
    assert result.exit_code == 1
    assert "line " in result.output
    assert count("gsm") % 500 == 0 and count("gsm") < 2000


def test_malformed_plain_file(runtime, invoke, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(HEADER.encode() + b"\r\nGSM,234,10,17,1,,-0.1,51.5,100,1,1,1,1,\r\n"
                     b"GSM,234,10,17,2,\xff\xfe,-0.1\r\n")
    result = invoke("cells", "import", str(path))
    assert result.exit_code == 1 and "line " in result.output
    assert count("gsm") == 0


def test_imported_cell_answers_geolocate(runtime, invoke, client, api_key, tmp_path):
    path = write(tmp_path / "cells.csv.gz", [
        HEADER, f"LTE,234,10,5001,123456,,-0.1,51.5,1500,12,1,{T0},{T0},"])
    assert invoke("cells", "import", path).exit_code == 0
    response = client.post(f"/v1/geolocate?key={api_key}", json={"cellTowers": [
        {"radioType": "lte", "mobileCountryCode": 234, "mobileNetworkCode": 10,
         "locationAreaCode": 5001, "cellId": 123456}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["location"] == {"lat": 51.5, "lng": -0.1}
    assert body["accuracy"] == 1500


def test_rows_written_unusually_read_as_usual(runtime, invoke, tmp_path):
    """Spaces, decimals, lower-case radios and blank optional fields: the
    same cell as the plain row, or none at all."""
    path = write(tmp_path / "odd.csv", [
        HEADER,
        f" lte ,234, 10 ,5001.0,7,250.0,-0.1,51.5,1.5e3,12,1,{T0},{T0}.0,",
        f"GSM,234,10,17,70000,600,-0.1,51.5,,,1,{T0},{T0},",       # UMTS cell, psc kept
        f"GSM,234,10,17,8,600,-0.1,51.5, , ,1,{T0},{T0},",         # psc out of range
        f"LTE,234,10,5001,8,1,-0.1,51.5,100,1,1,{T0},{T0},,",      # 15 columns
        f"LTE,234,10,5001,9,1,-0.1,51.5,100.5,1,1,{T0},{T0},",     # fractional range
        f"NR,310,260,16777214,1,,-74.0,40.7,1,1,1,{T0},{T0},",     # reserved tac
        f"LTE,234,10,5001,10,1,-0.1,51.5,100,1,1,{T0},-1,",        # before 1970
        ",".join(f'"{v}"' for v in                                 # every field quoted
                 ["LTE", 234, 10, 5001, 11, 2, -0.1, 51.5, 100, 1, 1, T0, T0, ""]),
        "",                                                         # an empty line
        " , ,,,,,,,,,,,,",                                          # a row of blanks
    ], gz=False, eol="\n")
    result = invoke("cells", "import", path)
    assert result.exit_code == 0, result.output
    assert "4 new, 0 updated, 0 unchanged, 0 skipped (cdma), 4 invalid (lines 5, 6, 7, 8)" \
        in result.output
    assert cell("lte", 234, 10, 5001, 11).psc == 2
    lte = cell("lte", 234, 10, 5001, 7)
    assert (lte.psc, lte.radius, lte.samples, lte.region) == (250, 1500, 12, "GB")
    umts = cell("wcdma", 234, 10, 17, 70000)
    assert (umts.psc, umts.radius, umts.samples) == (None, None, None)  # 600 > 511
    assert cell("gsm", 234, 10, 17, 8).psc is None


def test_counts_across_batches_written_at_once(runtime, invoke, tmp_path):
    """One cell in several batches (two batches written at once on MySQL):
    the newest row wins and each row is counted once."""
    rows = [f"LTE,234,10,5001,{cid},1,-0.1,51.5,100,1,1,{T0},{T0 + 10},"
            for cid in range(1, 9)]
    rows += [f"LTE,234,10,5001,1,{psc},-0.1,51.5,100,1,1,{T0},{T0 + psc},"
             for psc in (20, 5, 30, 25)]  # cell 1 again: newer, older, newest, older
    path = write(tmp_path / "a.csv.gz", [HEADER, *rows])
    result = invoke("cells", "import", path, "--batch", "3", "--writers", "2")
    assert result.exit_code == 0, result.output
    assert "8 new, 2 updated, 2 unchanged" in result.output
    assert cell("lte", 234, 10, 5001, 1).psc == 30
    result = invoke("cells", "import", path, "--batch", "5")
    assert "0 new, 0 updated, 12 unchanged" in result.output


def test_the_stored_newer_row_is_kept_by_the_upsert(runtime):
    """The update part of the upsert itself keeps a stored row that is newer
    (as when another writer changed the cell after the batch looked it up)."""
    from ichnaea_cell.importer import CellWriter, parse_row

    writer = CellWriter(runtime.db.rw)
    row = "LTE,234,10,5001,1,{psc},-0.1,51.5,100,1,1,{t},{t}".split(",")
    newer = parse_row([v.format(psc=7, t=T0 + 100) for v in row])
    older = parse_row([v.format(psc=3, t=T0) for v in row])
    assert writer.write([newer]).new == 1
    update = writer.update.format(table=writer.quote("cell_lte"))
    with runtime.db.rw.atomic():
        writer._insert("cell_lte", [(older, None)], update)
    assert cell("lte", 234, 10, 5001, 1).psc == 7
    with runtime.db.rw.atomic():
        writer._insert("cell_lte", [(newer._replace(psc=9, modified=T0 + 200), None)], update)
    stored = cell("lte", 234, 10, 5001, 1)
    assert (stored.psc, stored.modified) == (9, datetime(2023, 11, 14, 22, 16, 40))


def test_regions_near_borders(runtime, invoke, tmp_path):
    """Cells on both sides of borders and coasts get the region the
    position-by-position look-up gives, remembered squares or not."""
    import random

    from ichnaea_cell.mcc import region_for_cell

    rng = random.Random(9)
    # Basel (CH/DE/FR), Lake Constance (DE/CH/AT), Strait of Dover (GB/FR), Tijuana (MX/US)
    places = [(47.56, 7.59, (228, 262, 208)), (47.6, 9.4, (262, 228, 232)),
              (51.0, 1.5, (234, 208)), (32.53, -117.03, (334, 310))]
    lines, expected = [HEADER], {}
    for cid in range(1, 801):
        lat, lon, mccs = rng.choice(places)
        lat, lon, mcc = lat + rng.gauss(0, 0.3), lon + rng.gauss(0, 0.3), rng.choice(mccs)
        lines.append(f"LTE,{mcc},1,1,{cid},,{lon:.7f},{lat:.7f},100,1,1,{T0},{T0},")
        expected[cid] = region_for_cell(round(lat, 7), round(lon, 7), mcc)
    result = invoke("cells", "import", write(tmp_path / "borders.csv.gz", lines))
    assert "800 new" in result.output, result.output
    model = CELL_MODELS["lte"]
    stored = {row.cid: row.region for row in model.select(model.cid, model.region)}
    assert stored == expected
    assert len(set(expected.values())) >= 6


# ---------------------------------------------------------------------------
# bulk loads (MySQL): secondary indexes dropped for a large import, always restored


def lte_rows(cids, modified=T0):
    return [f"LTE,234,10,5001,{cid},1,-0.1,51.5,100,1,1,{T0},{modified}," for cid in cids]


def missing_indexes(runtime):
    from ichnaea_cell.bulk import TABLES, IndexKeeper

    keeper = IndexKeeper(runtime.db.rw, runtime.redis)
    try:
        return {table: [i.name for i in keeper.missing(table)] for table in TABLES
                if keeper.missing(table)}
    finally:
        keeper.close()


def test_identity_index_is_gone(runtime):
    """Migration 002: the primary key is the only index on a cell's identity."""
    for model in CELL_MODELS.values():
        table = model._meta.table_name
        indexes = runtime.db.rw.get_indexes(table)
        assert not [i for i in indexes if i.columns[:1] == ["radio"]], indexes
        assert {tuple(i.columns) for i in indexes} >= {("created",), ("modified",),
                                                       ("region",), ("lat", "lon")}


def test_bulk_load(runtime, invoke, backend, tmp_path, monkeypatch):
    from ichnaea_cell import bulk

    monkeypatch.setattr(bulk, "BULK_MIN_ROWS", 5)
    # two known cells, written row by row (too few lines for a bulk load)
    assert "2 new" in invoke("cells", "import", write(tmp_path / "a.csv", lte_rows([1, 2]))).output
    # more lines than the tables hold: a bulk load; cell 2 is known and newer in the file
    path = write(tmp_path / "b.csv", [HEADER, *lte_rows([2, 3, 4, 5, 6], modified=T0 + 60)])
    result = invoke("cells", "import", path, "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "5 new" not in result.output and "4 new, 1 updated, 0 unchanged" in result.output
    if backend == "sqlite":
        assert "bulk" not in result.output
        return
    assert "bulk load (6 lines" in result.output and "cell_lte" in result.output
    assert "rebuilt the indexes" in result.output
    assert missing_indexes(runtime) == {}
    assert cell("lte", 234, 10, 5001, 2).modified == datetime(2023, 11, 14, 22, 14, 20)
    assert count("lte") == 6


def test_bulk_load_restores_the_indexes_when_the_file_is_malformed(runtime, invoke, backend,
                                                                    tmp_path, monkeypatch):
    from ichnaea_cell import bulk

    if backend == "sqlite":
        pytest.skip("MySQL only")
    monkeypatch.setattr(bulk, "BULK_MIN_ROWS", 5)
    data = gzip.compress(("\r\n".join([HEADER, *lte_rows(range(1, 2001))]) + "\r\n").encode())
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    result = invoke("cells", "import", str(path), "--batch", "500")
    assert result.exit_code == 1 and "line " in result.output
    assert "bulk load" in result.output and "rebuilt the indexes" in result.output
    assert missing_indexes(runtime) == {}
    assert count("lte") % 500 == 0 and count("lte") < 2000


def test_indexes_a_stopped_bulk_load_dropped_are_restored(runtime, invoke, backend, tmp_path):
    """A bulk load killed before its rebuild: the next import restores the
    indexes, and so does ``ichnaea cells restore-indexes``."""
    from ichnaea_cell.bulk import IndexKeeper

    if backend == "sqlite":
        pytest.skip("MySQL only")
    keeper = IndexKeeper(runtime.db.rw, runtime.redis)
    try:
        assert keeper.drop("cell_lte") == 4 and keeper.drop("cell_gsm") == 4
        assert set(missing_indexes(runtime)) == {"cell_lte", "cell_gsm"}
        result = invoke("cells", "import", write(tmp_path / "a.csv", lte_rows([1])))
        assert result.exit_code == 0, result.output
        assert "restored the indexes an interrupted bulk load had dropped: cell_gsm (4), " \
               "cell_lte (4)" in result.output
        assert missing_indexes(runtime) == {}

        keeper.drop("cell_nr")
        result = invoke("cells", "restore-indexes")
        assert "cell_nr (4)" in result.output and missing_indexes(runtime) == {}
        assert "all their indexes" in invoke("cells", "restore-indexes").output
    finally:
        keeper.restore()
        keeper.close()


def test_db_upgrade_restores_what_a_killed_bulk_load_left_dropped(runtime, invoke, backend):
    """``ichnaea db upgrade`` leaves the cell tables with all their indexes,
    also after a bulk load killed before its rebuild."""
    from ichnaea_cell.bulk import IndexKeeper

    if backend == "sqlite":
        pytest.skip("MySQL only")
    keeper = IndexKeeper(runtime.db.rw, runtime.redis)
    try:
        assert keeper.drop("cell_gsm") == 4
        assert list(missing_indexes(runtime)) == ["cell_gsm"]
        result = invoke("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert "database is up to date" in result.output
        assert "running cell_restore_indexes ..." in result.output
        assert missing_indexes(runtime) == {}
    finally:
        keeper.restore()
        keeper.close()


def test_db_upgrade_says_when_an_upgrade_job_fails(invoke, monkeypatch):
    from ichnaea_cell import bulk

    def broken(context):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(bulk, "run", broken)
    result = invoke("db", "upgrade")
    assert result.exit_code == 1
    assert "database is up to date" in result.output  # the migrations stand
    assert "cell_restore_indexes failed: RuntimeError: the disk is full" in result.output


def test_an_import_during_a_bulk_load_leaves_the_indexes_alone(runtime, invoke, backend,
                                                               tmp_path, monkeypatch):
    from ichnaea_cell import bulk

    if backend == "sqlite":
        pytest.skip("MySQL only")
    monkeypatch.setattr(bulk, "BULK_MIN_ROWS", 1)
    other = bulk.IndexKeeper(runtime.db.rw, runtime.redis)  # another import's bulk load, under way
    try:
        assert other.lock()
        other.drop("cell_lte")
        result = invoke("cells", "import", write(tmp_path / "a.csv", lte_rows([1, 2])))
        assert result.exit_code == 0, result.output
        assert "another import is loading the cell tables in bulk" in result.output
        assert "2 new" in result.output and list(missing_indexes(runtime)) == ["cell_lte"]
        assert "under way" in invoke("cells", "restore-indexes").output
        assert list(missing_indexes(runtime)) == ["cell_lte"]
    finally:
        other.restore()
        other.close()
    assert missing_indexes(runtime) == {}


def test_the_worker_restores_what_a_killed_bulk_load_left_dropped(runtime, backend):
    """The hourly job puts back the indexes of a bulk load killed before its
    rebuild; on SQLite it has nothing to do."""
    from ichnaea_cell.bulk import IndexKeeper

    job = runtime.plugins.periodic_jobs["cell_restore_indexes"]
    assert job.interval == 3600 and not job.drain and job.upgrade
    if backend == "sqlite":
        assert runtime.run_job(job) is False
        return
    keeper = IndexKeeper(runtime.db.rw, runtime.redis)
    try:
        assert keeper.drop("cell_wcdma") == 4
        assert list(missing_indexes(runtime)) == ["cell_wcdma"]
        assert runtime.run_job(job) is False
        assert missing_indexes(runtime) == {}
    finally:
        keeper.restore()
        keeper.close()
