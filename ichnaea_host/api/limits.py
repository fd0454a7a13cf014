"""Anti-enumeration limits of ``/v1/geolocate``: requests per API key and per
client address in a window, and distinct networks looked up per address
block (the first hex digits of a MAC address).

Someone mapping the world's access points asks for many addresses of one
block (a vendor assigns them in sequence); ordinary clients ask again and
again for the few networks around them. So the block limit counts *distinct*
networks (a Redis set per block and window, never larger than the limit),
and only a request that would add new networks to a full block is refused
(and adds none): a network already asked for in the window keeps answering.

Client addresses are kept only as a keyed hash (HMAC-SHA256 with
``SECRET_KEY``, 16 hex digits) in Redis key names, never logged. All counters
are read and written in one pipelined round trip; Redis down means no limit.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Any

import redis

from ichnaea_host.core.answers import ApiKey, Query
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.plugin_classes import ReportFragment
from ichnaea_host.core.queues import REDIS_ERRORS
from ichnaea_host.core.settings import Settings
from ichnaea_host.plugins.runtime import Runtime

log = get_logger("ichnaea.api.limits")

#: one block's check, atomic: 1 when the request's new networks do not fit
BLOCK_SCRIPT = """
local new = {}
for i = 3, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then new[#new + 1] = ARGV[i] end
end
if #new == 0 then return 0 end
if redis.call('SCARD', KEYS[1]) + #new > tonumber(ARGV[1]) then return 1 end
redis.call('SADD', KEYS[1], unpack(new))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 0
"""

#: salt of the address hashes when no SECRET_KEY is configured
DEFAULT_SALT = b"ichnaea-locate-limit"


BLOCK_SHA = hashlib.sha1(BLOCK_SCRIPT.encode()).hexdigest()


def _run(client: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """The commands in one round trip; the first error is raised."""
    with client.pipeline(transaction=False) as pipe:
        for command in commands:
            pipe.execute_command(*command)
        return list(pipe.execute())


def hashed_ip(ip: str, secret: str) -> str:
    return hmac.new(secret.encode() or DEFAULT_SALT, ip.encode(), hashlib.sha256).hexdigest()[:16]


def limits_enabled(settings: Settings) -> bool:
    return bool(settings.locate_limit_key or settings.locate_limit_ip
                or settings.locate_limit_prefix)


def enumerable_ids(query: Query, fragments: Iterable[ReportFragment]) -> set[str]:
    """The network ids of the query's lists that someone could enumerate."""
    ids: set[str] = set()
    for fragment in fragments:
        if not fragment.ENUMERABLE:
            continue
        lookups = query.networks.get(fragment.PLUGIN_NAME) or []
        if not lookups:
            continue
        for values in (fragment.network_ids(lookups, query) or {}).values():
            ids.update(values)
    return ids


def exceeded(rt: Runtime, key: ApiKey, ip: str | None, query: Query,
             fragments: Iterable[ReportFragment],
             now: float | None = None) -> tuple[str, int] | None:
    """Count this request; return (which limit, seconds until its window
    ends) when one is exceeded, else None."""
    settings = rt.settings
    window = settings.locate_limit_window
    now = time.time() if now is None else now
    slot = int(now // window)
    retry_after = max(int((slot + 1) * window - now), 1)
    expire = window * 2
    counters: list[tuple[str, str, int]] = []  # (limit name, redis key, limit)
    if settings.locate_limit_key and key.valid_key:
        counters.append(("key", f"locatelimit:key:{key.valid_key}:{slot}",
                         settings.locate_limit_key))
    if settings.locate_limit_ip and ip:
        counters.append(("ip", f"locatelimit:ip:{hashed_ip(ip, settings.secret_key)}:{slot}",
                         settings.locate_limit_ip))
    blocks: dict[str, list[str]] = {}
    if settings.locate_limit_prefix:
        digits = settings.locate_limit_prefix_digits
        for network in enumerable_ids(query, fragments):
            blocks.setdefault(network[:digits], []).append(network)
    if not counters and not blocks:
        return None
    commands: list[tuple[Any, ...]] = []
    for _, name, _ in counters:
        commands += [("INCR", name), ("EXPIRE", name, expire)]
    for block in sorted(blocks):
        commands.append(("EVALSHA", BLOCK_SHA, 1, f"locatelimit:block:{block}:{slot}",
                         settings.locate_limit_prefix, expire, *sorted(blocks[block])))
    try:
        try:
            replies = _run(rt.redis, commands)
        except redis.exceptions.NoScriptError:  # a Redis that has not seen it yet
            rt.redis.script_load(BLOCK_SCRIPT)
            replies = _run(rt.redis, [c for c in commands if c[0] == "EVALSHA"])
            replies = [1, 1] * len(counters) + replies  # the counters were counted
    except REDIS_ERRORS as exc:
        log.warning("locate_limit_unavailable", error=type(exc).__name__)
        return None
    for i, (limit_name, _, limit) in enumerate(counters):
        if int(replies[2 * i]) > limit:
            return limit_name, retry_after
    if any(int(full) for full in replies[2 * len(counters):]):
        return "prefix", retry_after
    return None
