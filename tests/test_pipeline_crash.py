"""Nothing accepted is lost: not when a worker process is killed in the middle
of a batch, not when an export target stays unreachable (its batches are
parked, listed with ``ichnaea export failed`` and sent again after
``ichnaea export replay``)."""

from __future__ import annotations

import gzip
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from ichnaea_host import hookimpl
from ichnaea_host.cli.commands import cli
from ichnaea_host.core.plugin_classes import Exporter
from ichnaea_host.core.queues import Liveness
from ichnaea_host.pipeline.tasks import drain, failed_queue_name
from ichnaea_host.pipeline.worker import Scheduler, Worker

ICHNAEA = [sys.executable, "-m", "ichnaea_host.cli.commands"]

# A station kind whose updates can be slowed down (ICHNAEA_CRASHTEST__DELAY):
# each batch is written, then the worker waits *inside* the transaction.
CRASHTEST_HOOKS = '''
from pathlib import Path

from ichnaea_host import hookimpl
from ichnaea_host.core.sections import MigrationDir


@hookimpl
def ichnaea_register_settings():
    from .updater import CrashtestSettings
    return CrashtestSettings


@hookimpl
def ichnaea_register_radios():
    from .updater import SlowRadio
    return [SlowRadio]


@hookimpl
def ichnaea_migration_dirs():
    return [MigrationDir("crashtest", Path(__file__).parent / "migrations")]
'''

CRASHTEST_UPDATER = '''
import dataclasses
import time

from marshmallow import Schema, fields

from ichnaea_host.core.db import MacField
from ichnaea_host.core.settings import PluginSettings, setting
from ichnaea_host.stations import Radio, StationLimits, station_model

MODEL = station_model("crashtest_station", "mac", MacField(primary_key=True))


@dataclasses.dataclass(frozen=True)
class CrashtestSettings(PluginSettings):
    delay: float = setting(0.0, help="seconds a batch waits before its commit")


class SlowRadio(Radio):
    PLUGIN_NAME = "crashtest"
    FIELD = "crashtestStations"
    ENTRY_SCHEMA = Schema.from_dict({"macAddress": fields.String()})
    MODEL = MODEL
    SETTINGS = CrashtestSettings
    LIMITS = StationLimits(batch=100, interval=0.2)
    POSITION_ORDER = None
    REGION_ORDER = None

    def split(self, report):
        return {}

    def extra_columns(self, observations):
        """Called inside the update's transaction: the batch's stations are
        worked out, and the worker waits there before its commit."""
        waited = []

        def columns(status, key, row, values):
            if not waited:
                waited.append(True)
                self.context.redis.incr("crashtest:written")
                time.sleep(self.settings.delay)
            return {}

        return columns
'''

CRASHTEST_MIGRATION = '''
import peewee as pw

from ichnaea_host.core.db import MacField
from ichnaea_host.stations import station_fields


def migrate(migrator, database, fake=False, **kwargs):
    meta = type("Meta", (), {"table_name": "crashtest_station"})
    attrs = {"mac": MacField(primary_key=True), **station_fields(), "Meta": meta,
             "__module__": __name__}
    migrator.create_model(type("CrashtestStation", (pw.Model,), attrs))


def rollback(migrator, database, fake=False, **kwargs):
    migrator.remove_model("crashtest_station")
'''


