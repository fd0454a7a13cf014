"""The Redis data queues: batches, readiness, expiry, and nothing lost on a crash."""

from __future__ import annotations

import pytest

from ichnaea_host.core.queues import DataQueue


@pytest.fixture
def redis(runtime):
    return runtime.redis


def test_batches_in_order(redis):
    queue = DataQueue(redis, "test_queue", batch=3)
    queue.enqueue([1, 2, 3, 4, 5, 6])
    assert queue.dequeue() == [1, 2, 3]
    assert queue.dequeue(batch=2) == [4, 5]
    assert queue.dequeue() == [6]
    assert queue.dequeue() == []


def test_ready_by_size_or_age(redis):
    queue = DataQueue(redis, "test_ready", batch=4)
    queue.enqueue([1, 2, 3])
    assert not queue.ready()
    queue.enqueue([4])
    assert queue.ready()
    queue.dequeue()
    queue.enqueue([1, 2, 3])
    redis.expire("test_ready", 70000)  # last enqueue 16400 s ago: older than an hour
    assert queue.ready()


def test_compressed_and_binary_items(redis):
    queue = DataQueue(redis, "test_gzip", compress=True)
    queue.enqueue([{"report": {"a": 1}}])
    raw = redis.lrange("test_gzip", 0, -1)[0]
    assert raw[:2] == b"\x1f\x8b"
    assert queue.dequeue() == [{"report": {"a": 1}}]
    binary = DataQueue(redis, "test_bytes", json_items=False)
    binary.enqueue([b"\x00\x01\x5f\x90"])
    assert binary.dequeue() == [b"\x00\x01\x5f\x90"]


def test_items_of_any_writer_read_back(redis):
    """What orjson refuses goes through the standard library, both ways:
    integers beyond 64 bits (read back as floats: far beyond any field's
    range anyway), non-string keys, and the ``NaN`` and lone surrogates an
    earlier version's encoder wrote."""
    import gzip
    import json
    import math

    queue = DataQueue(redis, "test_json")
    queue.enqueue([{"big": 2**70, "text": "\u00e9t\u00e9"}, {1: "one"}])
    assert queue.dequeue() == [{"big": float(2**70), "text": "\u00e9t\u00e9"}, {"1": "one"}]
    redis.rpush("test_json", json.dumps({"signal": float("nan"), "ssid": "\ud800"}))
    [item] = queue.dequeue()
    assert math.isnan(item["signal"]) and item["ssid"] == "\ud800"

    incoming = DataQueue(redis, "test_members", compress=True)
    redis.rpush("test_members", gzip.compress(b'{"a":') + gzip.compress(b"1}"), b"damaged")
    assert incoming.dequeue() == [{"a": 1}]  # the damaged item is logged and skipped


def test_every_enqueue_sets_a_day_of_expiry(redis):
    queue = DataQueue(redis, "test_ttl")
    queue.enqueue([1])
    assert 86000 < redis.ttl("test_ttl") <= 86400


def test_failed_batch_goes_back(redis):
    queue = DataQueue(redis, "test_claim", batch=2)
    queue.enqueue([1, 2, 3])
    with pytest.raises(RuntimeError), queue.claim() as items:
        assert items == [1, 2]
        raise RuntimeError("worker failed mid-batch")
    assert queue.size() == 3
    assert queue.dequeue(batch=0) == [1, 2, 3]
    assert queue.claimed() == 0


def test_crashed_worker_claim_is_recovered(redis):
    queue = DataQueue(redis, "test_crash", batch=2)
    queue.enqueue([1, 2, 3])
    claim = queue.claim()
    assert claim.__enter__() == [1, 2]  # the worker dies here: no exit, no ack
    assert queue.size() == 1 and queue.claimed() == 1
    assert queue.recover(older_than=3600) == 0  # still young: maybe still working
    assert queue.recover(older_than=0) == 2
    assert queue.dequeue(batch=0) == [1, 2, 3]


