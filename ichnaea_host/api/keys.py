"""API keys: validation, a small in-process cache, daily limits and unique users.

The database and Redis may be down; the service keeps answering. Without the
database the key check is skipped (the request runs with the defaults of an
unknown key, as the original did); without Redis no limit is enforced.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import re
import threading
import time
from datetime import date
from typing import Any

import peewee
from playhouse.pool import MaxConnectionsExceeded

from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.interfaces import ApiKey
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
DATABASE_ERRORS = (peewee.PeeweeException, MaxConnectionsExceeded, OSError)


def validated_key(text: str | None) -> str | None:
    if text and 3 < len(text) < 41 and VALID_KEY.match(text):
        return text
    return None


class KeyCache:
    """Keys (and misses) kept for about five minutes; database errors are not kept."""

    def __init__(self, ttl: float | None = None) -> None:
        self.ttl = ttl if ttl is not None else CACHE_TTL + random.uniform(-30, 30)
        self._data: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def get(self, rt: Runtime, key: str) -> tuple[ApiKey | None, bool]:
        """Return (key or None, database_ok)."""
        now = time.monotonic()
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


def count_and_limit(rt: Runtime, key: ApiKey, api_type: str, metric_path: str,
                    ip: str | None, *, also_read: str | None = None
                    ) -> tuple[int | None, bytes | None]:
    """Count the request and its client for the day; return today's count for
    this key and path, or None when Redis could not count (then no limit applies).

    Keys: ``apiuser:{api_type}:{key}:{YYYY-MM-DD}`` (a HyperLogLog of client
    addresses, 8 days) and ``apilimit:{key}:{path}:{YYYYMMDD}`` (25 hours), UTC.
    ``also_read`` names a Redis key read in the same round trip (the locate
    sample rate); its value comes second (None when unset or not counted).
    """
    dashed, compact = _day_names(today_utc())
    users = f"apiuser:{api_type}:{key.valid_key}:{dashed}"
    limit = f"apilimit:{key.valid_key}:{metric_path}:{compact}"
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
