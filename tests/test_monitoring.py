"""Monitoring jobs on both backends, watched through a real statsd socket and
the Redis keys an operator reads and sets: queue gauges, API key usage, and
the rate controller (PID on the backlog, InnoDB transaction-history guard)."""

from __future__ import annotations

import json
import socket
import time
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from ichnaea_host.pipeline.monitoring import (
    monitor_api_key_limits,
    monitor_api_users,
    monitor_queue_size_and_rate_control,
    trx_history_length,
)

DEFAULTS = {"rate_controller_enabled": b"0", "rate_controller_target": b"0",
            "rate_controller_kp": b"8", "rate_controller_ki": b"0", "rate_controller_kd": b"0",
            "rate_controller_trx_purging": b"0", "rate_controller_trx_min": b"1000",
            "rate_controller_trx_max": b"1000000", "rate_controller_state": b"{}"}


class StatsdServer:
    """A statsd server on 127.0.0.1 keeping the last value of every gauge."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.values: dict[tuple[str, str], float] = {}

    def gauges(self, prefix: str = "") -> dict[tuple[str, str], float]:
        """{(name, tags): last value} of the gauges received so far, whose name
        starts with ``prefix`` (without the ``location.`` namespace)."""
        while True:
            try:
                line = self.sock.recv(65536).decode()
            except TimeoutError:
                break
            metric, _, rest = line.partition(":")
            value, kind, *tags = rest.split("|")
            if kind == "g":
                name = metric.removeprefix("location.")
                self.values[(name, tags[0].lstrip("#") if tags else "")] = float(value)
        return {k: v for k, v in self.values.items() if k[0].startswith(prefix)}


@pytest.fixture
def statsd() -> Any:
    server = StatsdServer()
    yield server
    server.sock.close()


@pytest.fixture
def rt(make_runtime, statsd) -> Any:
    return make_runtime(statsd_host="127.0.0.1", statsd_port=statsd.port)


def redis_values(rt: Any, *keys: str) -> dict[str, bytes | None]:
    return dict(zip(keys, rt.redis.mget(keys), strict=True))


def fill(rt: Any, queue: str, count: int) -> None:
    rt.queue(queue).enqueue([{"n": i} for i in range(count)])


def set_rate_control(rt: Any, **values: Any) -> None:
    rt.redis.mset({f"rate_controller_{k}": str(v) for k, v in values.items()})


def sample_rate(rt: Any) -> float:
    return float(rt.redis.get("global_locate_sample_rate"))


def test_queue_gauges(rt, statsd):
    fill(rt, "update_incoming", 3)
    fill(rt, "update_wifi_0", 5)
    fill(rt, "update_blue_3", 2)
    result = monitor_queue_size_and_rate_control(rt)
    assert result["backlog"] == 7  # observations waiting for the station updaters
    queues = statsd.gauges("queue")
    assert queues[("queue", "queue:update_incoming,queue_type:data,data_type:report")] == 3
    assert queues[("queue", "queue:update_wifi_0,queue_type:data,data_type:wifi")] == 5
    assert queues[("queue", "queue:update_blue_3,queue_type:data,data_type:bluetooth")] == 2
    assert queues[("queue", "queue:update_wifi_f,queue_type:data,data_type:wifi")] == 0
    assert queues[("queue", "queue:ichnaea,queue_type:task")] == 0
    # the datamap's grid queues are gauged too; they are not station backlog
    assert queues[("queue", "queue:update_datamap_ne,queue_type:data,data_type:datamap")] == 0


def test_datamap_and_plugin_queues_are_gauged(rt, statsd):
    rt.redis.rpush("update_datamap_sw", b"\x00" * 8, b"\x01" * 8)
    rt.redis.rpush("update_cellarea", b"\x00" * 8)
    result = monitor_queue_size_and_rate_control(rt)
    assert result["backlog"] == 0
    queues = statsd.gauges("queue")
    assert queues[("queue", "queue:update_datamap_sw,queue_type:data,data_type:datamap")] == 2
    assert queues[("queue", "queue:update_cellarea,queue_type:data,data_type:cellarea")] == 1


def test_rate_controller_off_writes_its_defaults(rt, statsd):
    result = monitor_queue_size_and_rate_control(rt)
    assert result["enabled"] is False
    assert redis_values(rt, *DEFAULTS) == DEFAULTS
    assert rt.redis.get("global_locate_sample_rate") is None  # the web tier reads 100
    assert statsd.gauges("rate_control") == {("rate_control.locate", ""): 100.0}
    rt.redis.set("global_locate_sample_rate", "40")  # an operator's manual setting
    monitor_queue_size_and_rate_control(rt)
    assert statsd.gauges("rate_control") == {("rate_control.locate", ""): 40.0}
    assert sample_rate(rt) == 40.0


def test_enabled_without_a_target_switches_itself_off(rt):
    set_rate_control(rt, enabled=1)
    assert monitor_queue_size_and_rate_control(rt)["enabled"] is False
    assert rt.redis.get("rate_controller_enabled") == b"0"


def test_invalid_gain_is_reset_and_switches_off(rt):
    set_rate_control(rt, enabled=1, target=1000, kp="fast", state='{"state": "running"}')
    assert monitor_queue_size_and_rate_control(rt)["enabled"] is False
    assert redis_values(rt, "rate_controller_enabled", "rate_controller_kp",
                        "rate_controller_state") == {
        "rate_controller_enabled": b"0", "rate_controller_kp": b"8",
        "rate_controller_state": b"{}"}


def test_proportional_control_of_the_backlog(rt, statsd):
    set_rate_control(rt, enabled=1, target=1000)
    fill(rt, "update_wifi_0", 500)
    monitor_queue_size_and_rate_control(rt)
    assert sample_rate(rt) == 100.0  # 8 * (1000 - 500) is far above the target
    fill(rt, "update_wifi_1", 400)
    result = monitor_queue_size_and_rate_control(rt)
    assert (result["backlog"], result["rate"]) == (900, 80.0)  # 8 * 100 / 1000
    assert sample_rate(rt) == 80.0
    state = json.loads(rt.redis.get("rate_controller_state"))
    assert (state["state"], state["p_term"], state["last_input"]) == ("running", 800.0, 900)
    gauges = statsd.gauges("rate_control")
    assert gauges[("rate_control.locate", "")] == 80.0
    assert gauges[("rate_control.locate.target", "")] == 1000
    assert gauges[("rate_control.locate.pterm", "")] == 800.0
    fill(rt, "update_blue_0", 200)
    monitor_queue_size_and_rate_control(rt)
    assert sample_rate(rt) == 0.0  # above the target


def test_locate_queries_stop_feeding_the_pipeline_while_it_is_behind(rt, api_key_factory):
    from ichnaea_host.app import create_app
    from ichnaea_host.core.models import ExportConfig
    from ichnaea_host.pipeline.tasks import drain
    from ichnaea_wifi.models import MODEL

    client = create_app(runtime=rt).test_client()
    key = api_key_factory("busy")
    ExportConfig.create(name="internal", batch=0, schema="internal")
    networks = [{"macAddress": "a0b0c0000001", "signalStrength": -60},
                {"macAddress": "a0b0c0000002", "signalStrength": -65}]
    client.post(f"/v2/geosubmit?key={key}", json={"items": [
        {"position": {"latitude": 51.5, "longitude": -0.1, "accuracy": 10},
         "wifiAccessPoints": networks}]})
    drain(rt)
    for model in (MODEL,):  # seen yesterday: a locate query teaches something
        model.update(last_seen=datetime.utcnow().date() - timedelta(days=1)).execute()  # noqa: DTZ003
    incoming = rt.queue("update_incoming")

    def locate() -> int:
        before = incoming.size()
        response = client.post(f"/v1/geolocate?key={key}", json={"wifiAccessPoints": networks})
        assert response.status_code == 200
        return incoming.size() - before

    assert locate() == 1
    set_rate_control(rt, enabled=1, target=100)
    fill(rt, "update_wifi_5", 150)
    monitor_queue_size_and_rate_control(rt)
    assert [locate() for _ in range(5)] == [0] * 5  # sample rate 0 %
    rt.queue("update_wifi_5").dequeue(batch=0)
    monitor_queue_size_and_rate_control(rt)
    assert locate() == 1  # caught up: back to 100 %


def test_integral_uses_wall_clock_time_between_runs(rt):
    set_rate_control(rt, enabled=1, target=1000, kp=0, ki=0.001)
    fill(rt, "update_wifi_0", 500)
    start = time.time()
    monitor_queue_size_and_rate_control(rt, now=start)
    assert sample_rate(rt) == 0.0  # a fresh controller has no integral yet
    # another worker, a minute later: 0.001 * (1000 - 500) * 60 s = 30
    monitor_queue_size_and_rate_control(rt, now=start + 60)
    assert sample_rate(rt) == pytest.approx(3.0)
    # a clock that went backwards neither adds to the integral nor breaks it
    monitor_queue_size_and_rate_control(rt, now=start + 30)
    assert sample_rate(rt) == pytest.approx(3.0)


def test_derivative_reacts_to_a_falling_backlog(rt):
    set_rate_control(rt, enabled=1, target=1000, kp=0, kd=10)
    fill(rt, "update_wifi_0", 500)
    start = time.time()
    monitor_queue_size_and_rate_control(rt, now=start)
    assert sample_rate(rt) == 0.0
    rt.queue("update_wifi_0").dequeue(batch=100)
    monitor_queue_size_and_rate_control(rt, now=start + 10)  # -10 * (400 - 500) / 10 s
    assert sample_rate(rt) == pytest.approx(10.0)


def test_engine_without_innodb_metrics_runs_the_controller(rt, backend, monkeypatch):
    """TiDB and Vitess have no information_schema.innodb_metrics: the
    monitoring job goes on without the history guard."""
    if backend != "mysql":
        pytest.skip("the history guard reads MySQL's information_schema")
    import ichnaea_host.pipeline.monitoring as monitoring

    monkeypatch.setattr(monitoring, "TRX_HISTORY_SQL",
                        "SELECT count FROM information_schema.no_such_metrics")
    assert trx_history_length(rt) is None
    set_rate_control(rt, enabled=1, target=1000, kp=8)
    result = monitor_queue_size_and_rate_control(rt)
    assert result["purging"] is False
    assert sample_rate(rt) == 100.0


def test_transaction_history_guard(rt, backend, statsd):
    """A long InnoDB history pauses locate sampling until MySQL has purged it."""
    if backend != "mysql":
        assert trx_history_length(rt) is None
        monitor_queue_size_and_rate_control(rt)
        assert statsd.gauges("trx_history") == {}
        return
    import pymysql

    db = rt.db.rw
    params = {k: db.connect_params[k] for k in ("host", "port", "user", "password")}
    reader = pymysql.connect(database=db.database, autocommit=True, **params)
    writer = pymysql.connect(database=db.database, autocommit=True, **params)
    try:
        with writer.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS trx_probe (id INT PRIMARY KEY, v INT)")
            cur.execute("REPLACE INTO trx_probe VALUES (1, 0)")
        with reader.cursor() as cur:  # an old snapshot keeps InnoDB from purging
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SELECT v FROM trx_probe")
        with writer.cursor() as cur:
            for _ in range(1000):
                cur.execute("UPDATE trx_probe SET v = v + 1 WHERE id = 1")
        length = trx_history_length(rt)
        assert length >= 1000
        set_rate_control(rt, enabled=1, target=1000, trx_min=length - 600,
                         trx_max=length - 500)
        result = monitor_queue_size_and_rate_control(rt)
        assert (result["purging"], result["rate"]) == (True, 0.0)
        assert sample_rate(rt) == 0.0
        assert rt.redis.get("rate_controller_trx_purging") == b"1"
        gauges = statsd.gauges("trx_history")
        assert gauges[("trx_history.purging", "")] == 1
        assert gauges[("trx_history.length", "")] >= 1000
        # under the maximum but above the minimum: keeps purging
        set_rate_control(rt, trx_max=length + 100000)
        assert monitor_queue_size_and_rate_control(rt)["purging"] is True
    finally:
        with reader.cursor() as cur:
            cur.execute("COMMIT")
        reader.close()
    deadline = time.monotonic() + 30
    while trx_history_length(rt) >= length - 600 and time.monotonic() < deadline:
        time.sleep(0.2)
    with writer.cursor() as cur:
        cur.execute("DROP TABLE trx_probe")
    writer.close()
    result = monitor_queue_size_and_rate_control(rt)
    assert (result["purging"], result["rate"]) == (False, 100.0)
    assert rt.redis.get("rate_controller_trx_purging") == b"0"


def test_api_key_limit_gauges(rt, statsd, api_key_factory):
    from ichnaea_host.app import create_app

    client = create_app(runtime=rt).test_client()
    key = api_key_factory("limited", maxreq=10)
    for _ in range(3):
        client.get(f"/v1/geolocate?key={key}", headers={"X-Forwarded-For": "81.2.69.160"})
    today = datetime.utcnow().date()  # noqa: DTZ003
    yesterday = f"apilimit:{key}:v1.geolocate:{today - timedelta(days=1):%Y%m%d}"
    rt.redis.set(yesterday, 99)
    assert monitor_api_key_limits(rt) == {(key, "v1.geolocate"): 3}
    assert statsd.gauges("api.limit") == {("api.limit", "key:limited,path:v1.geolocate"): 3}


def test_api_user_gauges(rt, statsd, api_key_factory):
    from ichnaea_host.app import create_app

    app = create_app(runtime=rt)
    client = app.test_client()
    key = api_key_factory("users")
    for ip in ("81.2.69.160", "81.2.69.161", "81.2.69.160"):
        client.get(f"/v1/geolocate?key={key}", headers={"X-Forwarded-For": ip})
    app.extensions["ichnaea.usage"].flush()  # as the web tier does every second
    today = datetime.utcnow().date()  # noqa: DTZ003

    def day_key(days_ago: int) -> str:
        return f"apiuser:locate:{key}:{today - timedelta(days=days_ago):%Y-%m-%d}"

    rt.redis.pfadd(day_key(3), "81.2.69.160", "10.0.0.1")
    rt.redis.pfadd(day_key(8), "10.0.0.2")  # older than a week: deleted
    monitor_api_users(rt)
    assert statsd.gauges("locate.user") == {("locate.user", "key:users,interval:1d"): 2,
                                            ("locate.user", "key:users,interval:7d"): 3}
    assert rt.redis.exists(day_key(8)) == 0
    assert rt.redis.exists(day_key(3)) == 1


def test_api_users_of_a_quiet_day_only_show_the_week(rt, statsd):
    day = date(2024, 3, 10)
    rt.redis.pfadd("apiuser:region:quiet:2024-03-08", "10.0.0.1")
    assert monitor_api_users(rt, today=day) == {"region:quiet:7d": 1}
    assert statsd.gauges("region.user") == {("region.user", "key:quiet,interval:7d"): 1}


def test_scheduler_runs_the_monitoring_jobs(rt):
    from ichnaea_host.pipeline.worker import Scheduler, Worker

    worker = Worker(rt)
    worker.huey.immediate = True
    fired = Scheduler(worker).run_once()
    assert "periodic:monitor_queue_size_and_rate_control" in fired
    assert "periodic:update_statcounter" in fired
    assert rt.redis.get("rate_controller_kp") == b"8"  # the controller ran once
