"""The Redis data queues: batches, readiness, expiry, and nothing lost on a crash."""

from __future__ import annotations

import pytest

from ichnaea_host.queues import DataQueue


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
