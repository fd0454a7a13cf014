"""The public cell export, on both backends: cells learnt through the API,
then the exact bytes of the file, the diff window, NR cells, the periodic
jobs and the /downloads page."""

from __future__ import annotations

import calendar
import gzip
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from ichnaea_cell import export
from ichnaea_cell.cells import RADIO_CODES, encode_cellid
from ichnaea_cell.models import CELL_MODELS
from ichnaea_host.cli.commands import cli
from ichnaea_host.core.files import exports_dir
from ichnaea_host.stations import utcnow

HEADER = (b"radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,"
          b"created,updated,averageSignal\r\n")


def submit(client, api_key, lat, lon, *towers):
    body = {"items": [{"position": {"latitude": lat, "longitude": lon, "accuracy": 10.0},
                       "cellTowers": list(towers)}]}
    response = client.post(f"/v2/geosubmit?key={api_key}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)


def put_cell(radio, mcc, mnc, lac, cid, *, lat=51.5, lon=-0.1, psc=None, modified,
             radius=1500, samples=7, created=None):
    model = CELL_MODELS[radio]
    model.insert(cellid=encode_cellid(radio, mcc, mnc, lac, cid).hex(),
                 radio=RADIO_CODES[radio], mcc=mcc, mnc=mnc, lac=lac, cid=cid, psc=psc,
                 lat=lat, lon=lon, max_lat=lat, min_lat=lat, max_lon=lon, min_lon=lon,
                 radius=radius, samples=samples, created=created or modified,
                 modified=modified).execute()


def read_gz(path):
    with gzip.open(path, "rb") as f:
        return f.read()


def ts(value):
    return calendar.timegm(value.timetuple())


def test_export_after_learning_through_the_api(runtime, client, api_key, internal_export,
                                               drain):
    tower = {"radioType": "lte", "mobileCountryCode": 234, "mobileNetworkCode": 10,
             "locationAreaCode": 5001, "cellId": 123456, "primaryScramblingCode": 250}
    gsm = {"radioType": "gsm", "mobileCountryCode": 234, "mobileNetworkCode": 10,
           "locationAreaCode": 17, "cellId": 4711}
    submit(client, api_key, 51.5, -0.1, tower, gsm)
    drain()
    where, count = export.export_full(runtime)
    assert count == 2
    path = exports_dir(runtime) / export.full_name(utcnow().date())
    assert where == str(path)
    data = read_gz(path)
    assert data.startswith(HEADER)
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and b"\n" not in data.replace(b"\r\n", b"")
    lte = CELL_MODELS["lte"].get()
    expected = (f"LTE,234,10,5001,123456,250,-0.1000000,51.5000000,{lte.radius or 0},"
                f"{lte.samples},1,{ts(lte.created)},{ts(lte.modified)},").encode()
    # tables in order gsm, wcdma, lte, nr
    assert lines[1].startswith(b"GSM,234,10,17,4711,,-0.1000000,51.5000000,")
    assert lines[2] == expected
    # the folder is listed on /downloads
    page = client.get("/downloads")
    assert page.status_code == 200
    assert path.name in page.get_data(as_text=True)


def test_exact_rows_nr_and_diff_window(runtime, tmp_path):
    now = datetime(2026, 5, 4, 13, 5, 0)
    start, end = export.diff_window(now)
    assert (start, end) == (datetime(2026, 5, 4, 12), datetime(2026, 5, 4, 13))
    put_cell("nr", 310, 260, 16_000_000, 68_000_000_000, lat=40.1234567891, lon=-74.5,
             psc=1000, modified=start + timedelta(minutes=10),
             created=datetime(2020, 1, 1), radius=None, samples=None)
    put_cell("wcdma", 262, 1, 300, 70000, lat=52.5, lon=13.4, psc=0, modified=start)
    put_cell("gsm", 262, 1, 300, 1, modified=end)  # outside: end is excluded
    put_cell("lte", 262, 1, 300, 2, modified=start - timedelta(seconds=1))  # before
    where, count = export.export_diff(runtime, now, output=tmp_path)
    assert where == str(tmp_path / "MLS-diff-cell-export-2026-05-04T130000.csv.gz")
    assert count == 2
    data = read_gz(where)
    mod = ts(start)
    assert data == HEADER + (
        f"UMTS,262,1,300,70000,0,13.4000000,52.5000000,1500,7,1,{mod},{mod},\r\n"
        f"NR,310,260,16000000,68000000000,1000,-74.5000000,40.1234568,0,0,1,"
        f"{ts(datetime(2020, 1, 1))},{mod + 600},\r\n").encode()
    # the full export takes the last 365 days, whatever the hour
    where, count = export.export_full(runtime, now, output=tmp_path)
    assert where.endswith("MLS-full-cell-export-2026-05-04T000000.csv.gz") and count == 4
    old = datetime(2025, 5, 3, 23, 0)
    put_cell("gsm", 262, 1, 300, 9, modified=old)
    assert export.export_full(runtime, now, output=tmp_path)[1] == 4


def test_pages_are_read_in_key_order(runtime):
    modified = datetime(2026, 1, 1)
    for cid in (5, 3, 9, 1, 7):
        put_cell("lte", 262, 1, 300, cid, modified=modified)
    lines = list(export.export_lines(modified, page=2))
    assert [int(line.split(",")[4]) for line in lines] == [1, 3, 5, 7, 9]


def test_periodic_jobs_write_each_file_once(runtime, monkeypatch):
    put_cell("gsm", 262, 1, 300, 1, modified=datetime(2026, 5, 4, 12, 30))
    folder = exports_dir(runtime)
    calls = []
    real = export.write_export
    monkeypatch.setattr(export, "write_export",
                        lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    export.run_diff(runtime, datetime(2026, 5, 4, 13, 2, 59))  # too early
    assert calls == []
    export.run_diff(runtime, datetime(2026, 5, 4, 13, 3))
    export.run_diff(runtime, datetime(2026, 5, 4, 13, 40))
    assert calls == ["MLS-diff-cell-export-2026-05-04T130000.csv.gz"]
    assert (folder / calls[0]).is_file()
    export.run_full(runtime, datetime(2026, 5, 4, 0, 36))
    assert len(calls) == 1
    export.run_full(runtime, datetime(2026, 5, 4, 0, 37))
    export.run_full(runtime, datetime(2026, 5, 4, 18, 0))
    assert calls[1:] == ["MLS-full-cell-export-2026-05-04T000000.csv.gz"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(calls)  # no temp file left
    jobs = runtime.plugins.periodic_jobs
    assert jobs["cell_export_diff"].interval == 60 and jobs["cell_export_full"].run


@pytest.mark.slow
def test_export_to_the_bucket(make_runtime, monkeypatch):
    """Through boto3 to a real S3-protocol server on 127.0.0.1 (moto)."""
    import gzip
    import uuid

    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"),
                            ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1"),
                            ("ICHNAEA_CONTENT__S3_ENDPOINT_URL", url)):
            monkeypatch.setenv(name, value)
        bucket = f"assets-{uuid.uuid4().hex[:8]}"
        s3 = boto3.client("s3", endpoint_url=url)
        s3.create_bucket(Bucket=bucket)
        rt = make_runtime(asset_bucket=bucket)
        where, _ = export.export_full(rt, datetime(2026, 5, 4, 1))
        key = "export/MLS-full-cell-export-2026-05-04T000000.csv.gz"
        assert where == f"s3://{bucket}/{key}"
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert gzip.decompress(body) == HEADER
        assert export.export_exists(rt, "MLS-full-cell-export-2026-05-04T000000.csv.gz")
    finally:
        server.stop()


@pytest.fixture
def invoke(runtime, backend_uris, tmp_path):
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
           "ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "WARNING"}
    return lambda *args: CliRunner().invoke(cli, list(args), env=env)


def test_export_command(runtime, invoke, tmp_path):
    put_cell("lte", 262, 1, 300, 2, modified=utcnow())
    result = invoke("cells", "export")
    assert result.exit_code == 0, result.output
    assert "Exporting the full cell export" in result.output  # the progress bar's label
    assert "wrote 1 cells to" in result.output
    name = export.full_name(utcnow().date())
    assert (tmp_path / "var" / "exports" / name).is_file()
    result = invoke("cells", "export", "--diff", "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("MLS-diff-cell-export-*T??0000.csv.gz"))) == 1


def test_export_progress_counts_every_row(runtime, tmp_path):
    """The progress an export reports adds up to its rows, and the size the
    command's progress bar is given beforehand is that count too."""
    now = utcnow()
    for cid in range(1, 8):
        put_cell("gsm" if cid % 2 else "nr", 262, 1, 300, cid, modified=now - timedelta(days=cid))
    put_cell("lte", 262, 1, 300, 99, modified=now - timedelta(days=400))  # not in a full export
    told: list[int] = []
    where, count = export.export_full(runtime, now, output=tmp_path, progress=told.append)
    assert count == 7 and sum(told) == 7
    assert export.export_size(*export.full_window(now)) == 7
    lines = read_gz(tmp_path / export.full_name(now.date())).decode().split("\r\n")
    assert len([line for line in lines if line]) == 1 + 7  # the header and the rows
