"""Monitoring jobs: queue gauges, API key usage and the locate rate controller.

``monitor_queue_size_and_rate_control`` (every minute) reports the size of
every queue and runs the optional rate controller: a PID controller that
lowers the Redis value ``global_locate_sample_rate`` (the share of locate
queries the web tier keeps as data) while the station queues' backlog
nears ``rate_controller_target``, and sets it to 0 while the InnoDB
transaction history of a MySQL database is too long. Its parameters live in
Redis under the original's keys (``rate_controller_enabled``, ``_target``,
``_kp``, ``_ki``, ``_kd``, ``_trx_min``, ``_trx_max``, ``_trx_purging``,
``_state``); a missing parameter is written back with its default, an
invalid one too, and then the controller switches itself off.

Unlike the original, the controller's state keeps wall-clock time, so that
workers on different hosts can take turns running it; a clock that goes
backwards only skips the integral and derivative steps of one run.

``monitor_api_key_limits`` and ``monitor_api_users`` (every ten minutes)
report the daily request counters and the unique client estimates the web
tier keeps in Redis (``apilimit:*``, ``apiuser:*``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import peewee

from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.queues import StationPartition, mget, mset, pfcount_union
from ichnaea_host.pipeline import datamap
from ichnaea_host.pipeline.tasks import station_queues
from ichnaea_host.pipeline.worker import HUEY_NAME, task_queue_key
from ichnaea_host.plugins.runtime import INCOMING_QUEUE, Runtime

log = get_logger("ichnaea.monitoring")

RATE_KEY = "global_locate_sample_rate"
STATE_KEY = "rate_controller_state"
TRX_HISTORY_SQL = ("SELECT count FROM information_schema.innodb_metrics "
                   "WHERE name = 'trx_rseg_history_len'")
#: MySQL: access denied, the PROCESS privilege is missing
NO_PRIVILEGE = 1227
#: the table is missing: TiDB and Vitess have no ``innodb_metrics`` (1109
#: unknown table in information_schema, 1146 table does not exist)
NO_TABLE = (1109, 1146)


# ---------------------------------------------------------------------------
# queue sizes


def queue_tags(rt: Runtime) -> dict[str, list[str]]:
    """Every monitored data queue with its gauge tags."""
    tags = {INCOMING_QUEUE: ["queue_type:data", "data_type:report"]}
    for name, cls in sorted(rt.plugins.station_updaters().items()):
        data_type = cls.DATA_TYPE or name
        for shard in cls.SHARDS:
            tags[StationPartition(name, shard).key] = ["queue_type:data",
                                                   f"data_type:{data_type}"]
        for queue, extra_type in sorted(cls.EXTRA_QUEUES.items()):
            tags[queue] = ["queue_type:data", f"data_type:{extra_type}"]
    for shard in datamap.SHARDS:
        tags[datamap.queue_name(shard)] = ["queue_type:data", "data_type:datamap"]
    return tags


def queue_sizes(rt: Runtime) -> dict[str, int]:
    """``LLEN`` of every monitored queue; Huey's task queue is named ``HUEY_NAME``.
    The lists ``update_incoming`` is spread over count as one queue."""
    names = list(queue_tags(rt))
    incoming = rt.incoming_keys()
    keys = [name for name in names if name != INCOMING_QUEUE] + incoming
    with rt.redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.llen(key)
        pipe.llen(task_queue_key(rt))
        replies = pipe.execute()
    found = dict(zip(keys, replies[:-1], strict=True))
    total_incoming = sum(found[key] for key in incoming)
    sizes = {name: total_incoming if name == INCOMING_QUEUE else found[name] for name in names}
    return {**sizes, HUEY_NAME: replies[-1]}


def backlog(rt: Runtime, sizes: dict[str, int]) -> int:
    """Observations waiting in the station updaters' queues."""
    return sum(sizes.get(queue.key, 0) for queue in station_queues(rt))


# ---------------------------------------------------------------------------
# the rate controller


@dataclasses.dataclass
class Param:
    """One Redis parameter: how to read it, what is valid, what to write back."""

    key: str
    cast: Callable[[Any], Any]
    default: Any
    valid: Callable[[Any, dict[str, Any]], bool]
    #: a missing value switches the controller off (else the default is used)
    required: bool = False


PARAMS = (
    Param("rate_controller_enabled", int, 0, lambda v, _: v in (0, 1), required=True),
    Param("rate_controller_target", int, 0, lambda v, _: v > 0, required=True),
    Param("rate_controller_kp", float, 8.0, lambda v, _: v >= 0),
    Param("rate_controller_ki", float, 0.0, lambda v, _: v >= 0),
    Param("rate_controller_kd", float, 0.0, lambda v, _: v >= 0),
    Param("rate_controller_trx_purging", int, 0, lambda v, _: v in (0, 1)),
    Param("rate_controller_trx_min", int, 1000, lambda v, _: v > 0),
    Param("rate_controller_trx_max", int, 1000000,
          lambda v, seen: v > (seen.get("rate_controller_trx_min") or 0)),
)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclasses.dataclass
class RateSettings:
    """The rate controller's parameters as read (and repaired) from Redis."""

    enabled: bool
    target: int
    kp: float
    ki: float
    kd: float
    purging: bool
    trx_min: int
    trx_max: int
    rate: float
    state: dict[str, Any]


