"""The s3 exporter end to end: submit through the API, drain the pipeline, and
read the objects back from a real S3-protocol server (moto) on 127.0.0.1."""

from __future__ import annotations

import datetime
import gzip
import json
import re
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from ichnaea_host.app import create_app
from ichnaea_host.core.models import ApiKeyRow, ExportConfig
from ichnaea_host.pipeline.tasks import drain as run_drain
from ichnaea_host.pipeline.tasks import failed_queue_name

TEMPLATE = "backups/{source}/{api_key}/{year}/{month}/{day}"
KEY_RE = re.compile(
    r"^backups/(?P<source>[a-z]+)/(?P<api_key>[\w-]+)/(?P<year>\d{4})/(?P<month>\d{1,2})/"
    r"(?P<day>\d{1,2})/(?P<uuid>[0-9a-f]{32})\.json\.gz$"
)


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("ICHNAEA_EXPORT_S3__REGION", "us-east-1")
    monkeypatch.setenv("ICHNAEA_EXPORT_S3__ADDRESSING_STYLE", "path")


@pytest.fixture
def runtime(make_runtime, aws_env, s3_url, monkeypatch):
    """The host's runtime, with the s3 plugin pointed at the moto server."""
    monkeypatch.setenv("ICHNAEA_EXPORT_S3__ENDPOINT_URL", s3_url)
    return make_runtime()


@pytest.fixture
def s3(s3_url):
    return boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def bucket(s3) -> str:
    name = f"ichnaea-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def report(lat: float, lon: float, source: str = "gnss", n: int = 0) -> dict:
    return {
        "timestamp": 1_700_000_000_000 + n,
        "position": {"latitude": lat, "longitude": lon, "accuracy": 10.0, "source": source},
        "wifiAccessPoints": [
            {"macAddress": f"02:00:00:00:{n:02x}:{i:02x}", "signalStrength": -60 - i,
             "ssid": f"net-{i}"}
            for i in range(2)
        ],
    }


def submit(client, key: str | None, reports: list[dict]) -> None:
    url = "/v2/geosubmit" + (f"?key={key}" if key else "")
    response = client.post(url, json={"items": reports})
    assert response.status_code == 200, response.get_data(as_text=True)


def incoming(runtime) -> list[dict]:
    raw = runtime.redis.lrange("update_incoming", 0, -1)
    return [json.loads(gzip.decompress(data))["report"] for data in raw]


def objects(s3, bucket: str) -> dict[str, dict]:
    """Every object of the bucket: key -> {"items", "encoding", "type"}."""
    out = {}
    for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        obj = s3.get_object(Bucket=bucket, Key=entry["Key"])
        out[entry["Key"]] = {
            "items": json.loads(gzip.decompress(obj["Body"].read()))["items"],
            "encoding": obj.get("ContentEncoding"),
            "type": obj.get("ContentType"),
        }
    return out


def today_parts() -> set[tuple[str, str, str]]:
    now = datetime.datetime.now(datetime.UTC)
    days = {now.date(), (now - datetime.timedelta(seconds=30)).date()}
    return {(str(d.year), str(d.month), str(d.day)) for d in days}


def test_objects_per_source_and_key(client, api_key, drain, runtime, s3, bucket):
    ExportConfig.create(name="backup", batch=0, schema="s3", url=f"s3://{bucket}/{TEMPLATE}")
    submit(client, api_key, [report(51.5, -0.1, n=1), report(51.6, -0.2, n=2),
                             report(51.7, -0.3, "fused", n=3)])
    submit(client, None, [report(48.8, 2.3, n=4)])
    queued = incoming(runtime)
    assert len(queued) == 4

    drain()
    found = objects(s3, bucket)
    assert len(found) == 3
    by_partition = {}
    for key, obj in found.items():
        match = KEY_RE.match(key)
        assert match, key
        assert (match["year"], match["month"], match["day"]) in today_parts()  # not zero-padded
        assert uuid.UUID(hex=match["uuid"]).version == 1
        assert obj["encoding"] == "gzip" and obj["type"] == "application/json"
        by_partition[(match["source"], match["api_key"])] = obj["items"]
    assert by_partition == {
        ("gnss", "test"): queued[:2],
        ("fused", "test"): [queued[2]],
        ("gnss", "no_key"): [queued[3]],
    }
    # reports travel unchanged
    assert by_partition[("gnss", "test")][1]["wifiAccessPoints"][1]["ssid"] == "net-1"
    # every partition queue is drained; nothing parked
    assert sorted(k.decode() for k in runtime.redis.keys("*queue_export_backup*")) == []


def test_cell_extras_are_kept(client, api_key, drain, s3, bucket):
    """NeoStumbler's cell extras (channel, codes as strings, a neighbour named
    by its PCI and channel) are in the object as submitted."""
    ExportConfig.create(name="backup", batch=0, schema="s3", url=f"s3://{bucket}/{TEMPLATE}")
    codes = {"mobileCountryCode": 310, "mobileCountryCodeStr": "310",
             "mobileNetworkCode": 10, "mobileNetworkCodeStr": "010"}
    towers = [
        {"radioType": "nr", **codes, "locationAreaCode": 70000, "cellId": 68_000_000_000,
         "primaryScramblingCode": 500, "arfcn": 632_628, "signalStrength": -90, "serving": 1},
        {"radioType": "nr", **codes, "primaryScramblingCode": 501, "arfcn": 632_628,
         "signalStrength": -105, "serving": 0},
    ]
    item = report(40.7, -74.0)
    item["cellTowers"] = towers
    submit(client, api_key, [item])
    drain()
    [obj] = objects(s3, bucket).values()
    assert obj["items"][0]["cellTowers"] == towers


