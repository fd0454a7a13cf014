"""API keys: validation, a small in-process cache, daily limits and unique users.

The database and Redis may be down; the service keeps answering. Without the
database the key check is skipped (the request runs with the defaults of an
unknown key, as the original did); without Redis no limit is enforced.

Each web process keeps the keys it looked up (and the misses) for about five
minutes. A change made by ``ichnaea apikey create/update/delete`` reaches
every web process within about a second all the same: the command bumps a
stamp in Redis (:data:`CHANGED_KEY`) and each process reads that stamp at most
once a second, on the request that finds the check due, and drops its keys
when the stamp moved. That is one cheap GET a second per process, where a
short cache time would cost a database query per key and per process every
time it ran out. With Redis down the stamp is not read and the five minutes
apply; with the database down the cached keys keep answering as before.

A key with a daily limit is counted in Redis during its request, because the
answer depends on the count. A key without one (``maxreq`` 0 or unset) needs
no answer from Redis, so its counts wait in the web process and go to Redis
about once a second, every key's in one round trip (:class:`UsageCounts`).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import random
import re
import threading
import time
from datetime import date
from typing import Any

import peewee
from playhouse.pool import MaxConnectionsExceeded

from ichnaea_host.core.answers import ApiKey
from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.models import ApiKeyRow
from ichnaea_host.core.queues import REDIS_ERRORS
from ichnaea_host.plugins.runtime import Runtime

log = get_logger("ichnaea.api.keys")

VALID_KEY = re.compile(r"^[-0-9a-z]+$", re.IGNORECASE)
CACHE_SIZE = 500
CACHE_TTL = 300.0
DAILY_TTL = 90000
USERS_TTL = 691200
#: how often a web process sends the counts of keys without a daily limit
FLUSH_SECONDS = 1.0
DATABASE_ERRORS = (peewee.PeeweeException, MaxConnectionsExceeded, OSError)
#: the Redis counter the ``ichnaea apikey`` commands bump after every change
CHANGED_KEY = "ichnaea:apikeys:changed"
#: how often, at most, a web process reads :data:`CHANGED_KEY`
CHANGE_CHECK_SECONDS = 1.0
_UNREAD = object()


def validated_key(text: str | None) -> str | None:
    if text and 3 < len(text) < 41 and VALID_KEY.match(text):
        return text
    return None


def announce_key_change(rt: Runtime) -> bool:
    """Tell every web process that API keys changed: each drops its cached
    keys within about :data:`CHANGE_CHECK_SECONDS`. False when Redis could
    not be told (the web processes then notice within their cache time)."""
    try:
        rt.redis.incr(CHANGED_KEY)
    except REDIS_ERRORS:
        return False
    return True


class KeyCache:
    """Keys (and misses) kept for about five minutes, or until the change
    stamp in Redis moves; database errors are not kept."""

    def __init__(self, ttl: float | None = None,
                 check_every: float = CHANGE_CHECK_SECONDS) -> None:
        self.ttl = ttl if ttl is not None else CACHE_TTL + random.uniform(-30, 30)
        self.check_every = check_every
        self._data: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()
        #: the change stamp last read, and when to read it next
        self._stamp: Any = _UNREAD
        self._next_check = 0.0
        self._checking = threading.Lock()

    def get(self, rt: Runtime, key: str) -> tuple[ApiKey | None, bool]:
        """Return (key or None, database_ok)."""
        now = time.monotonic()
        if now >= self._next_check:
            self._check_changes(rt, now)
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] > now:
                return hit[1], True
        try:
            row = rt.db.read(ApiKeyRow.select().where(ApiKeyRow.valid_key == key)).first()
        except DATABASE_ERRORS as exc:
            log.warning("api_key_lookup_failed", error=type(exc).__name__)
            return None, False
        value = row.as_value() if row is not None else None
        with self._lock:
            if len(self._data) >= CACHE_SIZE:
                self._data.pop(next(iter(self._data)))
            self._data[key] = (now + self.ttl, value)
        return value, True

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def _check_changes(self, rt: Runtime, now: float) -> None:
        """Drop every cached key when the change stamp moved since it was last
        read (or was never read: keys cached while Redis was unreachable may
        have changed meanwhile). One thread reads it; the others go on."""
        if not self._checking.acquire(blocking=False):
            return
        try:
            if now < self._next_check:
                return  # another thread has just read it
            self._next_check = now + self.check_every
            try:
                stamp = rt.redis.get(CHANGED_KEY)
            except REDIS_ERRORS:
                return  # the cache time applies (rate limiting logs Redis failures)
            if stamp != self._stamp:
                if self._stamp is not _UNREAD:
                    log.info("api_keys_changed", dropped=len(self._data))
                self.clear()
                self._stamp = stamp
        finally:
            self._checking.release()


@functools.lru_cache(maxsize=4096)  # clients come back: parse each address once
def client_ip(remote_addr: str | None, forwarded_for: str | None) -> str | None:
    """The first X-Forwarded-For address, else the peer; None when not an IP.

    A port some proxies append (``1.2.3.4:5678``, ``[2001:db8::1]:443``) is ignored.
    """
    candidate = (forwarded_for.split(",")[0] if forwarded_for else remote_addr) or ""
    candidate = candidate.strip()
    if candidate.startswith("[") and "]" in candidate:
        candidate = candidate[1:candidate.index("]")]
    elif candidate.count(":") == 1:
        candidate = candidate.split(":")[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4)
def _day_names(day: date) -> tuple[str, str]:
    """``YYYY-MM-DD`` and ``YYYYMMDD`` of a UTC day, as the Redis keys name it."""
    return f"{day:%Y-%m-%d}", f"{day:%Y%m%d}"


def usage_keys(key: ApiKey, api_type: str, metric_path: str) -> tuple[str, str]:
    """The Redis keys of today's unique users and request count of a key.

    ``apiuser:{api_type}:{key}:{YYYY-MM-DD}`` (a HyperLogLog of client
    addresses, 8 days) and ``apilimit:{key}:{path}:{YYYYMMDD}`` (25 hours), UTC."""
    dashed, compact = _day_names(today_utc())
    return (f"apiuser:{api_type}:{key.valid_key}:{dashed}",
            f"apilimit:{key.valid_key}:{metric_path}:{compact}")


class UsageCounts:
    """Request counts and client addresses of keys without a daily limit,
    held by one web process and sent to Redis together, in one pipelined
    round trip, every ``interval`` seconds (by a thread that ends when there
    is nothing to send) and when the runtime closes.

    The counts reach Redis up to a second late; a process killed without
    closing loses at most that second's counts. Redis down: the counts of
    that round are dropped with one warning, as a request would drop its own.
    """

    def __init__(self, rt: Runtime, interval: float = FLUSH_SECONDS) -> None:
        self._rt = rt
        self.interval = interval
        self._lock = threading.Lock()
        self._requests: dict[str, int] = {}
        self._users: dict[str, set[str]] = {}
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = threading.Event()
        rt.on_close(self.close)

    def add(self, key: ApiKey, api_type: str, metric_path: str, ip: str | None) -> None:
        users, limit = usage_keys(key, api_type, metric_path)
        with self._lock:
            self._requests[limit] = self._requests.get(limit, 0) + 1
            self._users.setdefault(users, set()).add(ip or "127.0.0.1")
            if self._thread is None or self._pid != os.getpid():  # none yet, or forked
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="ichnaea-usage-counts",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._closed.wait(self.interval):
            if not self.flush():
                with self._lock:
                    if not self._requests:  # idle: end; the next add starts one again
                        self._thread = None
                        return

    def flush(self) -> bool:
        """Send what is held; False when there was nothing to send."""
        with self._lock:
            requests, self._requests = self._requests, {}
            users, self._users = self._users, {}
        if not requests:
            return False
        commands: list[tuple[Any, ...]] = []
        for name, addresses in users.items():
            commands += [("PFADD", name, *sorted(addresses)), ("EXPIRE", name, USERS_TTL)]
        for name, count in requests.items():
            commands += [("INCRBY", name, count), ("EXPIRE", name, DAILY_TTL)]
        try:
            with self._rt.redis.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                pipe.execute()
        except REDIS_ERRORS as exc:
            log.warning("usage_counts_unavailable", error=type(exc).__name__,
                        requests=sum(requests.values()))
        return True

    def close(self) -> None:
        self._closed.set()
        self.flush()


def count_and_limit(rt: Runtime, key: ApiKey, api_type: str, metric_path: str,
                    ip: str | None, *, also_read: str | None = None
                    ) -> tuple[int | None, bytes | None]:
    """Count the request and its client for the day; return today's count for
    this key and path, or None when Redis could not count (then no limit applies).

    Keys: :func:`usage_keys`. ``also_read`` names a Redis key read in the same
    round trip (the locate sample rate); its value comes second (None when
    unset or not counted).
    """
    users, limit = usage_keys(key, api_type, metric_path)
    commands: list[tuple[Any, ...]] = [("PFADD", users, ip or "127.0.0.1"),
                                       ("EXPIRE", users, USERS_TTL),
                                       ("INCR", limit), ("EXPIRE", limit, DAILY_TTL)]
    if also_read is not None:
        commands.append(("GET", also_read))
    try:
        with rt.redis.pipeline(transaction=False) as pipe:  # one round trip
            for command in commands:
                pipe.execute_command(*command)
            replies = pipe.execute()
    except REDIS_ERRORS as exc:
        log.warning("rate_limit_unavailable", error=type(exc).__name__)
        return None, None
    return int(replies[2]), (replies[4] if also_read is not None else None)