def test_a_claim_names_its_owner_and_lasts_as_long_as_the_owner(redis):
    from ichnaea_host.core.queues import Liveness

    queue = DataQueue(redis, "test_owned", batch=2)
    queue.enqueue([1, 2, 3])
    with Liveness(redis) as mark:
        claim = queue.claim()
        assert claim.__enter__() == [1, 2]  # a worker busy with it, for an hour
        (claim_key,) = (key.decode() for key in redis.zrange(queue.claims_key, 0, -1))
        assert claim_key.startswith("{test_owned}:claim:")  # the queue's hash slot
        assert queue.claim_owner(claim_key) == mark.owner
        redis.zadd(queue.claims_key, {claim_key: 0})  # claimed in 1970
        assert queue.recover(older_than=0) == 0  # its owner lives: never taken from it
        assert redis.ttl(mark.key) > 0
    # the owner is gone (a dead one's mark lapses within Liveness.SECONDS)
    assert not redis.exists(mark.key)
    assert queue.recover() == 2
    assert queue.dequeue(batch=0) == [1, 2, 3]


def test_a_claim_of_an_owner_that_never_marked_is_recovered_at_once(redis):
    queue = DataQueue(redis, "test_dead_owner", batch=2)
    queue.enqueue([1, 2, 3])
    claim = queue.claim(owner="elsewhere-123-abcdef")
    assert claim.__enter__() == [1, 2]
    assert queue.recover() == 2
    assert queue.size() == 3 and queue.claimed() == 0


def test_keys_of_one_queue_share_a_hash_slot(redis):
    queue = DataQueue(redis, "update_wifi_3", batch=1)
    queue.enqueue([{"x": 1}])
    claim = queue.claim()
    claim.__enter__()
    keys = sorted(k.decode() for k in redis.keys("*update_wifi_3*"))
    assert keys[0] == "update_wifi_3" or keys[0].startswith("{update_wifi_3}")
    for key in keys:
        tag = key[key.index("{") + 1:key.index("}")] if "{" in key else key
        assert tag == "update_wifi_3"
    queue.recover(older_than=0)


def test_the_oldest_waiting_items_age(redis, monkeypatch):
    """Each item counts from the second it was queued, through partial
    takes, claims given back and recovered, and items of an older version."""
    import time
    from types import SimpleNamespace

    from ichnaea_host.core import queues
    from ichnaea_host.core.queues import PartitionedQueue, queue_ages

    clock = [1_000_000.0]
    monkeypatch.setattr(queues, "time", SimpleNamespace(
        time=lambda: clock[0], sleep=time.sleep, monotonic=time.monotonic))
    queue = DataQueue(redis, "test_age", batch=2)
    assert queue.oldest_age() == 0.0  # empty
    queue.enqueue([1, 2, 3])
    clock[0] += 10
    queue.enqueue([4, 5])
    clock[0] += 5
    assert queue.oldest_age() == 15.0
    assert queue.dequeue() == [1, 2]
    assert queue.oldest_age() == 15.0  # item 3 is as old
    with pytest.raises(RuntimeError), queue.claim() as items:  # 3 and 4, given back
        assert items == [3, 4]
        assert queue.oldest_age() == 5.0  # only 5 waits meanwhile
        raise RuntimeError("failed mid-batch")
    assert queue.oldest_age() == 15.0
    claim = queue.claim(owner="elsewhere-1-abcdef")
    assert claim.__enter__() == [3, 4]  # its worker dies
    assert queue.recover() == 2 and queue.oldest_age() == 15.0
    assert queue.dequeue(batch=3) == [3, 4, 5]  # empty again: no seconds left
    assert queue.oldest_age() == 0.0 and not redis.exists(queue.queued_key, queue.counts_key)
    clock[0] += 100
    queue.enqueue([6])
    assert queue.oldest_age(now=clock[0] + 2.5) == 2.5
    assert 86000 < redis.ttl(queue.queued_key) <= 86400  # the queue's expiry
    assert 86000 < redis.ttl(queue.counts_key) <= 86400

    # items an older version queued count as the head's until taken; those
    # it took no longer count
    old = DataQueue(redis, "test_age_old", batch=2)
    redis.rpush(old.key, b"1", b"2")
    assert old.oldest_age() is None  # no second known
    clock[0] += 1
    old.enqueue([3])
    clock[0] += 1
    assert old.oldest_age() == 1.0  # at least
    assert old.dequeue() == [1, 2] and old.oldest_age() == 1.0
    old.enqueue([4])
    redis.lpop(old.key)  # an older version takes item 3
    clock[0] += 1
    assert old.dequeue(batch=1) == [4]
    assert old.oldest_age() == 0.0

    # a queue spread over lists is as old as its oldest list
    parts = [DataQueue(redis, f"test_age_{n}", compress=True) for n in range(2)]
    parts[0].enqueue([{"a": 1}])
    clock[0] += 7
    assert PartitionedQueue("test_age_all", parts).oldest_age() == 7.0
    assert queue_ages(redis, [p.key for p in parts], now=clock[0]) == {
        "test_age_0": 7.0, "test_age_1": 0.0}