@pytest.fixture(scope="session")
def crashtest_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the installed ``crashtest`` plugin: its package and the
    distribution metadata with its entry point."""
    site = tmp_path_factory.mktemp("crashtest-site")
    package = site / "ichnaea_crashtest"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "hooks.py").write_text(CRASHTEST_HOOKS)
    (package / "updater.py").write_text(CRASHTEST_UPDATER)
    (package / "migrations" / "__init__.py").write_text("")
    (package / "migrations" / "001_initial.py").write_text(CRASHTEST_MIGRATION)
    dist = site / "ichnaea_crashtest-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ichnaea-crashtest\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text("[ichnaea]\ncrashtest = ichnaea_crashtest.hooks\n")
    return site


def load_crashtest(site: Path) -> Any:
    """The plugin module for this process, without leaving it on sys.path (other
    tests must not find its entry point)."""
    sys.path.insert(0, str(site))
    try:
        return importlib.import_module("ichnaea_crashtest.hooks")
    finally:
        sys.path.remove(str(site))


def start_worker(tmp_path: Path, backend_uris: tuple[str, str], site: Path,
                 delay: float) -> subprocess.Popen[str]:
    db_uri, redis_uri = backend_uris
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "REDIS_", "ICHNAEA_", "GEOIP_"))}
    env.update(DB_READWRITE_URI=db_uri, REDIS_URI=redis_uri, PYTHONPATH=str(site),
               ICHNAEA_VAR_DIR=str(tmp_path / "var"), ICHNAEA_PLUGINS="crashtest",
               ICHNAEA_STRICT_PLUGINS="true", ICHNAEA_CRASHTEST__DELAY=str(delay),
               LOGGING_LEVEL="WARNING")
    return subprocess.Popen([*ICHNAEA, "worker", "--scheduler", "--threads", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def wait_for(condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing(make_runtime, backend_uris, crashtest_site,
                                                 tmp_path):
    plugin = load_crashtest(crashtest_site)
    rt = make_runtime(extra=(("crashtest", plugin),))
    model = importlib.import_module("ichnaea_crashtest.updater").MODEL
    macs = [f"c0ffee{i:06x}" for i in range(250)]
    queue = rt.queue("update_crashtest_0")
    queue.enqueue([{"mac": mac, "lat": 51.5, "lon": -0.1, "accuracy": 10.0, "source": "gnss"}
                   for mac in macs])

    first = start_worker(tmp_path, backend_uris, crashtest_site, delay=120)
    try:
        # the worker has written its first batch and waits before the commit
        wait_for(lambda: rt.redis.get("crashtest:written"))
        assert (queue.size(), queue.claimed()) == (150, 1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert model.select().count() == 0  # the transaction died with the worker
    assert (queue.size(), queue.claimed()) == (150, 1)  # its batch is still claimed

    # the claim names its worker; once the worker's mark of life has lapsed
    # (seconds, not the ten minutes of a claim without an owner) the
    # recovery puts the claim back
    claim = rt.redis.zrange(queue.claims_key, 0, -1)[0].decode()
    assert queue.claim_owner(claim)
    worker = Worker(rt)
    started = time.monotonic()
    wait_for(lambda: worker.recover_claims() or queue.claimed() == 0, timeout=30)
    assert time.monotonic() - started <= Liveness.SECONDS + 2
    assert (queue.size(), queue.claimed()) == (250, 0)

    second = start_worker(tmp_path, backend_uris, crashtest_site, delay=0)
    try:
        wait_for(lambda: model.select().count() == len(macs) and queue.size() == 0)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    rows = {row.mac: row.samples for row in model.select()}
    assert rows == {mac: 1 for mac in macs}  # every observation, each written once
    assert queue.claimed() == 0


class Collector(Exporter):
    """A partitioned export target (one queue per source and API key) that keeps
    what it is sent."""

    PLUGIN_NAME = "collector"
    PARTITIONED = True
    sent: ClassVar[list[dict[str, Any]]] = []

    def send(self, items: list[dict[str, Any]]) -> None:
        self.sent.extend(items)


class CollectorPlugin:
    @hookimpl
    def ichnaea_register_exporters(self) -> list[Any]:
        return [Collector]


def test_claims_of_a_vanished_export_partition_are_recovered(make_runtime, api_key_factory):
    from ichnaea_host.app import create_app
    from ichnaea_host.core.models import ExportConfig
    from ichnaea_host.pipeline.tasks import update_incoming

    rt = make_runtime(extra=(("collector", CollectorPlugin()),))
    key = api_key_factory("archived")
    ExportConfig.create(name="archive", batch=0, schema="collector")
    client = create_app(runtime=rt).test_client()
    assert client.post(f"/v2/geosubmit?key={key}",
                       json={"items": [REPORT, REPORT, REPORT]}).status_code == 200
    update_incoming(rt)
    queue = rt.queue("queue_export_archive:gnss:archived")
    # a worker takes the whole partition and dies before sending it
    dead = queue.claim()
    assert len(dead.__enter__()) == 3
    assert not rt.redis.exists(queue.key)  # nothing left to find the partition by

    Collector.sent.clear()
    assert Worker(rt).recover_claims(older_than=0) == 3
    drain(rt)
    assert len(Collector.sent) == 3 and queue.claimed() == 0


@pytest.fixture
def invoke(runtime, backend_uris, tmp_path):
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
           "ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "WARNING"}
    return lambda *args: CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


REPORT = {"position": {"latitude": 51.5, "longitude": -0.1, "accuracy": 10},
          "wifiAccessPoints": [{"macAddress": "b00000000001", "signalStrength": -50}]}


def test_parked_exports_are_listed_and_replayed(runtime, client, api_key, invoke,
                                                local_http_server):
    from ichnaea_host.core.models import ExportConfig

    closing = {"Connection": "close"}  # no idle keep-alive to wait for at the end
    local_http_server.respond = lambda req: (503, closing, b"down")
    ExportConfig.create(name="partner", batch=0, schema="geosubmit",
                        url=local_http_server.url + "/v2/geosubmit?key=secret")
    for _ in range(2):
        assert client.post(f"/v2/geosubmit?key={api_key}",
                           json={"items": [REPORT, REPORT]}).status_code == 200
        drain(runtime)
    assert len(local_http_server.requests) == 6  # two batches, three attempts each
    parked = failed_queue_name("queue_export_partner")
    assert runtime.redis.ttl(parked) == -1  # kept until an operator acts

    listed = invoke("export", "failed")
    assert listed.exit_code == 0, listed.output
    assert "4 parked reports." in listed.output
    assert "partner" in listed.output and parked in listed.output
    assert invoke("export", "failed", "nope").exit_code == 1

    local_http_server.respond = lambda req: (200, closing, b"{}")
    replayed = invoke("export", "replay", "partner")
    assert replayed.exit_code == 0, replayed.output
    assert "Moved 4 parked reports" in replayed.output
    assert "0 parked reports." in invoke("export", "failed", "partner").output

    # the scheduler finds the queue ready and a worker sends the batch
    worker = Worker(runtime)
    worker.huey.immediate = True
    assert "export:queue_export_partner" in Scheduler(worker).run_once()
    delivered = local_http_server.requests[-1]
    assert delivered.method == "POST" and len(local_http_server.requests) == 7
    items = json.loads(gzip.decompress(delivered.body))["items"]
    assert [item["wifiAccessPoints"] for item in items] == [REPORT["wifiAccessPoints"]] * 4
    assert runtime.queue("queue_export_partner").size() == 0