def test_batches_become_separate_objects(client, api_key, drain, s3, bucket):
    ExportConfig.create(name="small", batch=2, schema="s3", url=f"s3://{bucket}/{TEMPLATE}/")
    reports = [report(50.0 + i / 10, 8.0, n=i) for i in range(5)]
    submit(client, api_key, reports)
    drain()
    found = objects(s3, bucket)
    assert sorted(len(o["items"]) for o in found.values()) == [1, 2, 2]
    timestamps = sorted(r["timestamp"] for o in found.values() for r in o["items"])
    assert timestamps == [r["timestamp"] for r in reports]
    assert all(KEY_RE.match(k) for k in found)


def test_bucket_root_and_plain_path(client, api_key, drain, s3, bucket):
    ExportConfig.create(name="root", batch=0, schema="s3", url=f"s3://{bucket}")
    ExportConfig.create(name="plain", batch=0, schema="s3", url=f"s3://{bucket}/flat")
    submit(client, api_key, [report(1.0, 2.0)])
    drain()
    keys = list(objects(s3, bucket))
    assert len(keys) == 2
    assert sum(bool(re.fullmatch(r"flat/[0-9a-f]{32}\.json\.gz", k)) for k in keys) == 1
    assert sum(bool(re.fullmatch(r"[0-9a-f]{32}\.json\.gz", k)) for k in keys) == 1


def test_skip_keys_and_sources(client, api_key, drain, s3, bucket):
    ApiKeyRow.create(valid_key="skipme", maxreq=0, store_sample_submit=100)
    ExportConfig.create(name="picky", batch=0, schema="s3", url=f"s3://{bucket}/{TEMPLATE}",
                        skip_keys="skipme", skip_sources="fused,query")
    submit(client, api_key, [report(10.0, 10.0, n=1), report(11.0, 11.0, "fused", n=2)])
    submit(client, "skipme", [report(12.0, 12.0, n=3)])
    drain()
    found = objects(s3, bucket)
    assert [KEY_RE.match(k)["api_key"] for k in found] == ["test"]
    [items] = [o["items"] for o in found.values()]
    assert [r["position"]["latitude"] for r in items] == [10.0]


def test_missing_bucket_parks_the_batch(client, api_key, drain, runtime, s3):
    ExportConfig.create(name="nobucket", batch=0, schema="s3",
                        url=f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/{TEMPLATE}")
    submit(client, api_key, [report(1.0, 2.0, n=1), report(1.5, 2.5, n=2)])
    queued = incoming(runtime)
    drain()
    failed = failed_queue_name("queue_export_nobucket:gnss:test")
    parked = [json.loads(x) for x in runtime.redis.lrange(failed, 0, -1)]
    assert parked == [{"api_key": "test", "report": r} for r in queued]
    assert runtime.redis.llen("queue_export_nobucket:gnss:test") == 0


def test_server_error_three_times_parks_the_batch(make_runtime, aws_env, monkeypatch,
                                                   local_http_server):
    """An S3 endpoint answering 500: three attempts (boto3's own retries off), then
    the batch waits in the dead-letter list."""
    # HTTP/1.1 answers botocore's "Expect: 100-continue" at once (HTTP/1.0 makes it wait 1 s)
    local_http_server.server.RequestHandlerClass.protocol_version = "HTTP/1.1"
    local_http_server.respond = lambda req: (500, {"Content-Type": "application/xml"},
                                             b"<Error><Code>InternalError</Code></Error>")
    monkeypatch.setenv("ICHNAEA_EXPORT_S3__ENDPOINT_URL", local_http_server.url)
    monkeypatch.setenv("ICHNAEA_EXPORT_S3__MAX_ATTEMPTS", "1")
    rt = make_runtime()
    ApiKeyRow.create(valid_key="key1", maxreq=0, store_sample_submit=100)
    ExportConfig.create(name="broken", batch=0, schema="s3", url=f"s3://bucket/{TEMPLATE}")
    client = create_app(runtime=rt).test_client()
    submit(client, "key1", [report(3.0, 4.0, n=7)])
    queued = incoming(rt)

    run_drain(rt)
    puts = [r for r in local_http_server.requests if r.method == "PUT"]
    assert len(puts) == 3
    assert puts[0].path.startswith("/bucket/backups/gnss/key1/")
    assert gzip.decompress(puts[0].body) == gzip.decompress(puts[2].body)
    failed = failed_queue_name("queue_export_broken:gnss:key1")
    assert [json.loads(x) for x in rt.redis.lrange(failed, 0, -1)] == [
        {"api_key": "key1", "report": queued[0]}]


def test_settings_are_read_and_checked(make_runtime, monkeypatch):
    monkeypatch.setenv("ICHNAEA_EXPORT_S3__ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("ICHNAEA_EXPORT_S3__REGION", "eu-west-1")
    plugins = make_runtime().plugins  # what the host hands the exporter it builds
    settings = plugins.settings_of(plugins.exporters()["s3"])
    assert (settings.endpoint_url, settings.region) == ("http://127.0.0.1:9000", "eu-west-1")
    monkeypatch.setenv("ICHNAEA_EXPORT_S3__ENDPOINT_URL", "ftp://example")
    with pytest.raises(Exception, match="ICHNAEA_EXPORT_S3__ENDPOINT_URL"):
        make_runtime()