def test_station_partitions_name_their_queue_and_trigger():
    from ichnaea_host.core.queues import StationPartition

    queue = StationPartition("wifi", "3")
    assert (queue.key, queue.trigger) == ("update_wifi_3", "stations:wifi:3")


def test_export_partitions_round_trip_through_their_keys():
    from ichnaea_host.core.queues import ExportPartition

    whole = ExportPartition.of("backup", "query", "key1", partitioned=False)
    assert whole == ExportPartition("backup") and whole.key == "queue_export_backup"
    assert not whole.partitioned and whole.trigger == "export:queue_export_backup"
    part = ExportPartition.of("backup", "query", "key:with:colons", partitioned=True)
    assert part.key == "queue_export_backup:query:key:with:colons"
    # reports without source or key go to the gnss and no_key queues, as the original
    assert ExportPartition.of("backup", None, None, partitioned=True).key == \
        "queue_export_backup:gnss:no_key"
    for partition in (whole, part):
        assert ExportPartition.parse(partition.key, "backup") == partition
    assert ExportPartition.parse(part.key, "back") is None  # another export's queue
    assert ExportPartition.parse("queue_export_backup:query", "backup") is None
    assert ExportPartition.parse("update_wifi_3", "backup") is None


def test_a_station_queue_takes_its_updaters_batch(runtime):
    from ichnaea_host.core.queues import StationPartition

    cls = runtime.plugins.station_updaters()["wifi"]
    assert runtime.queue(StationPartition("wifi", "0")).batch == cls.BATCH
    assert runtime.queue(StationPartition("wifi", "0"), batch=7).batch == 7
    # a name is only a name: no batch guessed from it
    assert runtime.queue("update_wifi_0").batch == 0


def test_helper_keys_of_a_tagged_queue_share_its_slot(redis):
    from redis.cluster import key_slot

    for name in ("update_wifi_3", "queue_export_s3:gnss:key1", "{queue_export_backup}:failed"):
        queue = DataQueue(redis, name, batch=1)
        queue.enqueue([{"x": 1}])
        with queue.claim():
            keys = {k.decode() for k in redis.scan_iter(match="*", count=1000)}
            helpers = {k for k in keys if k != name and k.startswith((name, "{" + name))}
            # the claims, the claim and the seconds its item was queued in
            assert queue.claims_key in helpers and len(helpers) == 3, helpers
            assert {key_slot(k.encode()) for k in helpers | {name}} == {key_slot(name.encode())}
    # a dead-letter list's helpers are not its queue's
    assert DataQueue(redis, "{queue_export_backup}:failed").claims_key != DataQueue(
        redis, "queue_export_backup").claims_key


def test_cluster_uri_names_every_node():
    from ichnaea_host.core.queues import cluster_nodes

    assert cluster_nodes("redis+cluster://10.0.0.1:7000,10.0.0.2:7001,[::1]/") == (
        [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 6379)], {})
    assert cluster_nodes("rediss+cluster://:p%40ss@h:7000/")[1] == {"password": "p@ss",
                                                                 "ssl": True}


def test_expiring_lock_excludes_others_and_outlives_a_dead_holder_briefly(runtime, tmp_path):
    import subprocess
    import sys
    import time

    from ichnaea_host.core.queues import ExpiringLock

    mine = ExpiringLock(runtime.redis, "lock:test", ttl=1.5)
    assert mine.acquire()
    time.sleep(2)  # renewed meanwhile
    assert not ExpiringLock(runtime.redis, "lock:test", ttl=1.5).acquire()
    mine.release()
    # a holder that dies without releasing: the lock is free ttl seconds later
    script = tmp_path / "hold.py"
    script.write_text(
        "import os, sys\n"
        "from ichnaea_host.core.queues import ExpiringLock, connect_redis\n"
        "lock = ExpiringLock(connect_redis(sys.argv[1]), 'lock:test', ttl=4)\n"
        "assert lock.acquire()\n"
        "os._exit(0)\n")
    subprocess.run([sys.executable, str(script), runtime.redis_url()], check=True, timeout=60)
    died = time.monotonic()
    other = ExpiringLock(runtime.redis, "lock:test", ttl=1.5)
    assert not other.acquire()
    while not other.acquire():
        assert time.monotonic() - died < 5
        time.sleep(0.1)
    other.release()
