"""send_many(): many records in one call, buffered a batch at a time, with one future.
It must put every record exactly where one send() per record would (same partitions,
same batches, same order), keep the same limits (batch size, max_request_size,
buffer_memory), refuse bad input before buffering anything, and end — acknowledged or
failed — as its batches do."""

from __future__ import annotations

import random
import threading

import pytest

from mini_kafka.client import Producer
from mini_kafka.client.batch import Batch
from mini_kafka.errors import KafkaError, KafkaTimeoutError

pytestmark = pytest.mark.unit

RECORD = b"x" * 76  # + 24 bytes of per-record overhead: 100 bytes accounted each


def stopped_producer(**config) -> Producer:
    """A producer whose sender never runs, so what it buffered stays to be looked at."""
    config = {"acks": 1, "batch_size": 1000, "max_request_size": 5000,
              "linger_ms": 60_000, "rng": random.Random(4), **config}
    p = Producer("127.0.0.1:1", **config)
    p._runtime.run(_stop(p))
    p._view.topics["t"] = [object()] * 3  # three partitions, known without a broker
    return p


async def _stop(p):
    p._sender.cancel()


@pytest.fixture
def pair():
    """Two identical stopped producers: one fed by send(), one by send_many()."""
    made = [stopped_producer(), stopped_producer()]
    yield made
    for p in made:
        p.close(0)


def buffered(p) -> dict[int, list[list[tuple]]]:
    """partition -> its batches, each as its records (key, value, timestamp, headers)."""
    return {tp[1]: [list(zip(b.keys, b.values, b.timestamps, b.headers, strict=True))
                    for b in q] for tp, q in p._queues.items() if q}


def test_keyless_records_land_in_the_same_batches_as_one_send_each(pair):
    one, many = pair
    values = [b"%d" % i + RECORD[:70 + i % 7] for i in range(95)]
    for chunk in (values[:3], values[3:40], values[40:41], values[41:]):
        for v in chunk:
            one.send("t", v, timestamp_ms=5)
        many.send_many("t", chunk, timestamp_ms=5)
    assert buffered(many) == buffered(one)
    assert many._buffered == one._buffered > 0
    assert sum(len(b) for q in many._queues.values() for b in q) == 95


def test_keyed_records_go_by_key_each_partition_in_order(pair):
    one, many = pair
    keys = [None if i % 5 == 0 else b"key-%d" % (i % 11) for i in range(60)]
    values = [b"value-%d" % i for i in range(60)]
    for k, v in zip(keys, values, strict=True):
        one.send("t", v, key=k, timestamp_ms=9)
    many.send_many("t", values, keys=keys, timestamp_ms=9)
    assert buffered(many) == buffered(one)


def test_an_explicit_partition_takes_them_all_and_grows_behind_one_in_flight(pair):
    _, many = pair
    many._in_flight[("t", 0)] = Batch("t", 0, created_s=0.0)
    many.send_many("t", [RECORD] * 70, partition=0)
    # The 5000-byte cap while a batch is in flight, as send() has it; not 1000.
    assert [len(b) for b in many._queues[("t", 0)]] == [50, 20]
    many._in_flight.clear()
    many.send_many("t", [RECORD] * 25, partition=1)
    assert [len(b) for b in many._queues[("t", 1)]] == [10, 10, 5]


@pytest.mark.parametrize("call, error, message", [
    (lambda p: p.send_many("t", [b"ok", "text"]), TypeError, "value must be bytes"),
    (lambda p: p.send_many("t", b"one record"), TypeError, "a sequence of values, not one"),
    (lambda p: p.send_many("t", [b"a"], keys=b"k"), TypeError, "a sequence of keys"),
    (lambda p: p.send_many("t", [b"a", b"b"], keys=[b"k"]), ValueError, "1 keys for 2"),
    (lambda p: p.send_many("t", [b"a", b"x" * 5000]), KafkaError, "MESSAGE_TOO_LARGE"),
    (lambda p: p.send_many("t", [b"a"], partition=3), KafkaError, "partitions 0..2, not 3"),
    (lambda p: p.send_many("t", [b"a"], partition=-1), ValueError, "partition"),
    (lambda p: p.send_many("t", [b"a"], timestamp_ms=-5), ValueError, "timestamp"),
])
def test_bad_input_is_refused_before_anything_is_buffered(pair, call, error, message):
    _, many = pair
    with pytest.raises(error, match=message):
        call(many)
    assert many._buffered == 0 and not any(many._queues.values())


def test_serializers_apply_to_each_record():
    p = stopped_producer(value_serializer=str.encode, key_serializer=str.encode)
    try:
        p.send_many("t", ["a", "b"], keys=["k", "k"])
        [(tp, queue)] = [(tp, q) for tp, q in p._queues.items() if q]
        assert queue[0].values == [b"a", b"b"] and queue[0].keys == [b"k", b"k"]
    finally:
        p.close(0)


def test_the_future_gives_every_records_metadata_in_order_and_calls_back_once(stubbed):
    producer, _ = stubbed(acks=1)
    keys = [b"k%d" % (i % 4) for i in range(40)]
    future = producer.send_many("t", [RECORD] * 40, keys=keys, timestamp_ms=77)
    called = []
    future.add_done_callback(called.append)
    metadata = future.result(10)
    assert len(metadata) == len(future) == 40 and future.done()
    assert {m.timestamp for m in metadata} == {77}
    alone = [producer.send("t", RECORD, key=k).get(10) for k in keys[:4]]
    for m, a in zip(metadata[:4], alone, strict=True):
        assert m.partition == a.partition  # by key, as send() puts them
    # Each partition's offsets are consecutive, in the order given (one batch each here).
    for p in {m.partition for m in metadata}:
        offsets = [m.offset for m in metadata if m.partition == p]
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))
    assert called == [future]
    late = []
    future.add_done_callback(late.append)
    assert late == [future]  # already done: at once


def test_an_empty_call_is_done_at_once(stubbed):
    producer, _ = stubbed()
    future = producer.send_many("t", [])
    assert future.done() and future.result(0) == [] and len(future) == 0


def test_records_that_cannot_be_delivered_fail_the_future_in_time(stubbed):
    producer, view = stubbed(delivery_timeout_ms=300)
    view.leaderless = True
    view.refresh_error = KafkaError("NETWORK_EXCEPTION", "every broker is down")
    future = producer.send_many("t", [b"lost"] * 5)
    ended = threading.Event()
    future.add_done_callback(lambda _: ended.set())
    with pytest.raises(KafkaTimeoutError, match="delivery_timeout_ms"):
        future.result(5)
    assert ended.wait(5) and isinstance(future.exception(0), KafkaTimeoutError)


def test_a_full_buffer_blocks_up_to_max_block_ms_then_says_how_far_it_got(stubbed):
    producer, view = stubbed(buffer_memory=1000, batch_size=400, max_block_ms=200,
                          delivery_timeout_ms=60_000)
    view.hang = True  # nothing is ever acknowledged: the buffer never drains
    with pytest.raises(KafkaTimeoutError, match=r"buffer_memory \(1000 bytes\) full.*"
                                                r"10 of this send_many's records"):
        producer.send_many("t", [RECORD] * 30, partition=0)
    assert producer._buffered == 1000