def load_rate_settings(rt: Runtime) -> RateSettings:
    """Read every parameter at once; write back defaults for missing or invalid ones."""
    keys = [p.key for p in PARAMS] + [RATE_KEY, STATE_KEY]
    raw = dict(zip(keys, mget(rt.redis, keys), strict=True))
    values: dict[str, Any] = {}
    repairs: dict[str, str] = {}
    broken = False
    for param in PARAMS:
        value = raw[param.key]
        try:
            parsed = param.cast(value.decode()) if value is not None else None
            ok = parsed is not None and param.valid(parsed, values)
        except (ValueError, UnicodeDecodeError):
            parsed, ok = None, False
        if not ok:
            if value is not None or param.required:
                broken = True
            parsed = param.default
            repairs[param.key] = _number(param.default)
        values[param.key] = parsed
    enabled = values["rate_controller_enabled"] == 1
    if enabled and broken:
        log.warning("rate_controller_disabled", reason="invalid or missing parameter",
                    keys=sorted(repairs))
        enabled = False
        repairs["rate_controller_enabled"] = "0"
    if repairs:
        mset(rt.redis, repairs)
    try:
        rate = float(raw[RATE_KEY]) if raw[RATE_KEY] is not None else 100.0
    except ValueError:
        rate = 100.0
    if not math.isfinite(rate):
        rate = 100.0  # as the web tier reads it
    try:
        state = json.loads(raw[STATE_KEY]) if raw[STATE_KEY] else {}
    except ValueError:
        state = {}
    return RateSettings(
        enabled=enabled, target=values["rate_controller_target"],
        kp=values["rate_controller_kp"], ki=values["rate_controller_ki"],
        kd=values["rate_controller_kd"], purging=values["rate_controller_trx_purging"] == 1,
        trx_min=values["rate_controller_trx_min"], trx_max=values["rate_controller_trx_max"],
        rate=rate, state=state if isinstance(state, dict) else {},
    )


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


@dataclasses.dataclass
class PID:
    """A PID controller with outputs limited to ``0 .. setpoint`` (simple-pid's maths)."""

    kp: float
    ki: float
    kd: float
    setpoint: float
    p_term: float = 0.0
    i_term: float = 0.0
    d_term: float = 0.0
    last_input: float | None = None
    last_output: float | None = None
    last_time: float | None = None

    STATE_FIELDS = ("p_term", "i_term", "d_term", "last_input", "last_output", "last_time")

    @classmethod
    def restore(cls, settings: RateSettings, now: float) -> PID:
        """The stored controller, or a fresh one when no complete state is stored."""
        pid = cls(settings.kp, settings.ki, settings.kd, float(settings.target), last_time=now)
        state = settings.state
        if state.get("state") == "running" and all(
                isinstance(state.get(f), (int, float)) for f in cls.STATE_FIELDS):
            for name in cls.STATE_FIELDS:
                setattr(pid, name, float(state[name]))
            pid.i_term = _clamp(pid.i_term, 0.0, pid.setpoint)
            pid.last_output = _clamp(pid.last_output or 0.0, 0.0, pid.setpoint)
        return pid

    def __call__(self, value: float, now: float) -> float:
        dt = now - self.last_time if self.last_time is not None else 0.0
        error = self.setpoint - value
        self.p_term = self.kp * error
        if dt > 0:  # the first run, or a clock gone backwards: no I or D step
            self.i_term = _clamp(self.i_term + self.ki * error * dt, 0.0, self.setpoint)
            previous = value if self.last_input is None else self.last_input
            self.d_term = -self.kd * (value - previous) / dt
        else:
            self.d_term = 0.0
        output = _clamp(self.p_term + self.i_term + self.d_term, 0.0, self.setpoint)
        self.last_input, self.last_output, self.last_time = value, output, now
        return output

    def state(self) -> dict[str, Any]:
        return {"state": "running", **{f: getattr(self, f) for f in self.STATE_FIELDS}}


def trx_history_length(rt: Runtime) -> int | None:
    """InnoDB's transaction history length; None on SQLite, without the PROCESS
    privilege, or on an engine without ``innodb_metrics`` (TiDB, Vitess)."""
    if not rt.db.is_mysql:
        return None
    try:
        row = rt.db.rw.execute_sql(TRX_HISTORY_SQL).fetchone()
    except (peewee.OperationalError, peewee.ProgrammingError, peewee.InternalError) as exc:
        if exc.args and (exc.args[0] == NO_PRIVILEGE or exc.args[0] in NO_TABLE):
            return None
        raise
    return int(row[0]) if row else None


