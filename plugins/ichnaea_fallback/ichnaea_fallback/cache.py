"""The Redis cache of provider answers and the per-provider rate limit.

Cache keys are ``cache:fallback:<schema>:1:<fallback_name>:<kind>:`` followed
by the network's raw id (6 bytes of MAC, or the 11-byte cell id), so answers
are shared by the API keys that use the same provider (``fallback_name``) in
the same wire format, never between providers. Values are the JSON answer
``{"lat", "lon", "accuracy", "fallback"}`` or the JSON string ``"404"``.

A cached answer is used only when every network of the query has an entry
and they agree: all "not found", or all positions in one group of
``(round(lat, 3), round(lon, 3), fallback)``. Anything else is a miss.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import redis

from ichnaea_host import REDIS_ERRORS, distance

NOT_FOUND = b'"404"'


class CacheResult:
    """``status`` is hit, notfound, miss, inconsistent, bypassed or failure."""

    def __init__(self, status: str, answer: dict[str, Any] | None = None) -> None:
        self.status = status
        self.answer = answer

    @property
    def answered(self) -> bool:
        return self.status in ("hit", "notfound")


def _cached_position(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    for name in ("lat", "lon", "accuracy"):
        number = value.get(name)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            return None
        if not math.isfinite(number):
            return None
        out[name] = float(number)
    fallback = value.get("fallback")
    out["fallback"] = fallback if isinstance(fallback, str) else None
    return out


class FallbackCache:
    def __init__(self, client: redis.Redis, schema_name: str, provider: str,
                 expire: int) -> None:
        self.client = client
        self.prefix = (f"cache:fallback:{schema_name.replace('/', ':')}:1:"
                       f"{provider}:").encode()
        self.expire = max(int(expire), 1)

    def key(self, kind: str, raw: bytes) -> bytes:
        return self.prefix + kind.encode() + b":" + raw

    def get(self, ids: list[tuple[str, bytes]]) -> CacheResult:
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for kind, raw in ids:
                    pipe.get(self.key(kind, raw))
                values = pipe.execute()
        except REDIS_ERRORS:
            return CacheResult("failure")
        if not values or any(v is None for v in values):
            return CacheResult("miss")
        positions = []
        not_found = 0
        for value in values:
            if value == NOT_FOUND:
                not_found += 1
                continue
            try:
                found = _cached_position(json.loads(value))
            except ValueError:
                found = None
            if found is None:
                return CacheResult("failure")
            positions.append(found)
        if not positions:
            return CacheResult("notfound")
        groups = {(round(p["lat"], 3), round(p["lon"], 3), p["fallback"]) for p in positions}
        if not_found or len(groups) > 1:
            return CacheResult("inconsistent")
        lat = sum(p["lat"] for p in positions) / len(positions)
        lon = sum(p["lon"] for p in positions) / len(positions)
        accuracy = max(distance(lat, lon, p["lat"], p["lon"]) + p["accuracy"]
                       for p in positions)
        return CacheResult("hit", {"lat": lat, "lon": lon, "accuracy": round(accuracy, 3),
                                   "fallback": positions[0]["fallback"]})

    def set(self, ids: list[tuple[str, bytes]], answer: dict[str, Any] | None) -> bool:
        """Store an answer (None: not found) under every network; False on Redis errors."""
        if answer is None:
            value = NOT_FOUND
        else:
            value = json.dumps({"lat": answer["lat"], "lon": answer["lon"],
                                "accuracy": answer["accuracy"],
                                "fallback": answer.get("fallback")}).encode()
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for kind, raw in ids:
                    pipe.set(self.key(kind, raw), value, ex=self.expire)
                pipe.execute()
        except REDIS_ERRORS:
            return False
        return True


def rate_limit_reached(client: redis.Redis, provider: str, limit: int | None,
                       interval: int, now: float | None = None) -> bool:
    """Count one provider call; True when the limit of this interval is used up.

    A limit of 0 (or less) means unlimited and touches no Redis. When Redis
    cannot count, the limit counts as reached: no unmetered provider calls.
    """
    if not limit or limit <= 0:
        return False
    period = int(now if now is not None else time.time()) // interval
    key = f"fallback_ratelimit:{provider}:{period}"
    try:
        with client.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, interval * 5)
            count = pipe.execute()[0]
    except REDIS_ERRORS:
        return True
    return int(count) > int(limit)