def monitor_queue_size_and_rate_control(rt: Runtime, now: float | None = None) -> dict[str, Any]:
    """Gauge every queue, then run the rate controller when it is enabled."""
    now = time.time() if now is None else now
    sizes = queue_sizes(rt)
    tags = queue_tags(rt)
    for name, size in sizes.items():
        rt.metrics.gauge("queue", size, tags=[f"queue:{name}",
                                              *tags.get(name, ["queue_type:task"])])
    waiting = backlog(rt, sizes)
    settings = load_rate_settings(rt)
    length = trx_history_length(rt)
    rate = settings.rate
    purging = settings.purging
    if settings.enabled:
        rate, purging = _control(rt, settings, waiting, length, now)
    else:
        rt.redis.set(STATE_KEY, "{}")
    rt.metrics.gauge("rate_control.locate", rate)
    if length is not None:
        rt.metrics.gauge("trx_history.length", length)
    log.info("queues_monitored", backlog=waiting, rate=rate, rate_control=settings.enabled,
             purging=purging, trx_history=length)
    return {"sizes": sizes, "backlog": waiting, "rate": rate, "enabled": settings.enabled,
            "purging": purging, "trx_history": length}


def _control(rt: Runtime, settings: RateSettings, waiting: int, length: int | None,
             now: float) -> tuple[float, bool]:
    """One step of the enabled controller; returns (rate, purging) as written."""
    purging = False
    if length is not None:
        if length > settings.trx_max:
            purging = True
        elif settings.purging:
            purging = length >= settings.trx_min
    pid = PID.restore(settings, now)
    values = {"rate_controller_trx_purging": "1" if purging else "0"}
    if purging:
        rate = 0.0
    else:
        output = pid(waiting, now)
        rate = 100.0 * _clamp(output / settings.target, 0.0, 1.0)
        values[STATE_KEY] = json.dumps(pid.state())
    values[RATE_KEY] = _number(rate)
    mset(rt.redis, values)
    gauges = {"target": settings.target, "kp": settings.kp, "ki": settings.ki,
              "kd": settings.kd, "pterm": pid.p_term, "iterm": pid.i_term,
              "dterm": pid.d_term}
    for name, value in gauges.items():
        rt.metrics.gauge(f"rate_control.locate.{name}", value)
    if length is not None:
        rt.metrics.gauge("trx_history.min", settings.trx_min)
        rt.metrics.gauge("trx_history.max", settings.trx_max)
        rt.metrics.gauge("trx_history.purging", 1 if purging else 0)
    return rate, purging


# ---------------------------------------------------------------------------
# API key usage



def monitor_api_key_limits(rt: Runtime, today: date | None = None) -> dict[tuple[str, str], int]:
    """Gauge today's request count per (API key, path): ``api.limit``."""
    today = today or today_utc()
    suffix = f":{today:%Y%m%d}"
    keys = sorted(k for k in rt.redis.scan_iter(match=f"apilimit:*{suffix}", count=1000))
    counts: dict[tuple[str, str], int] = {}
    if not keys:
        return counts
    for key, value in zip(keys, mget(rt.redis, keys), strict=True):
        if value is None:
            continue
        _, rest = key.decode().split(":", 1)
        api_key, path = rest[: -len(suffix)].rsplit(":", 1)
        counts[(api_key, path)] = int(value)
        rt.metrics.gauge("api.limit", int(value), tags=[f"key:{api_key}", f"path:{path}"])
    return counts


def monitor_api_users(rt: Runtime, today: date | None = None) -> dict[str, int]:
    """Gauge the unique clients per API type and key over one and seven days
    (``locate.user``, ``region.user``, ``submit.user``); drop older counters."""
    today = today or today_utc()
    week = {f"{today - timedelta(days=n):%Y-%m-%d}" for n in range(7)}
    groups: dict[tuple[str, str], list[str]] = {}
    stale = []
    for raw in rt.redis.scan_iter(match="apiuser:*", count=1000):
        key = raw.decode()
        parts = key.split(":")
        if len(parts) != 4:
            continue
        _, api_type, api_key, day = parts
        if day not in week:
            stale.append(key)
            continue
        groups.setdefault((api_type, api_key), []).append(key)
    if stale:
        rt.redis.delete(*stale)
    gauges: dict[str, int] = {}
    today_name = f"{today:%Y-%m-%d}"
    for (api_type, api_key), keys in sorted(groups.items()):
        intervals = {"7d": keys}
        daily = [k for k in keys if k.endswith(today_name)]
        if daily:
            intervals["1d"] = daily
        for interval, counted in sorted(intervals.items()):
            value = pfcount_union(rt.redis, counted)
            gauges[f"{api_type}:{api_key}:{interval}"] = value
            rt.metrics.gauge(f"{api_type}.user", value,
                             tags=[f"key:{api_key}", f"interval:{interval}"])
    return gauges
